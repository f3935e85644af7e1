"""One contract for every online store, run against SQLite and a real redis-server,
followed by each store's own failure modes (locks, permissions, a missing server)."""
from __future__ import annotations

import math
import os
import pickle
import sqlite3
import stat
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.config import RedisOnlineStoreConfig
from featurestore.errors import OnlineStoreError
from featurestore.online.base import OnlineRow, StoredFeatures
from featurestore.online.codec import decode_value, encode_value, serialize_entity_key
from featurestore.online.redis_store import RedisOnlineStore
from featurestore.online.sqlite import SqliteOnlineStore
from featurestore.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp
from tests.redis_server import PASSWORD_ENV, TEST_PASSWORD, free_port

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


# --- helpers: rows and reads in plain Python values ------------------------------------------

def key(view: FeatureView, *values) -> bytes:
    dtypes = {field.name: field.dtype for field in view.schema}
    return serialize_entity_key(view.join_keys, list(values), [dtypes[name] for name in view.join_keys])


def row(view: FeatureView, key_values, features: dict, event_ts: int, created_ts: int = 0) -> OnlineRow:
    if not isinstance(key_values, tuple):
        key_values = (key_values,)
    dtypes = {field.name: field.dtype for field in view.features}
    values = {name: encode_value(value, dtypes[name]) for name, value in features.items()}
    return OnlineRow(key(view, *key_values), values, event_ts, created_ts)


def stats_row(driver_id: int, conv_rate, trips, event_ts: int, created_ts: int = 0) -> OnlineRow:
    return row(STATS, driver_id, {"conv_rate": conv_rate, "trips": trips}, event_ts, created_ts)


def stats_value(conv_rate, trips, event_ts: int) -> tuple[dict, int]:
    """What read() returns for a STATS row."""
    return {"conv_rate": conv_rate, "trips": trips}, event_ts


def write(store, view: FeatureView, rows, project: str = PROJECT) -> int:
    return store.online_write_batch(project, view, rows)


def read(store, view: FeatureView, *key_values, features=None, project: str = PROJECT):
    """What the store holds for each key, decoded: None or ({feature: value}, event_ts)."""
    names = features or [field.name for field in view.features]
    keys = [key(view, *(k if isinstance(k, tuple) else (k,))) for k in key_values]
    stored = store.online_read(project, view, keys, names)
    assert len(stored) == len(keys)
    return [None if s is None else ({name: decode_value(v) for name, v in s.values.items()}, s.event_ts)
            for s in stored]


def make_store(kind: str, request, tmp_path: Path, chunk_rows: int | None = None):
    if kind == "sqlite":
        extra = {"rows_per_transaction": chunk_rows} if chunk_rows else {}
        return SqliteOnlineStore(tmp_path / "data" / "online_store.db", **extra)
    server = request.getfixturevalue("clean_redis")
    extra = {"rows_per_pipeline": chunk_rows} if chunk_rows else {}
    return RedisOnlineStore(server.config(), **extra)


@pytest.fixture(params=["sqlite", "redis"])
def store_kind(request):
    return request.param


@pytest.fixture
def store(store_kind, request, tmp_path):
    store = make_store(store_kind, request, tmp_path)
    store.update(PROJECT, ALL_VIEWS, [])
    yield store
    store.close()


# --- the contract ----------------------------------------------------------------------------

def test_newer_event_ts_wins_and_an_older_write_is_ignored(store):
    assert write(store, STATS, [stats_row(1, 0.5, 5, 200)]) == 1
    assert write(store, STATS, [stats_row(1, 0.1, 1, 100)]) == 0
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 200)]
    assert write(store, STATS, [stats_row(1, 0.9, 9, 300)]) == 1
    assert read(store, STATS, 1) == [stats_value(0.9, 9, 300)]


def test_created_ts_breaks_event_ts_ties_and_equal_timestamps_keep_the_stored_row(store):
    write(store, STATS, [stats_row(1, 0.5, 5, 100, created_ts=20)])
    assert write(store, STATS, [stats_row(1, 0.1, 1, 100, 10)]) == 0
    assert write(store, STATS, [stats_row(1, 0.2, 2, 100, 20)]) == 0
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]
    assert write(store, STATS, [stats_row(1, 0.7, 7, 100, 30)]) == 1
    assert read(store, STATS, 1) == [stats_value(0.7, 7, 100)]


