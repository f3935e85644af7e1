"""The OnlineStore interface: what a store must do, with the contract in the docstrings.

Rows are exchanged already encoded (see featurestore.online.codec): an entity key is Feast's
serialization (version 3) of the join keys and their values, a value Feast's serialized
Value message (b"" for a null). Timestamps are integer microseconds since the Unix epoch, UTC; a missing
created timestamp is 0, so it compares as older than any real one.

A store is constructed from its config (`from_config`), holds no connection until first
used, and pickles to its settings only, so it can be shipped to Spark executors.

StoredFeatures is a frozen dataclass with slots; the stores' read loops build it through
stored_features(), about half the cost of its __init__ (a 100-key read builds 100).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from featurestore.definitions import FeatureView
from featurestore.errors import ValidationError


class OnlineRow(NamedTuple):
    """One entity's feature values of one view, by name: the readable form of a flat row,
    for tests and hand-written data (see OnlineStore.online_write_batch)."""
    entity_key: bytes
    values: dict[str, bytes]  # feature name -> serialized Value
    event_ts: int  # microseconds since epoch, UTC
    created_ts: int  # microseconds since epoch, UTC; 0 when the source has none


@dataclass(frozen=True, slots=True)
class StoredFeatures:
    """What the store holds for one entity key of one view."""
    values: dict[str, bytes]  # feature name -> serialized Value
    event_ts: int


_new_object = object.__new__
_set_values = StoredFeatures.values.__set__  # the slots' own setters, past the frozen __setattr__
_set_event_ts = StoredFeatures.event_ts.__set__


def stored_features(values: dict[str, bytes], event_ts: int) -> StoredFeatures:
    """StoredFeatures(values, event_ts) at half the cost of the frozen dataclass's __init__: a read
    of 100 keys builds 100 of them. For the stores' read loops only."""
    stored = _new_object(StoredFeatures)
    _set_values(stored, values)
    _set_event_ts(stored, event_ts)
    return stored


def set_event_ts(stored: StoredFeatures, event_ts: int) -> None:
    """Raise the event time of a StoredFeatures a store's read loop is still building."""
    _set_event_ts(stored, event_ts)


ReadRequest = tuple[FeatureView, Sequence[bytes], Sequence[str]]


class OnlineStore(ABC):
    """Where materialization writes and get_online_features reads."""

    # The dataclass of the store's settings under `online_store:` in feature_store.yaml.
    config_class: ClassVar[type]
    # True when Spark executors write to the store themselves (a server such as Redis);
    # False when rows stream to the driver (a local file such as SQLite).
    writes_from_executors: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def from_config(cls, config, repo_config) -> OnlineStore:
        """The store described by config (a config_class), for the repo of repo_config (a RepoConfig)."""

    @abstractmethod
    def update(self, project: str, views_to_keep: Sequence[FeatureView],
               views_to_delete: Sequence[FeatureView]) -> None:
        """Create the storage of views_to_keep (idempotent) and drop that of views_to_delete."""

    @abstractmethod
    def online_write_flat(self, project: str, view: FeatureView, rows: Iterable[tuple],
                          generation: str | None = None) -> int:
        """Write rows as materialization makes them: (entity key, event_ts, created_ts, then the
        encoded value of each of view.features, in order). Returns the number of rows that
        replaced or added stored values.

        generation: the online generation (featurestore.identity) the rows were computed under.
        Each chunk is written only while the store records that generation for the view, checked
        in the chunk's own transaction (script); otherwise DefinitionChangedError, and the chunks
        before stay (the reset that changed the generation removes them). None: not checked
        (tests and hand-written rows).

        Each row is written only where it is newer than what is stored for its key: a greater
        (event_ts, created_ts). At equal timestamps the row replaces the stored one only where its
        values differ (a source row rewritten in place, as a Delta UPDATE does, is served; the
        same row written twice counts once). A key's features are
        written atomically: a reader sees all of them from before or all from after. rows may be
        a generator of any length: the store holds a bounded chunk at a time and writes (and
        commits) chunk by chunk, so when rows raises, the chunks before are stored.
        """

    @abstractmethod
    def claim_generation(self, project: str, view: FeatureView, generation: str) -> str:
        """Record `generation` as the view's when the store records none yet (a new view, a store
        written before generations existed), atomically; return the generation recorded now."""

    @abstractmethod
    def reset_view(self, project: str, view: FeatureView, generation: str, expected: str) -> bool:
        """Remove the view's values and record `generation` as its own, so that no writer of
        another generation writes again; only while the store records `expected` (False, and
        nothing done, otherwise). Idempotent."""

    @abstractmethod
    def online_read(self, project: str, view: FeatureView, entity_keys: Sequence[bytes],
                    feature_names: Sequence[str]) -> list[StoredFeatures | None]:
        """A list of the same length as entity_keys: what is stored for each, or None.

        A StoredFeatures holds only the requested features.
        """

    @abstractmethod
    def teardown(self, project: str, views: Sequence[FeatureView]) -> None:
        """Remove all storage of these views (and the store's own files where it has them)."""

    def online_read_many(self, project: str, requests: Sequence[ReadRequest]) -> list[list[StoredFeatures | None]]:
        """online_read for several (view, entity keys, feature names) requests, in order.

        A networked store overrides this to answer all of them in one round trip.
        """
        return [self.online_read(project, view, keys, names) for view, keys, names in requests]

    def close(self) -> None:
        """Release connections; the store may be used again afterwards (it reconnects)."""

    def ping(self) -> None:
        """Raise OnlineStoreError unless the store answers now (a server's readiness check)."""

    def mark_holding(self, project: str) -> None:
        """Record in the store itself that it holds the project's materialized values; written
        before each materialization writes. A store that can lose everything without an error
        (a Redis restarted without persistence) loses this mark with it."""

    def holds_mark(self, project: str) -> bool:
        """Whether the mark of mark_holding is there. False after a store lost its data: the
        registry's materialized intervals no longer describe what it holds. A store whose loss
        is loud anyway (a SQLite file deleted: no such table) keeps this default."""
        return True

    def convert_earlier_layout(self, project: str) -> str:
        """Convert what featurestore stored before it took Feast's encodings (online/legacy.py);
        returns what was converted in words ("3 tables"), "" when nothing. `apply` calls it first."""
        return ""

    def check_table_names(self, project: str, views: Sequence[FeatureView]) -> None:
        """Raise OnlineStoreError, before apply writes anything, when a view's storage would be
        another project's (a store whose names could collide checks them here)."""

    def online_write_batch(self, project: str, view: FeatureView, rows: Iterable[OnlineRow]) -> int:
        """online_write_flat for OnlineRows, whose values are named: for tests and hand-written rows.

        Not a second write path: each row becomes a flat row. Like a row of materialization, a row
        is the entity's whole state at its timestamps: a feature it does not name is written as
        null (b""), not left as stored. A name that is not a feature of the view is refused.
        """
        return self.online_write_flat(project, view, _flat_rows(view, rows))


def _flat_rows(view: FeatureView, rows: Iterable[OnlineRow]) -> Iterator[tuple]:
    names = [feature.name for feature in view.features]
    known = set(names)
    for row in rows:
        values = row.values
        if not values.keys() <= known:
            raise ValidationError(f"an OnlineRow of feature view {view.name!r} has values for "
                                  f"{sorted(values.keys() - known)}, which are not features of the view; its "
                                  f"features are {names}")
        yield (row.entity_key, row.event_ts, row.created_ts, *[values.get(name, b"") for name in names])
