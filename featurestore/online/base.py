"""The OnlineStore interface: four operations, with their contract in the docstrings.

Rows are exchanged already encoded (see featurestore.online.codec): an entity key is the
deterministic serialization of an EntityKey message, a value a serialized Value message.
Timestamps are integer microseconds since the Unix epoch, UTC; a missing created
timestamp is 0, so it compares as older than any real one.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Sequence

from featurestore.definitions import FeatureView


class OnlineRow(NamedTuple):
    """One entity's feature values of one view, ready to write.

    A NamedTuple rather than a dataclass: millions of these cross from Spark's Python
    workers to the driver, and tuples pickle and build several times faster.
    """
    entity_key: bytes
    values: dict[str, bytes]  # feature name -> serialized Value
    event_ts: int  # microseconds since epoch, UTC
    created_ts: int  # microseconds since epoch, UTC; 0 when the source has none


@dataclass(frozen=True)
class StoredFeatures:
    """What the store holds for one entity key of one view."""
    values: dict[str, bytes]  # feature name -> serialized Value
    event_ts: int


ReadRequest = tuple[FeatureView, Sequence[bytes], Sequence[str]]


class OnlineStore(ABC):
    """Where materialization writes and get_online_features reads."""

    # True when Spark executors write to the store themselves (a server such as Redis);
    # False when rows stream to the driver (a local file such as SQLite).
    writes_from_executors = False

    @abstractmethod
    def update(self, project: str, views_to_keep: Sequence[FeatureView],
               views_to_delete: Sequence[FeatureView]) -> None:
        """Create the storage of views_to_keep (idempotent) and drop that of views_to_delete."""

    @abstractmethod
    def online_write_batch(self, project: str, view: FeatureView, rows: Iterable[OnlineRow]) -> int:
        """Write rows, each only where it is newer than what is stored for its key.

        Newer means a greater (event_ts, created_ts). A batch is atomic per entity key: a reader
        sees all of a key's features from before or all from after. Returns the number of rows
        that replaced or added stored values.
        """

    def online_write_flat(self, project: str, view: FeatureView, rows: Iterable[tuple]) -> int:
        """online_write_batch for rows as materialization makes them: (entity key, event_ts,
        created_ts, encoded value of each of view.features in order).

        Flat tuples are what crosses from Spark cheapest; a store that can bind them as they
        are overrides this, the others get OnlineRows.
        """
        names = [f.name for f in view.features]
        return self.online_write_batch(project, view, (
            OnlineRow(row[0], dict(zip(names, row[3:])), row[1], row[2]) for row in rows))

    @abstractmethod
    def online_read(self, project: str, view: FeatureView, entity_keys: Sequence[bytes],
                    feature_names: Sequence[str]) -> list[StoredFeatures | None]:
        """A list of the same length as entity_keys: what is stored for each, or None."""

    def online_read_many(self, project: str, requests: Sequence[ReadRequest]) -> list[list[StoredFeatures | None]]:
        """online_read for several (view, entity keys, feature names) requests, in order.

        A networked store overrides this to answer all of them in one round trip.
        """
        return [self.online_read(project, view, keys, names) for view, keys, names in requests]

    @abstractmethod
    def teardown(self, project: str, views: Sequence[FeatureView]) -> None:
        """Remove all storage of these views (and the store's own files where it has them)."""

    def close(self) -> None:
        """Release connections; the store may be used again afterwards (it reconnects)."""


def get_online_store(config) -> OnlineStore:
    """The store configured in feature_store.yaml (a RepoConfig)."""
    online = config.online_store
    if online.type == "sqlite":
        from featurestore.online.sqlite import SqliteOnlineStore
        return SqliteOnlineStore(config.resolve(online.path))
    if online.type == "redis":
        from featurestore.online.redis_store import RedisOnlineStore
        return RedisOnlineStore(online)
    raise ValueError(f"unknown online store type {online.type!r}")