def test_a_newer_null_replaces_an_older_value(store):
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    write(store, STATS, [stats_row(1, None, 6, 200)])
    assert read(store, STATS, 1) == [stats_value(None, 6, 200)]


def test_within_one_batch_the_newest_row_per_key_wins_and_each_newer_row_counts(store):
    rows = [stats_row(1, 0.1, 1, 100), stats_row(1, 0.3, 3, 300), stats_row(1, 0.2, 2, 200),
            stats_row(2, 0.4, 4, 100)]
    assert write(store, STATS, rows) == 3  # the row at 200 came after the one at 300
    assert read(store, STATS, 1, 2) == [stats_value(0.3, 3, 300), stats_value(0.4, 4, 100)]


def test_out_of_order_and_repeated_batches_give_the_same_state(store):
    january = [stats_row(1, 0.1, 1, 100), stats_row(2, 0.2, 2, 100)]
    february = [stats_row(1, 0.3, 3, 200), stats_row(3, 0.5, 5, 200)]
    march = [stats_row(2, 0.6, 6, 300, 1), stats_row(2, 0.7, 7, 300)]
    orders = {"in_order": [january, february, march], "reversed": [march, february, january],
              "twice": [february, january, march, march, january, february]}
    states = {}
    for project, batches in orders.items():
        store.update(project, [STATS], [])
        for batch in batches:
            write(store, STATS, iter(batch), project=project)
        states[project] = read(store, STATS, 1, 2, 3, project=project)
    expected = [stats_value(0.3, 3, 200), stats_value(0.6, 6, 300), stats_value(0.5, 5, 200)]
    assert states == {project: expected for project in orders}


def test_missing_keys_read_as_none_in_request_order(store):
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    found = stats_value(0.5, 5, 100)
    assert read(store, STATS, 404, 1, 405, 1) == [None, found, None, found]
    assert store.online_read(PROJECT, STATS, [], ["conv_rate"]) == []


def test_a_read_returns_only_the_requested_features(store):
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    assert read(store, STATS, 1, features=["trips"]) == [({"trips": 5}, 100)]
    assert store.online_read(PROJECT, STATS, [key(STATS, 1)], ["trips"]) == [
        StoredFeatures({"trips": encode_value(5, Int64)}, 100)]


def test_views_on_the_same_entity_do_not_disturb_each_other(store):
    write(store, STATS, [stats_row(1, 0.5, 5, 200)])
    write(store, PROFILE, [row(PROFILE, 1, {"name": "Ann", "vip": True}, 100)])
    write(store, PROFILE, [row(PROFILE, 1, {"name": "Bob", "vip": False}, 150)])
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 200)]
    assert read(store, PROFILE, 1) == [({"name": "Bob", "vip": False}, 150)]


def test_composite_keys_of_different_types(store):
    rows = [row(CITY_VISITS, (1, "Paris"), {"visits": 3}, 100),
            row(CITY_VISITS, (1, "Rome"), {"visits": 4}, 100),
            row(CITY_VISITS, (2, "Paris"), {"visits": 5}, 100)]
    assert write(store, CITY_VISITS, rows) == 3
    assert read(store, CITY_VISITS, (2, "Paris"), (1, "Rome"), (1, "Paris"), (2, "Rome")) == [
        ({"visits": 5}, 100), ({"visits": 4}, 100), ({"visits": 3}, 100), None]
    # the key does not depend on the order the join keys are listed in
    swapped = serialize_entity_key(["city", "driver_id"], ["Rome", 1], [String, Int64])
    assert store.online_read(PROJECT, CITY_VISITS, [swapped], ["visits"])[0].values == {
        "visits": encode_value(4, Int32)}


def test_int_and_string_keys_with_the_same_text_are_different_entities(store):
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    as_string = serialize_entity_key(["driver_id"], ["1"], [String])
    assert store.online_read(PROJECT, STATS, [as_string], ["conv_rate", "trips"]) == [None]


FULL = {
    "i32": -2 ** 31, "i64": 2 ** 63 - 1, "f32": 0.25, "f64": float("nan"), "s": "naïve café ☕ 東京",
    "b": False, "raw": b"\x00\xffbytes\x00", "ts": datetime(2024, 2, 29, 12, 30, 0, 123456, tzinfo=UTC),
    "i32_list": [2 ** 31 - 1, 0], "i64_list": [-2 ** 63, 2 ** 63 - 1], "f32_list": [1.5, -2.0],
    "f64_list": [0.1, float("inf")], "s_list": ["a", "", "ü"], "b_list": [True, False],
    "raw_list": [b"", b"\x01"],
    "ts_list": [datetime(1970, 1, 1, tzinfo=UTC), datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC)],
}


