"""Views, rows and reads in plain Python values, shared by the online store tests
(test_online_contract.py, test_sqlite_store.py, test_redis_store.py)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.online.codec import decode_value, encode_value, serialize_entity_key
from featurestore.online.redis_store import RedisOnlineStore
from featurestore.online.sqlite import SqliteOnlineStore
from featurestore.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp

PROJECT = "proj"
SOURCE = SparkSource(name="driver_source", table="default.driver_hourly", timestamp_field="event_timestamp")
DRIVER = Entity(name="driver", join_keys=["driver_id"])
CITY = Entity(name="city", join_keys=["city"])

STATS = FeatureView(name="driver_stats", entities=[DRIVER], source=SOURCE, ttl=timedelta(days=1), schema=[
    Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float64),
    Field(name="trips", dtype=Int64)])
PROFILE = FeatureView(name="driver_profile", entities=[DRIVER], source=SOURCE, schema=[
    Field(name="driver_id", dtype=Int64), Field(name="name", dtype=String), Field(name="vip", dtype=Bool)])
CITY_VISITS = FeatureView(name="driver_city", entities=[DRIVER, CITY], source=SOURCE, schema=[
    Field(name="city", dtype=String), Field(name="driver_id", dtype=Int64),
    Field(name="visits", dtype=Int32)])
ALL_TYPES = FeatureView(name="all_types", entities=[DRIVER], source=SOURCE, schema=[
    Field(name="driver_id", dtype=Int64),
    Field(name="i32", dtype=Int32), Field(name="i64", dtype=Int64), Field(name="f32", dtype=Float32),
    Field(name="f64", dtype=Float64), Field(name="s", dtype=String), Field(name="b", dtype=Bool),
    Field(name="raw", dtype=Bytes), Field(name="ts", dtype=UnixTimestamp),
    Field(name="i32_list", dtype=Array(Int32)), Field(name="i64_list", dtype=Array(Int64)),
    Field(name="f32_list", dtype=Array(Float32)), Field(name="f64_list", dtype=Array(Float64)),
    Field(name="s_list", dtype=Array(String)), Field(name="b_list", dtype=Array(Bool)),
    Field(name="raw_list", dtype=Array(Bytes)), Field(name="ts_list", dtype=Array(UnixTimestamp))])
ALL_VIEWS = [STATS, PROFILE, CITY_VISITS, ALL_TYPES]


def key(view: FeatureView, *values) -> bytes:
    dtypes = {field.name: field.dtype for field in view.schema}
    return serialize_entity_key(view.join_keys, list(values), [dtypes[name] for name in view.join_keys])


def row(view: FeatureView, key_values, features: dict, event_ts: int, created_ts: int = 0) -> tuple:
    """A flat row, as materialization hands it to online_write_flat; features must name every feature."""
    if not isinstance(key_values, tuple):
        key_values = (key_values,)
    if set(features) != {f.name for f in view.features}:
        raise ValueError(f"give every feature of {view.name}, got {sorted(features)}")
    values = [encode_value(features[f.name], f.dtype) for f in view.features]
    return (key(view, *key_values), event_ts, created_ts, *values)


def stats_row(driver_id: int, conv_rate, trips, event_ts: int, created_ts: int = 0) -> tuple:
    return row(STATS, driver_id, {"conv_rate": conv_rate, "trips": trips}, event_ts, created_ts)


def stats_value(conv_rate, trips, event_ts: int) -> tuple[dict, int]:
    """What read() returns for a STATS row."""
    return {"conv_rate": conv_rate, "trips": trips}, event_ts


def write(store, view: FeatureView, rows, project: str = PROJECT) -> int:
    """Through the one write path, the one materialization takes."""
    return store.online_write_flat(project, view, rows)


def read(store, view: FeatureView, *key_values, features=None, project: str = PROJECT):
    """What the store holds for each key, decoded: None or ({feature: value}, event_ts)."""
    names = features or [field.name for field in view.features]
    keys = [key(view, *(k if isinstance(k, tuple) else (k,))) for k in key_values]
    stored = store.online_read(project, view, keys, names)
    assert len(stored) == len(keys)
    return [None if s is None else ({name: decode_value(v) for name, v in s.values.items()}, s.event_ts)
            for s in stored]


def make_store(kind: str, request, tmp_path: Path, chunk_rows: int | None = None):
    """A store of each kind: SQLite in tmp_path, Redis on the test run's redis-server, emptied."""
    if kind == "sqlite":
        extra = {"rows_per_transaction": chunk_rows} if chunk_rows else {}
        return SqliteOnlineStore(tmp_path / "data" / "online_store.db", **extra)
    server = request.getfixturevalue("clean_redis")
    extra = {"rows_per_pipeline": chunk_rows} if chunk_rows else {}
    return RedisOnlineStore(server.config(), **extra)
