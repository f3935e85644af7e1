"""The registry: what a project has applied, one protobuf `Registry` message per version.

Two stores keep it, chosen by feature_store.yaml's `registry:`:

- a file (`registry: data/registry.db`, the default): the newest version only, replaced
  atomically under a lock (registry/file.py);
- a SQL database (`registry: {registry_type: sql, path: sqlite:///... | postgresql://...}`):
  every version with its time, user, host, command and diff (registry/sql.py).

Both offer the same calls: `load()` (the newest state, cached; cheap enough for every
online read), `update(mutate, command, summary)` (mutate applied to the newest state,
never losing a concurrent writer's change), `load_version(n)`, `history()` (SQL only),
`exists()`, `delete()`, `location`. Neither needs a JVM.
"""
from __future__ import annotations

from featurestore.registry.file import RegistryFile
from featurestore.registry.sql import RegistryVersion, SqlRegistry
from featurestore.registry.state import FORMAT_VERSION, RegistryState, changed_between, parse_registry

__all__ = ["FORMAT_VERSION", "RegistryFile", "RegistryState", "RegistryVersion", "SqlRegistry", "changed_between",
           "open_registry", "parse_registry"]


def open_registry(config):
    """The registry store a RepoConfig names."""
    if config.registry_type == "sql":
        return SqlRegistry(config.registry, config.project, config.repo_path, config.registry_cache_ttl_seconds)
    return RegistryFile(config.registry_path, config.project)