def test_every_type_round_trips(store):
    empty = {name: None for name in FULL}
    write(store, ALL_TYPES, [row(ALL_TYPES, -2 ** 63, FULL, 100),
                                                  row(ALL_TYPES, 2 ** 63 - 1, empty, 100)])
    [(values, event_ts), (nulls, _)] = read(store, ALL_TYPES, -2 ** 63, 2 ** 63 - 1)
    assert event_ts == 100
    assert math.isnan(values.pop("f64"))
    assert values == {name: value for name, value in FULL.items() if name != "f64"}
    assert values["ts"].tzinfo is UTC
    assert nulls == empty


def test_update_deletes_the_storage_of_deleted_views_only(store):
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    write(store, PROFILE, [row(PROFILE, 1, {"name": "Ann", "vip": True}, 100)])
    store.update(PROJECT, [PROFILE], [STATS])
    store.update(PROJECT, [STATS, PROFILE], [])  # re-applying the view starts it empty
    assert read(store, STATS, 1) == [None]
    assert read(store, PROFILE, 1) == [({"name": "Ann", "vip": True}, 100)]


def test_teardown_removes_the_data(store):
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    write(store, PROFILE, [row(PROFILE, 1, {"name": "Ann", "vip": True}, 100)])
    store.teardown(PROJECT, ALL_VIEWS)
    store.update(PROJECT, ALL_VIEWS, [])
    assert read(store, STATS, 1) == [None]
    assert read(store, PROFILE, 1) == [None]


def test_projects_are_separate(store):
    store.update("other", [STATS], [])
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    assert read(store, STATS, 1, project="other") == [None]
    store.teardown("other", [STATS])
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]


def test_a_large_lazy_generator_is_written_in_chunks(store):
    def rows():
        for driver_id in range(50_000):
            yield stats_row(driver_id, driver_id / 2, driver_id, 100)

    assert write(store, STATS, rows()) == 50_000
    assert read(store, STATS, 0, 24_999, 49_999, 50_000) == [
        stats_value(0.0, 0, 100), stats_value(12_499.5, 24_999, 100),
        stats_value(24_999.5, 49_999, 100), None]


def test_chunks_before_a_failing_row_are_written_and_the_rest_is_not(store_kind, request, tmp_path):
    store = make_store(store_kind, request, tmp_path, chunk_rows=1_000)
    store.update(PROJECT, [STATS], [])

    def rows():
        for driver_id in range(2_500):
            yield stats_row(driver_id, 0.5, driver_id, 100)
        raise RuntimeError("the source failed")

    with pytest.raises(RuntimeError, match="the source failed"):
        write(store, STATS, rows())
    assert read(store, STATS, 0, 1_999, 2_000, 2_499) == [
        stats_value(0.5, 0, 100), stats_value(0.5, 1_999, 100), None, None]


def test_the_store_pickles_without_connections_and_works_after_unpickling(store):
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    copy = pickle.loads(pickle.dumps(store))
    assert read(copy, STATS, 1) == [stats_value(0.5, 5, 100)]
    assert write(copy, STATS, [stats_row(2, 0.1, 1, 100)]) == 1
    assert read(store, STATS, 2) == [stats_value(0.1, 1, 100)]
    copy.close()


def test_close_then_use_again_reconnects(store):
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    store.close()
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]


def test_reads_from_several_threads(store):
    write(store, STATS, [stats_row(i, 0.5, i, 100) for i in range(8)])
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: read(store, STATS, i), range(8)))
    assert results == [[stats_value(0.5, i, 100)] for i in range(8)]


# --- SQLite ----------------------------------------------------------------------------------

@pytest.fixture
def sqlite_path(tmp_path) -> Path:
    return tmp_path / "data" / "online_store.db"


