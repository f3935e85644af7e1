"""Context: what an operation runs against, made once by FeatureStore and handed down.

The repo's config (its folder is where relative source paths and the repo's code resolve),
the registry store, the online store and the Spark session (each opened on first use, so
an online read never starts a JVM), and where progress lines go (the `featurestore`
logger, which the CLI prints). Orchestrating functions (materialize, plan and apply, push)
take one Context instead of a session, a registry store, an online store, a project, a
repo path and a log function each; the small Spark helpers they call still take just the
session and the repo folder they use.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LOG = logging.getLogger("featurestore")


@dataclass
class Context:
    config: object  # featurestore.config.RepoConfig
    registry_store: object  # featurestore.registry: RegistryFile or SqlRegistry
    online_store_of: Callable[[], object]
    spark_of: Callable[[], object]
    log: Callable[[str], None] = field(default=LOG.info)

    @property
    def repo_path(self) -> Path:
        return self.config.repo_path

    @property
    def project(self) -> str:
        return self.config.project

    @property
    def online_store(self):
        return self.online_store_of()

    @property
    def spark(self):
        return self.spark_of()

    @property
    def registry(self):
        """The registry as it is stored now."""
        return self.registry_store.load()

    def with_log(self, log: Callable[[str], None] | None) -> Context:
        """This context, its progress sent to `log` instead (None: unchanged)."""
        if log is None:
            return self
        return Context(self.config, self.registry_store, self.online_store_of, self.spark_of, log)
