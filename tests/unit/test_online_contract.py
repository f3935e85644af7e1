"""The OnlineStore contract (featurestore.online.base), run against every store type:
SQLite in a temporary file and a real redis-server."""
from __future__ import annotations

import math
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from featurestore import FeatureView, Field, online
from featurestore.errors import ValidationError
from featurestore.online.base import OnlineRow, OnlineStore, StoredFeatures
from featurestore.online.codec import encode_value, serialize_entity_key
from featurestore.types import Int32, Int64, String
from tests.online_helpers import (
    ALL_TYPES,
    ALL_VIEWS,
    CITY_VISITS,
    DRIVER,
    PROFILE,
    PROJECT,
    SOURCE,
    STATS,
    key,
    make_store,
    read,
    row,
    stats_row,
    stats_value,
    write,
)

STORE_KINDS = ["sqlite", "redis"]


@pytest.fixture(params=STORE_KINDS)
def store_kind(request):
    return request.param


@pytest.fixture
def store(store_kind, request, tmp_path):
    store = make_store(store_kind, request, tmp_path)
    store.update(PROJECT, ALL_VIEWS, [])
    yield store
    store.close()


# --- the map of store types ------------------------------------------------------------------

def test_every_store_type_is_under_this_contract_and_has_its_config_beside_it():
    assert sorted(online.STORE_TYPES) == sorted(STORE_KINDS)
    for type_name in online.STORE_TYPES:
        cls = online.store_class(type_name)
        assert issubclass(cls, OnlineStore)
        assert cls.config_class.__module__ == cls.__module__
        assert cls.config_class().type == type_name


def test_an_unknown_store_type_names_the_known_ones():
    with pytest.raises(ValueError, match="^unknown online store type 'dynamo'; choose one of sqlite, redis$"):
        online.store_class("dynamo")


def test_a_sqlite_repo_imports_neither_redis_nor_its_store_nor_pyspark(tmp_path):
    (tmp_path / "feature_store.yaml").write_text("project: demo\n")
    code = ("import sys; from featurestore.config import load_config; from featurestore.online import "
            "get_online_store; get_online_store(load_config(sys.argv[1])); "
            "print(sorted(m for m in ('redis', 'featurestore.online.redis_store', 'pyspark') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert result.stdout == "[]\n"


# --- writes: newer wins ----------------------------------------------------------------------

def test_newer_event_ts_wins_and_an_older_write_is_ignored(store):
    assert write(store, STATS, [stats_row(1, 0.5, 5, 200)]) == 1
    assert write(store, STATS, [stats_row(1, 0.1, 1, 100)]) == 0
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 200)]
    assert write(store, STATS, [stats_row(1, 0.9, 9, 300)]) == 1
    assert read(store, STATS, 1) == [stats_value(0.9, 9, 300)]


def test_created_ts_breaks_event_ts_ties(store):
    write(store, STATS, [stats_row(1, 0.5, 5, 100, created_ts=20)])
    assert write(store, STATS, [stats_row(1, 0.1, 1, 100, 10)]) == 0
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]
    assert write(store, STATS, [stats_row(1, 0.7, 7, 100, 30)]) == 1
    assert read(store, STATS, 1) == [stats_value(0.7, 7, 100)]


def test_equal_timestamps_with_the_same_values_change_nothing(store):
    assert write(store, STATS, [stats_row(1, 0.5, 5, 100, created_ts=20)]) == 1
    assert write(store, STATS, [stats_row(1, 0.5, 5, 100, created_ts=20)]) == 0
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]


def test_equal_timestamps_with_other_values_replace_the_row_rewritten_in_place(store):
    write(store, STATS, [stats_row(1, 0.5, 5, 100, created_ts=20)])
    assert write(store, STATS, [stats_row(1, 0.2, 5, 100, created_ts=20)]) == 1
    assert read(store, STATS, 1) == [stats_value(0.2, 5, 100)]
    assert write(store, STATS, [stats_row(1, None, 5, 100, created_ts=20)]) == 1
    assert read(store, STATS, 1) == [stats_value(None, 5, 100)]


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


WIDE = FeatureView(name="wide", entities=[DRIVER], source=SOURCE, schema=[
    Field(name="driver_id", dtype=Int64), *(Field(name=f"f{i}", dtype=Int64) for i in range(1_500))])


def test_a_view_wider_than_one_statement_is_written_whole_and_newer_wins(store):
    """1,500 features: more than SQLite binds in one statement, so it writes in parts."""
    def wide_row(driver_id: int, value: int, event_ts: int) -> tuple:
        return row(WIDE, driver_id, {f"f{i}": value + i for i in range(1_500)}, event_ts)

    store.update(PROJECT, [WIDE], [])
    assert write(store, WIDE, [wide_row(1, 0, 100), wide_row(2, 10, 100)]) == 2
    assert write(store, WIDE, [wide_row(1, 5, 50), wide_row(2, 20, 200)]) == 1
    [(one, one_ts), (two, two_ts)] = read(store, WIDE, 1, 2)
    assert (one, one_ts) == ({f"f{i}": i for i in range(1_500)}, 100)
    assert (two, two_ts) == ({f"f{i}": 20 + i for i in range(1_500)}, 200)
    assert read(store, WIDE, 2, features=["f1499", "f0"]) == [({"f1499": 1519, "f0": 20}, 200)]