def test_sqlite_creates_an_owner_only_wal_file_with_the_documented_layout(sqlite_path):
    store = SqliteOnlineStore(sqlite_path)
    store.update(PROJECT, [STATS], [])
    write(store, STATS, [stats_row(1, 0.5, 5, 100, 7)])
    assert stat.S_IMODE(sqlite_path.stat().st_mode) == 0o600
    for sidecar in (Path(f"{sqlite_path}-wal"), Path(f"{sqlite_path}-shm")):
        assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600
    other = sqlite3.connect(sqlite_path)
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert other.execute('PRAGMA table_info("proj_driver_stats")').fetchall() == [
        (0, "entity_key", "BLOB", 1, None, 1), (1, "feature_name", "TEXT", 1, None, 2),
        (2, "value", "BLOB", 0, None, 0), (3, "event_ts", "timestamp", 0, None, 0),
        (4, "created_ts", "timestamp", 0, None, 0)]
    stored = other.execute('SELECT feature_name, event_ts, created_ts FROM "proj_driver_stats" ORDER BY 1')
    assert stored.fetchall() == [("conv_rate", 100, 7), ("trips", 100, 7)]
    other.close()
    store.close()


def test_sqlite_write_while_another_process_holds_the_lock(sqlite_path):
    store = SqliteOnlineStore(sqlite_path, busy_timeout_seconds=0.1)
    store.update(PROJECT, [STATS], [])
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    holder = sqlite3.connect(sqlite_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(OnlineStoreError) as raised:
            write(store, STATS, [stats_row(1, 0.9, 9, 200)])
        assert str(raised.value) == (
            f"online store {sqlite_path} is locked: another process holds a lock on it (waited 0.1 s while "
            f"writing feature view 'driver_stats'); wait for it to finish, e.g. a running `featurestore "
            f"materialize`, or stop it, then retry")
        assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]  # WAL: readers are not blocked
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert write(store, STATS, [stats_row(1, 0.9, 9, 200)]) == 1
    store.close()


def _make_read_only(path: Path, request) -> None:
    """chmod a-w, plus the immutable flag when running as root (root ignores permissions)."""
    path.chmod(0o500 if path.is_dir() else 0o400)
    request.addfinalizer(lambda: path.chmod(0o700 if path.is_dir() else 0o600))
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode != 0:
            pytest.skip("running as root and chattr +i is unavailable, so nothing is read-only")
        request.addfinalizer(lambda: subprocess.run(["chattr", "-i", str(path)], check=True))


def test_sqlite_write_to_a_read_only_file(sqlite_path, request):
    store = SqliteOnlineStore(sqlite_path)
    store.update(PROJECT, [STATS], [])
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    store.close()  # checkpoints the WAL into the file
    _make_read_only(sqlite_path, request)
    with pytest.raises(OnlineStoreError) as raised:
        SqliteOnlineStore(sqlite_path).online_write_batch(PROJECT, STATS, [row(STATS, 1, {"trips": 9}, 200)])
    assert str(raised.value).startswith(
        f"online store {sqlite_path} is read-only (attempt to write a readonly database) while ")
    assert str(raised.value).endswith("; make the file and its folder writable by this user, or set "
                                      "online_store.path in feature_store.yaml to a writable location")


def test_sqlite_in_a_read_only_folder(tmp_path, request):
    folder = tmp_path / "locked"
    folder.mkdir()
    _make_read_only(folder, request)
    path = folder / "data" / "online_store.db"
    with pytest.raises(OnlineStoreError) as raised:
        SqliteOnlineStore(path).update(PROJECT, [STATS], [])
    message = str(raised.value)
    assert message.startswith(f"cannot create online store {path}: ")
    assert message.endswith(f"({folder / 'data'}); make its folder writable or set online_store.path in "
                            f"feature_store.yaml to a writable location")


def test_sqlite_read_of_a_missing_or_deleted_file_says_to_apply_and_does_not_create_it(sqlite_path):
    expected = (f"online store {sqlite_path} does not exist; run `featurestore apply` to create it and "
                f"`featurestore materialize` to fill it (or check online_store.path in feature_store.yaml)")
    store = SqliteOnlineStore(sqlite_path)
    with pytest.raises(OnlineStoreError) as raised:
        store.online_read(PROJECT, STATS, [key(STATS, 1)], ["trips"])
    assert str(raised.value) == expected
    assert not sqlite_path.parent.exists()

    store.update(PROJECT, [STATS], [])
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
    with pytest.raises(OnlineStoreError) as raised:  # not the deleted file's data through the open connection
        store.online_read(PROJECT, STATS, [key(STATS, 1)], ["trips"])
    assert str(raised.value) == expected
    assert not sqlite_path.exists()


