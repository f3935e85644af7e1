"""Materialization into both online stores and online reads: one contract, SQLite and Redis."""
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from featurestore.errors import DefinitionError, MaterializationError, NotFoundError, OnlineStoreError, RetrievalError
from featurestore.store import FeatureStore
from featurestore.testing.repos import redis_online_store

pytestmark = pytest.mark.spark
UTC = UTC
NOW = datetime.now(UTC).replace(microsecond=0)
DAY1 = datetime(2026, 1, 1, tzinfo=UTC)
FAILED = "materializing 'stats' over [2026-01-01T00:00:00+00:00, 2026-01-02T00:00:00+00:00) failed: "


def at(hours: float) -> datetime:
    return DAY1 + timedelta(hours=hours)


DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureService, FeatureView, Field, SparkSource
from featurestore.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp
driver = Entity(name="driver", join_keys=["driver_id"])
customer = Entity(name="customer", join_keys=["customer_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(0),
    source=SparkSource(name="stats_src", table="{stats}", timestamp_field="event_ts", created_timestamp_column="created"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64), Field(name="trips", dtype=Int32)])
fresh = FeatureView(name="fresh", entities=[driver], ttl=timedelta(days=1),
    source=SparkSource(name="fresh_src", table="{fresh}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="score", dtype=Float32)])
pairs = FeatureView(name="pairs", entities=[driver, customer], ttl=timedelta(0),
    source=SparkSource(name="pairs_src", table="{pairs}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="customer_id", dtype=String),
            Field(name="i32", dtype=Int32), Field(name="i64", dtype=Int64), Field(name="f32", dtype=Float32),
            Field(name="f64", dtype=Float64), Field(name="s", dtype=String), Field(name="b", dtype=Bool),
            Field(name="raw", dtype=Bytes), Field(name="ts", dtype=UnixTimestamp), Field(name="nums", dtype=Array(Int64)),
            Field(name="names", dtype=Array(String))])
ranking = FeatureService(name="ranking", features=[stats[["rate"]], fresh])
"""


@pytest.fixture(scope="module")
def source_tables(spark):
    suffix = uuid.uuid4().hex[:6]
    names = {"stats": f"m_stats_{suffix}", "fresh": f"m_fresh_{suffix}", "pairs": f"m_pairs_{suffix}"}
    spark.createDataFrame([
        (1, at(1), at(1.1), 0.1, 10),
        (1, at(2), at(2.1), 0.2, 20),
        (1, at(2), at(2.5), 0.25, 25),   # same event time, created later: the newest
        (1, at(30), at(30), 0.9, 90),     # outside the first interval
        (2, at(3), None, None, 30),       # null feature value
        (None, at(3), at(3), 7.0, 70),    # null key: never materialized
    ], "driver_id bigint, event_ts timestamp, created timestamp, rate double, trips int") \
        .write.format("delta").saveAsTable(names["stats"])
    spark.createDataFrame([(1, NOW - timedelta(hours=2), 0.5), (2, NOW - timedelta(days=3), 0.7)],
                          "driver_id bigint, event_ts timestamp, score float").write.saveAsTable(names["fresh"])
    spark.createDataFrame([
        (1, "c1", at(1), 1, 2 ** 62, 1.5, float("nan"), "héllo", True, b"\x00\x01", at(5), [1, -2 ** 63], ["a", "b"]),
        (1, "1", at(1), None, None, None, None, None, None, None, None, None, None),
    ], "driver_id bigint, customer_id string, event_ts timestamp, i32 int, i64 bigint, f32 float, f64 double, "
       "s string, b boolean, raw binary, ts timestamp, nums array<bigint>, names array<string>") \
        .write.saveAsTable(names["pairs"])
    return names


@pytest.fixture(params=["sqlite", "redis"])
def store(request, spark, repo_factory, source_tables):
    online = ""
    if request.param == "redis":
        server = request.getfixturevalue("clean_redis")
        online = redis_online_store(server.host, server.port)
    repo = repo_factory(DEFINITIONS.format(**source_tables), online_store=online,
                        project=f"p_{uuid.uuid4().hex[:6]}")
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    return store


def online(store, refs, rows, **kwargs):
    return store.get_online_features(refs, rows, **kwargs)


def test_newest_row_per_key_within_the_interval(store):
    results = store.materialize(at(0), at(24), ["stats"], log=lambda m: None)
    assert [(r.view, r.rows_selected, r.rows_written) for r in results] == [("stats", 2, 2)]
    response = online(store, ["stats:rate", "stats:trips"], [{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}])
    assert response.to_dict() == {"driver_id": [1, 2, 3], "rate": [0.25, None, None], "trips": [25, 30, None]}
    assert response.statuses() == {"driver_id": ["PRESENT"] * 3, "rate": ["PRESENT", "NULL_VALUE", "NOT_FOUND"],
                                   "trips": ["PRESENT", "PRESENT", "NOT_FOUND"]}
    assert store.get_feature_view("stats").materialization_intervals == [(at(0), at(24))]


def test_repeated_and_out_of_order_intervals_keep_the_newest(store):
    quiet = {"log": lambda m: None}
    store.materialize(at(0), at(48), ["stats"], **quiet)
    store.materialize(at(0), at(24), ["stats"], **quiet)   # older values: ignored
    store.materialize(at(0), at(48), ["stats"], **quiet)   # repeated: nothing changes
    assert online(store, ["stats:rate"], [{"driver_id": 1}]).to_dict()["rate"] == [0.9]
    assert store.get_feature_view("stats").materialization_intervals == [(at(0), at(48))]


def test_incremental_runs_continue_where_the_last_ended_and_merge_intervals(store):
    quiet = {"log": lambda m: None}
    first = store.materialize_incremental(at(24), ["stats"], **quiet)
    assert (first[0].start, first[0].end) == (datetime(1970, 1, 1, tzinfo=UTC), at(24))  # ttl 0: all history
    second = store.materialize_incremental(at(48), ["stats"], **quiet)
    assert (second[0].start, second[0].rows_written) == (at(24), 1)
    assert store.get_feature_view("stats").materialization_intervals == [(datetime(1970, 1, 1, tzinfo=UTC), at(48))]
    fresh = store.materialize_incremental(NOW, ["fresh"], **quiet)
    assert fresh[0].start == NOW - timedelta(days=1)  # first run: end - ttl


def test_ttl_is_applied_at_read_time(store):
    store.materialize(NOW - timedelta(days=10), NOW + timedelta(seconds=1), ["fresh"], log=lambda m: None)
    response = online(store, ["fresh:score"], [{"driver_id": 1}, {"driver_id": 2}])
    assert response.to_dict()["score"] == [0.5, None]
    assert response.statuses()["score"] == ["PRESENT", "OUTSIDE_MAX_AGE"]


def test_all_types_round_trip_and_composite_keys_do_not_collide(store):
    store.materialize(at(0), at(24), ["pairs"], log=lambda m: None)
    refs = [f"pairs:{f}" for f in ("i32", "i64", "f32", "f64", "s", "b", "raw", "ts", "nums", "names")]
    values = online(store, refs, [{"driver_id": 1, "customer_id": "c1"}, {"driver_id": 1, "customer_id": "1"},
                                  {"driver_id": 11, "customer_id": ""}]).to_dict()
    assert values["i32"] == [1, None, None] and values["i64"] == [2 ** 62, None, None]
    assert values["f32"] == [1.5, None, None] and values["f64"][0] != values["f64"][0]  # NaN survives
    assert values["s"] == ["héllo", None, None] and values["b"] == [True, None, None]
    assert values["raw"] == [b"\x00\x01", None, None] and values["ts"] == [at(5), None, None]
    assert values["nums"] == [[1, -2 ** 63], None, None] and values["names"] == [["a", "b"], None, None]


def test_feature_service_and_full_feature_names(store):
    store.materialize(at(0), at(24), ["stats"], log=lambda m: None)
    store.materialize(NOW - timedelta(days=10), NOW + timedelta(seconds=1), ["fresh"], log=lambda m: None)
    values = online(store, store.get_feature_service("ranking"), [{"driver_id": 1}], full_feature_names=True)
    assert values.to_dict() == {"driver_id": [1], "stats__rate": [0.25], "fresh__score": [0.5]}
    assert list(values.to_df().columns) == ["driver_id", "stats__rate", "fresh__score"]


def test_bad_reads_fail_clearly(store):
    with pytest.raises(NotFoundError, match="no feature view 'stat' .* Did you mean 'stats'"):
        online(store, ["stat:rate"], [{"driver_id": 1}])
    with pytest.raises(RetrievalError, match="entity row 0 .* lacks join key 'driver_id' of feature view 'stats'"):
        online(store, ["stats:rate"], [{"driver": 1}])
    with pytest.raises(RetrievalError, match="join key 'driver_id' must be Int64"):
        online(store, ["stats:rate"], [{"driver_id": "1"}])
    assert online(store, ["stats:rate"], [{"driver_id": None}]).statuses()["rate"] == ["NOT_FOUND"]


def test_unknown_view_to_materialize(store):
    with pytest.raises(NotFoundError, match="no feature view named 'stat'"):
        store.materialize(at(0), at(1), ["stat"])
    with pytest.raises(DefinitionError) as error:
        store.materialize(at(1), at(0))
    assert type(error.value) is DefinitionError
    assert str(error.value) == "materialize: start 2026-01-01T01:00:00+00:00 must be before end 2026-01-01T00:00:00+00:00"


def test_online_reads_never_import_pyspark(store):
    store.materialize(at(0), at(24), ["stats"], log=lambda m: None)
    code = ("import sys; from featurestore import FeatureStore; s = FeatureStore(sys.argv[1]); "
            "r = s.get_online_features(['stats:rate'], [{'driver_id': 1}]); "
            "assert r.to_dict()['rate'] == [0.25], r.to_dict(); "
            "assert not [m for m in sys.modules if m.startswith('pyspark')], 'pyspark imported'; print('ok')")
    result = subprocess.run([sys.executable, "-c", code, str(store.repo_path)], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def test_unreachable_redis_fails_clearly_and_records_nothing(spark, repo_factory, source_tables):
    from featurestore.runtime.processes import free_port

    port = free_port()
    repo = repo_factory(DEFINITIONS.format(**source_tables), project="unreachable",
                        online_store=redis_online_store("127.0.0.1", port, socket_timeout_seconds=1))
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    with pytest.raises(MaterializationError) as error:  # raised on the executors, wrapped by the driver
        store.materialize(at(0), at(24), ["stats"], log=lambda m: None)
    assert type(error.value) is MaterializationError
    prefix = (f"{FAILED}OnlineStoreError: cannot connect to Redis at 127.0.0.1:{port} while marking the store as "
              f"holding the project's values (")  # the first thing materialization writes
    suffix = ("); check that the server is running and that online_store.host, port and ssl in feature_store.yaml "
              "point at it; no interval was recorded, rerun it")
    message = str(error.value)  # between the two: redis-py's own words
    assert message.startswith(prefix) and message.endswith(suffix) and "\n" not in message, message
    assert store.get_feature_view("stats").materialization_intervals == []


def test_wrong_redis_password_fails_clearly(spark, repo_factory, source_tables, password_redis_server):
    # The variable is set by tests/conftest.py before Spark starts, so the executors see it:
    # set here, it would reach only the driver, and the executors would fail with "not set".
    server = password_redis_server
    repo = repo_factory(DEFINITIONS.format(**source_tables), project="wrongpw",
                        online_store=redis_online_store(server.host, server.port,
                                                        password_env="FEATURESTORE_TEST_WRONG_REDIS_PASSWORD"))
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    with pytest.raises(MaterializationError) as error:  # raised on the executors, wrapped by the driver
        store.materialize(at(0), at(24), ["stats"], log=lambda m: None)
    assert type(error.value) is MaterializationError
    prefix = (f"{FAILED}OnlineStoreError: Redis at {server.host}:{server.port} refused the credentials while marking "
              f"the store as holding the project's values (")
    suffix = ("); the password comes from the environment variable 'FEATURESTORE_TEST_WRONG_REDIS_PASSWORD'; set it to "
              "the server's password; no interval was recorded, rerun it")
    message = str(error.value)
    assert message.startswith(prefix) and message.endswith(suffix) and "\n" not in message, message
    assert store.get_feature_view("stats").materialization_intervals == []


def test_locked_sqlite_fails_clearly_and_records_nothing(spark, repo_factory, source_tables):
    import sqlite3

    repo = repo_factory(DEFINITIONS.format(**source_tables), project="locked")
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    holder = sqlite3.connect(repo / "data" / "online_store.db", timeout=0.1)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(OnlineStoreError) as error:  # on the driver, before any row is written
            store.materialize(at(0), at(24), ["stats"], log=lambda m: None)
    finally:
        holder.rollback()
        holder.close()
    assert type(error.value) is OnlineStoreError
    assert str(error.value) == (
        f"online store {repo}/data/online_store.db is locked: another process holds a lock on it (waited 5 s while "
        f"recording the generation of feature view 'stats'); wait for it to finish, e.g. a running `featurestore "
        f"materialize`, or stop it, then retry")
    assert store.get_feature_view("stats").materialization_intervals == []
    store.materialize(at(0), at(24), ["stats"], log=lambda m: None)  # rerun completes
    assert online(store, ["stats:rate"], [{"driver_id": 1}]).to_dict()["rate"] == [0.25]
