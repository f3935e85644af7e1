"""A store written before featurestore took Feast's encodings (online/legacy.py) is converted by
the next `apply`, every value kept; before that, a SQLite read says what to run."""
from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime

import pytest

from featurestore import FeatureStore
from featurestore.errors import OnlineStoreError
from featurestore.protos import legacy_value_pb2 as legacy

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, FileSource
from featurestore.types import Array, Float64, Int64, Map, String, UnixTimestamp

driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=3650),
                    source=FileSource(name="src", path="data/stats.parquet", timestamp_field="ts"),
                    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64),
                            Field(name="name", dtype=String), Field(name="seen", dtype=UnixTimestamp),
                            Field(name="scores", dtype=Array(Float64)), Field(name="attrs", dtype=Map)])
"""
EVENT_US = 1_767_225_600_123_456  # 2026-01-01 00:00:00.123456 UTC
SEEN_US = 1_700_000_000_000_007


def earlier_key(driver_id: int) -> bytes:
    key = legacy.EntityKey(join_keys=["driver_id"], entity_values=[legacy.Value(int64_val=driver_id)])
    return key.SerializeToString(deterministic=True)


def earlier_values(driver_id: int) -> dict[str, bytes]:
    attrs = legacy.Value()
    attrs.map_val.val["tier"].string_val = "gold"
    attrs.map_val.val["since"].unix_timestamp_val = SEEN_US
    return {"rate": legacy.Value(double_val=driver_id / 4).SerializeToString(),
            "name": legacy.Value(string_val=f"d{driver_id}").SerializeToString(),
            "seen": legacy.Value(unix_timestamp_val=SEEN_US).SerializeToString(),
            "scores": legacy.Value(double_list_val=legacy.DoubleList(val=[1.5, -2.0])).SerializeToString(),
            "attrs": attrs.SerializeToString() if driver_id == 1 else b""}  # b"": a stored null


def store_the_earlier_way(store: FeatureStore, kind: str) -> None:
    """Replace what apply created with what featurestore wrote before #38, for drivers 1 and 2."""
    if kind == "sqlite":
        with closing(sqlite3.connect(store.online_store.path)) as connection, connection:
            connection.execute('DROP TABLE "wire_stats"')
            connection.execute('CREATE TABLE "wire_stats" (entity_key BLOB, feature_name TEXT, value BLOB, event_ts '
                               'timestamp, created_ts timestamp, PRIMARY KEY (entity_key, feature_name)) WITHOUT ROWID')
            connection.executemany('INSERT INTO "wire_stats" VALUES (?, ?, ?, ?, ?)', [
                (earlier_key(d), name, value, EVENT_US, 7) for d in (1, 2) for name, value in earlier_values(d).items()])
        return
    client = store.online_store._connect()
    for d in (1, 2):
        fields = {f"stats:{name}".encode(): value for name, value in earlier_values(d).items()}
        fields[b"stats:#ts"] = EVENT_US.to_bytes(8, "big") + (7).to_bytes(8, "big")
        client.hset(b"fs:wire:" + earlier_key(d), mapping=fields)


def read(store: FeatureStore):
    answer = store.get_online_features(["stats:rate", "stats:name", "stats:seen", "stats:scores", "stats:attrs"],
                                       [{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}])
    return answer.to_dict(), answer.statuses()["rate"]


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_apply_converts_a_store_of_the_earlier_layout_keeping_every_value(kind, request, repo_factory):
    from tests.repo_helpers import online_store_section

    repo = repo_factory(DEFINITIONS, project="wire", online_store=online_store_section(request, kind))
    store = FeatureStore(repo_path=repo)
    store.apply(None, partial=False, validate=False)
    store_the_earlier_way(store, kind)

    if kind == "sqlite":
        with pytest.raises(OnlineStoreError, match=r"holds feature view 'stats' in featurestore's earlier encodings "
                                                   r"\(before it took Feast's\); run `featurestore apply` once to "
                                                   r"convert the store \(nothing is lost\)"):
            read(store)
    else:  # the hashes are where no read looks: nothing is found, nothing wrong is served
        assert read(store)[1] == ["NOT_FOUND", "NOT_FOUND", "NOT_FOUND"]

    FeatureStore(repo_path=repo).apply(None, partial=False, validate=False)  # converts, then applies nothing new
    values, statuses = read(FeatureStore(repo_path=repo))
    seen = datetime.fromtimestamp(SEEN_US / 1e6, UTC).replace(microsecond=7)
    assert values == {"driver_id": [1, 2, 3], "rate": [0.25, 0.5, None], "name": ["d1", "d2", None],
                      "seen": [seen, seen, None], "scores": [[1.5, -2.0], [1.5, -2.0], None],
                      "attrs": [{"since": seen, "tier": "gold"}, None, None]}
    assert statuses == ["PRESENT", "PRESENT", "NOT_FOUND"]
    # converted once: a second conversion finds nothing of the earlier layout
    assert FeatureStore(repo_path=repo).online_store.convert_earlier_layout("wire") == ""