def test_sqlite_read_of_a_view_without_a_table_says_to_apply(sqlite_path):
    store = SqliteOnlineStore(sqlite_path)
    store.update(PROJECT, [STATS], [])
    with pytest.raises(OnlineStoreError) as raised:
        store.online_read(PROJECT, PROFILE, [key(PROFILE, 1)], ["name"])
    assert str(raised.value) == (
        f"online store {sqlite_path} has no table for feature view 'driver_profile' of project 'proj'; run "
        f"`featurestore apply` to create it and `featurestore materialize` to fill it")
    store.close()


def test_sqlite_teardown_deletes_the_file_once_no_table_is_left(sqlite_path):
    store = SqliteOnlineStore(sqlite_path)
    store.update(PROJECT, [STATS, PROFILE], [])
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    store.teardown(PROJECT, [STATS])
    assert sqlite_path.exists()
    store.teardown(PROJECT, [PROFILE])
    assert sorted(sqlite_path.parent.iterdir()) == []
    store.teardown(PROJECT, [PROFILE])  # nothing left to remove is fine


def test_sqlite_reader_sees_a_recreated_file_not_the_deleted_one(sqlite_path):
    reader = SqliteOnlineStore(sqlite_path)
    writer = SqliteOnlineStore(sqlite_path)
    writer.update(PROJECT, [STATS], [])
    writer.online_write_batch(PROJECT, STATS, [stats_row(1, 0.5, 5, 100)])
    assert read(reader, STATS, 1) == [stats_value(0.5, 5, 100)]
    writer.teardown(PROJECT, [STATS])  # e.g. `featurestore teardown` and `apply` while a server runs
    writer.update(PROJECT, [STATS], [])
    assert read(reader, STATS, 1) == [None]
    reader.close()
    writer.close()


def test_sqlite_reads_in_another_thread_survive_close(sqlite_path):
    store = SqliteOnlineStore(sqlite_path)
    store.update(PROJECT, [STATS], [])
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    results = []
    close_done = threading.Event()

    def reader():
        results.append(read(store, STATS, 1))
        close_done.wait(5)
        results.append(read(store, STATS, 1))

    thread = threading.Thread(target=reader)
    thread.start()
    while not results:
        thread.join(0.01)
    store.close()
    close_done.set()
    thread.join()
    assert results == [[stats_value(0.5, 5, 100)]] * 2


# --- Redis -----------------------------------------------------------------------------------

def test_redis_layout_one_hash_per_entity_with_view_prefixed_fields(clean_redis):
    import redis

    store = RedisOnlineStore(clean_redis.config())
    write(store, STATS, [stats_row(1, 0.5, 5, 100, 7)])
    write(store, PROFILE, [row(PROFILE, 1, {"name": "Ann", "vip": True}, 100)])
    client = redis.Redis(host=clean_redis.host, port=clean_redis.port)
    assert client.keys() == [b"fs:proj:" + key(STATS, 1)]
    stored = client.hgetall(b"fs:proj:" + key(STATS, 1))
    assert sorted(stored) == [b"driver_profile:#ts", b"driver_profile:name", b"driver_profile:vip",
                              b"driver_stats:#ts", b"driver_stats:conv_rate", b"driver_stats:trips"]
    assert stored[b"driver_stats:#ts"] == (100).to_bytes(8, "big") + (7).to_bytes(8, "big")
    assert stored[b"driver_stats:conv_rate"] == encode_value(0.5, Float64)
    assert client.ttl(b"fs:proj:" + key(STATS, 1)) == -1
    client.close()
    store.close()


def test_redis_teardown_deletes_fields_and_emptied_hashes(clean_redis):
    store = RedisOnlineStore(clean_redis.config())
    write(store, STATS, [stats_row(i, 0.5, i, 100) for i in range(3)])
    write(store, PROFILE, [row(PROFILE, 0, {"name": "Ann", "vip": True}, 100)])
    store.teardown(PROJECT, [STATS])
    assert clean_redis.command("DBSIZE") == b":1\r\n"
    assert read(store, PROFILE, 0) == [({"name": "Ann", "vip": True}, 100)]
    store.update(PROJECT, [], [PROFILE])
    assert clean_redis.command("DBSIZE") == b":0\r\n"


def test_redis_key_ttl(clean_redis):
    store = RedisOnlineStore(clean_redis.config(key_ttl_seconds=3600))
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    ttl = int(clean_redis.command("TTL", b"fs:proj:" + key(STATS, 1))[1:])
    assert 3590 < ttl <= 3600