def test_online_write_batch_takes_named_values_through_the_same_path(store):
    values = {"conv_rate": encode_value(0.5, STATS.feature("conv_rate").dtype),
              "trips": encode_value(5, Int64)}
    named = OnlineRow(key(STATS, 1), dict(reversed(values.items())), 200, 0)  # order of the dict is free
    assert store.online_write_batch(PROJECT, STATS, [named]) == 1
    assert store.online_write_batch(PROJECT, STATS, [named._replace(event_ts=100)]) == 0
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 200)]


def test_online_write_batch_writes_null_for_an_unnamed_feature_and_refuses_unknown_ones(store):
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    partial = OnlineRow(key(STATS, 1), {"trips": encode_value(9, Int64)}, 200, 0)
    assert store.online_write_batch(PROJECT, STATS, [partial]) == 1
    assert read(store, STATS, 1) == [stats_value(None, 9, 200)]  # the whole row, as materialization writes it
    extra = OnlineRow(key(STATS, 1), {"conv_rate": b"", "trips": b"", "speed": b""}, 300, 0)
    with pytest.raises(ValidationError, match=r"^an OnlineRow of feature view 'driver_stats' has values for "
                                              r"\['speed'\], which are not features of the view; its features "
                                              r"are \['conv_rate', 'trips'\]$"):
        store.online_write_batch(PROJECT, STATS, [extra])
    assert read(store, STATS, 1) == [stats_value(None, 9, 200)]


# --- reads -----------------------------------------------------------------------------------

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


def test_online_read_many_answers_each_request_in_order(store):
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    write(store, PROFILE, [row(PROFILE, 2, {"name": "Bob", "vip": False}, 200)])
    result = store.online_read_many(PROJECT, [(STATS, [key(STATS, 1), key(STATS, 2)], ["trips"]),
                                              (PROFILE, [key(PROFILE, 2)], ["name"]),
                                              (PROFILE, [], ["name"])])
    assert result == [[StoredFeatures({"trips": encode_value(5, Int64)}, 100), None],
                      [StoredFeatures({"name": encode_value("Bob", String)}, 200)],
                      []]
    assert store.online_read_many(PROJECT, []) == []


TWENTY = FeatureView(name="twenty", entities=[DRIVER], source=SOURCE, schema=[
    Field(name="driver_id", dtype=Int64), *(Field(name=f"f{i}", dtype=Int64) for i in range(20))])


def test_a_wide_read_of_many_keys_answers_as_reading_each_key_alone(store):
    """Many features of many keys take another path on Redis (whole hashes): same answers,
    with missing keys, null features and another view's fields in the same hash."""
    store.update(PROJECT, [TWENTY, STATS], [])
    write(store, TWENTY, [row(TWENTY, 1, {f"f{i}": i for i in range(20)}, 100),
                          row(TWENTY, 2, {f"f{i}": (None if i % 3 else 10 * i) for i in range(20)}, 200)])
    write(store, STATS, [stats_row(1, 0.5, 5, 300)])
    names = [f"f{i}" for i in reversed(range(20))]
    keys = [key(TWENTY, k) for k in (1, 404, 2, 1)]
    alone = [store.online_read(PROJECT, TWENTY, [k], names)[0] for k in keys]
    assert alone[1] is None and alone[0].event_ts == 100 and alone[2].event_ts == 200
    result = store.online_read_many(PROJECT, [(TWENTY, keys, names), (STATS, [key(STATS, 1)], ["trips"]),
                                              (TWENTY, keys[:2], names[:3])])
    assert result == [alone, [StoredFeatures({"trips": encode_value(5, Int64)}, 300)],
                      [store.online_read(PROJECT, TWENTY, [k], names[:3])[0] for k in keys[:2]]]


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
    write(store, ALL_TYPES, [row(ALL_TYPES, -2 ** 63, FULL, 100), row(ALL_TYPES, 2 ** 63 - 1, empty, 100)])
    [(values, event_ts), (nulls, _)] = read(store, ALL_TYPES, -2 ** 63, 2 ** 63 - 1)
    assert event_ts == 100
    assert math.isnan(values.pop("f64"))
    assert values == {name: value for name, value in FULL.items() if name != "f64"}
    assert values["ts"].tzinfo is UTC
    assert nulls == empty


# --- update, teardown, projects ----------------------------------------------------------------

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


# --- streams, failures, pickling, threads ----------------------------------------------------

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
