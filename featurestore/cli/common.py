"""What the CLI's command modules share: the command-line error, opening the store, JSON
output (featurestore.jsonio's policy)."""
from __future__ import annotations

from featurestore.errors import FeatureStoreError
from featurestore.jsonio import dumps, json_safe  # noqa: F401 - the commands' JSON output


class CommandLineError(FeatureStoreError, ValueError):
    """A command line that parses but says something impossible: a malformed or repeated
    --entity, both --features and --feature-service, an unreadable time. Printed as one
    line; exit code 1 like every other featurestore error."""


def open_store(args):
    from featurestore.store import FeatureStore

    return FeatureStore(repo_path=args.repo)