def test_redis_online_read_many_reads_several_views_at_once(clean_redis):
    store = RedisOnlineStore(clean_redis.config())
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    write(store, PROFILE, [row(PROFILE, 2, {"name": "Bob", "vip": False}, 200)])
    result = store.online_read_many(PROJECT, [(STATS, [key(STATS, 1), key(STATS, 2)], ["trips"]),
                                              (PROFILE, [key(PROFILE, 2)], ["name", "vip"]),
                                              (PROFILE, [], ["name"])])
    assert result == [
        [StoredFeatures({"trips": encode_value(5, Int64)}, 100), None],
        [StoredFeatures({"name": encode_value("Bob", String), "vip": encode_value(False, Bool)}, 200)],
        []]
    assert store.online_read_many(PROJECT, []) == []


def test_redis_recovers_when_the_server_forgot_its_scripts(clean_redis):
    store = RedisOnlineStore(clean_redis.config())
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]
    clean_redis.command("SCRIPT", "FLUSH")
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]
    assert write(store, STATS, [stats_row(1, 0.9, 9, 200)]) == 1


def test_redis_unreachable():
    port = free_port()  # nothing listens there
    store = RedisOnlineStore(RedisOnlineStoreConfig(host="127.0.0.1", port=port, socket_timeout_seconds=1))
    with pytest.raises(OnlineStoreError) as raised:
        store.online_read(PROJECT, STATS, [key(STATS, 1)], ["trips"])
    message = str(raised.value)
    assert message.startswith(f"cannot connect to Redis at 127.0.0.1:{port} while reading features (")
    assert message.endswith("); check that the server is running and that online_store.host, port and ssl in "
                            "feature_store.yaml point at it")
    expected = f"^cannot connect to Redis at 127.0.0.1:{port} while writing feature view 'driver_stats'"
    with pytest.raises(OnlineStoreError, match=expected):
        write(store, STATS, [stats_row(1, 0.5, 5, 100)])


def test_redis_with_the_right_password(password_redis_server, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, TEST_PASSWORD)
    password_redis_server.flushall()
    store = RedisOnlineStore(password_redis_server.config())
    assert write(store, STATS, [stats_row(1, 0.5, 5, 100)]) == 1
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]


def test_redis_with_a_wrong_password(password_redis_server, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    store = RedisOnlineStore(password_redis_server.config())
    with pytest.raises(OnlineStoreError) as raised:
        store.online_read(PROJECT, STATS, [key(STATS, 1)], ["trips"])
    message = str(raised.value)
    assert message.startswith(
        f"Redis at 127.0.0.1:{password_redis_server.port} refused the credentials while reading features (")
    assert message.endswith(
        f"); the password comes from the environment variable '{PASSWORD_ENV}'; set it to the server's "
        f"password")


def test_redis_without_a_password_where_one_is_required(password_redis_server):
    store = RedisOnlineStore(password_redis_server.config(password_env=""))
    with pytest.raises(OnlineStoreError) as raised:
        store.online_read(PROJECT, STATS, [key(STATS, 1)], ["trips"])
    assert str(raised.value).endswith(
        "; set online_store.password_env in feature_store.yaml to the name of an environment variable "
        "holding the password")


def test_redis_password_variable_not_set(monkeypatch):
    monkeypatch.delenv("FEATURESTORE_UNSET_PASSWORD", raising=False)
    store = RedisOnlineStore(RedisOnlineStoreConfig(port=6390, password_env="FEATURESTORE_UNSET_PASSWORD"))
    with pytest.raises(OnlineStoreError) as raised:
        store.online_read(PROJECT, STATS, [key(STATS, 1)], ["trips"])
    assert str(raised.value) == (
        "online_store.password_env names the environment variable 'FEATURESTORE_UNSET_PASSWORD', which is "
        "not set; export FEATURESTORE_UNSET_PASSWORD=<the password of Redis at localhost:6390>")


def test_redis_store_pickles_only_its_config(clean_redis):
    store = RedisOnlineStore(clean_redis.config())
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    assert store.__getstate__() == {"config": clean_redis.config(), "rows_per_pipeline": 10_000}
    copy = pickle.loads(pickle.dumps(store))
    assert copy._client is None
    assert copy.writes_from_executors is True
    assert read(copy, STATS, 1) == [stats_value(0.5, 5, 100)]
