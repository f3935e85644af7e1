"""`featurestore registry migrate --to URL`: a repo's registry copied into a SQL registry as it is.

The newest version's bytes are inserted unchanged, under the same version number, so
every definition and materialized interval stays byte for byte what it was. The target
must hold no version of the project yet; the source is left untouched.
"""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from featurestore.errors import RegistryError
from featurestore.registry.sql import SqlRegistry, normalize_url, redact, writer_identity
from featurestore.registry.state import parse_registry


def migrate(source, url: str, repo_path: Path | None = None) -> SqlRegistry:
    """Copy `source`'s newest version (a RegistryFile or SqlRegistry) into the SQL registry at `url`."""
    if not normalize_url(url).startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise RegistryError(f"--to {redact(url)!r}: give a SQL registry URL, sqlite:///PATH or "
                            f"postgresql://USER@HOST:PORT/DATABASE")
    target = SqlRegistry(url, source.project, repo_path)
    if target.location == source.location:
        raise RegistryError(f"--to {target.location} is the registry this repo already uses")
    data = source.load_bytes()
    if data is None:
        raise RegistryError(f"registry {source.location} holds nothing yet; run `featurestore apply` first, or "
                            f"just point feature_store.yaml at {target.location}")
    state = parse_registry(data, source.location, source.project)  # refuse to copy a damaged registry
    if target.exists():
        raise RegistryError(f"{target.location} already holds project {source.project!r} (version "
                            f"{target.load().version}); migrate into an empty database, or remove that project "
                            f"there first (`featurestore teardown` with that registry)")
    user, host = writer_identity()
    target.insert(data, state.version, state.last_updated or datetime.now(UTC), user, host, "migrate",
                  f"copied from {source.location}")
    return target

