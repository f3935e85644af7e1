"""What the CLI's command modules share: the command-line error, opening the store, JSON
output (featurestore.jsonio's policy)."""
from __future__ import annotations

from featurestore.errors import FeatureStoreError
from featurestore.jsonio import dumps, json_safe  # noqa: F401 - the commands' JSON output

INT64_MAX = 2**63 - 1


def whole_number(low: int, high: int = INT64_MAX):
    """An argparse type: an integer from low to high, else a usage error naming the range
    (`--limit -1` was accepted, `--version 99999999999999999999` ended in OverflowError)."""
    import argparse

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= number <= high:
            upper = "" if high == INT64_MAX else f" and at most {high:,}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: give at least {low}{upper}")
        return number

    parse.__name__ = "whole number"  # argparse names the type in its messages
    return parse


class CommandLineError(FeatureStoreError, ValueError):
    """A command line that parses but says something impossible: a malformed or repeated
    --entity, both --features and --feature-service, an unreadable time. Printed as one
    line; exit code 1 like every other featurestore error."""


def open_store(args):
    from featurestore.store import FeatureStore

    return FeatureStore(repo_path=args.repo)
