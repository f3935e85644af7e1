"""Online stores: the latest feature values per entity, read in pure Python (no pyspark).

The one map of store types: the `online_store.type` of feature_store.yaml -> the store
class, as "module:Class". A class is imported only when a repo uses it, so loading a
config or serving features never imports another store's module (or its client
library). Each store module holds its class and, beside it, its config class
(`config_class`); featurestore.config asks here for it.

Adding a store: write a module with an OnlineStore subclass (see featurestore.online.base)
and its config dataclass, and add one line below.
"""
from __future__ import annotations

from importlib import import_module

STORE_TYPES = {
    "sqlite": "featurestore.online.sqlite:SqliteOnlineStore",
    "redis": "featurestore.online.redis_store:RedisOnlineStore",
}


def store_class(type_name: str):
    """The OnlineStore subclass of a store type; ValueError naming the known types for any other."""
    try:
        module, _, name = STORE_TYPES[type_name].partition(":")
    except (KeyError, TypeError):
        raise ValueError(f"unknown online store type {type_name!r}; choose one of {', '.join(STORE_TYPES)}") from None
    return getattr(import_module(module), name)


def config_class(type_name: str) -> type:
    """The config dataclass of a store type (its settings under `online_store:`)."""
    return store_class(type_name).config_class


def get_online_store(repo_config):
    """The store configured in feature_store.yaml (a RepoConfig), not yet connected."""
    online = repo_config.online_store
    return store_class(online.type).from_config(online, repo_config)
