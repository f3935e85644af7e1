"""Expectations gate materialization: a broken batch writes nothing and records nothing.

On SQLite and Redis: with on_violation="fail" (the default) the store and the registry
are byte-for-byte unchanged and the error has one line per broken rule; with "warn" the
rows are written and each broken rule is logged. get_historical_features(validate=True)
checks the same rules on a training set.
"""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from featurestore.errors import ExpectationError, ValidationError
from featurestore.store import FeatureStore

pytestmark = pytest.mark.spark
UTC = UTC
NOW = datetime.now(UTC).replace(microsecond=0)
GOOD = [(1, NOW - timedelta(hours=3), 0.5, "gold"), (2, NOW - timedelta(hours=3), 0.7, "silver")]
BAD = [(1, NOW - timedelta(hours=1), None, "gold"), (2, NOW - timedelta(hours=1), 1.5, "tin"),
       (2, NOW - timedelta(hours=1), 0.2, "gold")]  # driver 2 twice at one time

VIEW = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.quality.expectations import Between, InSet, NotNull, UniqueKeysPerTimestamp
from featurestore.types import Float64, Int64, String
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], on_violation="{on_violation}",
    source=SparkSource(name="src", table="{table}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64), Field(name="tier", dtype=String)],
    expectations=[NotNull(feature="rate"), Between(feature="rate", min=0, max=1),
                  InSet(feature="tier", values=["gold", "silver"]), UniqueKeysPerTimestamp()])
"""
SCHEMA = "driver_id bigint, event_ts timestamp, rate double, tier string"


@pytest.fixture(params=["sqlite", "redis"])
def online(request):
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("clean_redis")


def make_store(spark, repo_factory, online, on_violation):
    table = f"gate_{uuid.uuid4().hex[:8]}"
    spark.createDataFrame(GOOD, SCHEMA).write.format("delta").saveAsTable(table)
    config = "" if online is None else \
        f"online_store:\n  type: redis\n  host: {online.host}\n  port: {online.port}\n"
    store = FeatureStore(repo_factory(VIEW.format(table=table, on_violation=on_violation), online_store=config,
                                      project=f"p_{uuid.uuid4().hex[:6]}"))
    store.apply(store.load_repo(), partial=False)
    store.materialize(NOW - timedelta(days=1), NOW - timedelta(hours=2), log=lambda _: None)
    spark.createDataFrame(BAD, SCHEMA).write.format("delta").mode("append").saveAsTable(table)
    return store


def snapshot(store, online):
    """The registry's bytes and the online store's bytes (SQLite file, or every Redis hash)."""
    registry = store.config.registry_path.read_bytes()
    if online is None:
        import sqlite3

        store.online_store.close()
        with sqlite3.connect(store.online_store.path) as db:
            rows = sorted(db.execute("SELECT * FROM sqlite_master").fetchall()) + \
                sorted(((name, row) for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                        for row in db.execute(f'SELECT * FROM "{name}"')), key=repr)
        return registry, rows
    import redis

    client = redis.Redis(host=online.host, port=online.port)
    return registry, sorted((key, sorted(client.hgetall(key).items())) for key in client.keys("*"))


def test_a_broken_batch_writes_nothing_and_records_nothing(spark, repo_factory, online):
    store = make_store(spark, repo_factory, online, "fail")
    before = snapshot(store, online)
    with pytest.raises(ExpectationError) as raised:
        store.materialize(NOW - timedelta(hours=2), NOW, log=lambda _: None)
    lines = str(raised.value).splitlines()
    assert lines[0] == "stats: 4 expectation(s) broken, nothing written; fix the data or set on_violation='warn':"
    assert lines[1:] == ["stats: feature 'rate' breaks not_null(): 1 of 2 rows (e.g. driver_id=1)",
                         "stats: feature 'rate' breaks between(0, 1): 1 of 2 rows (e.g. driver_id=2)",
                         "stats: feature 'tier' breaks in_set('gold', 'silver'): 1 of 2 rows (e.g. driver_id=2)",
                         "stats: breaks unique_keys_per_timestamp(): 2 of 3 rows (e.g. driver_id=2)"]
    assert snapshot(store, online) == before
    assert store.get_online_features(["stats:rate"], [{"driver_id": 1}]).to_dict()["rate"] == [0.5]


def test_a_warned_batch_is_written_and_reported(spark, repo_factory, online):
    store = make_store(spark, repo_factory, online, "warn")
    logged = []
    store.materialize(NOW - timedelta(hours=2), NOW, log=logged.append)
    assert [line for line in logged if "warning" in line] == [
        "  warning: stats: feature 'rate' breaks not_null(): 1 of 2 rows (e.g. driver_id=1)",
        "  warning: stats: feature 'rate' breaks between(0, 1): 1 of 2 rows (e.g. driver_id=2)",
        "  warning: stats: feature 'tier' breaks in_set('gold', 'silver'): 1 of 2 rows (e.g. driver_id=2)",
        "  warning: stats: breaks unique_keys_per_timestamp(): 2 of 3 rows (e.g. driver_id=2)"]
    assert store.get_online_features(["stats:rate"], [{"driver_id": 1}]).to_dict()["rate"] == [None]
    assert len(store.get_feature_view("stats").materialization_intervals) == 1  # the two touching runs merged


def test_validate_checks_a_training_set(spark, repo_factory):
    store = make_store(spark, repo_factory, None, "fail")
    entity = spark.createDataFrame([(1, NOW), (2, NOW - timedelta(hours=2))], "driver_id bigint, event_timestamp timestamp")
    store.get_historical_features(entity, ["stats:tier"], validate=True)  # tier is fine at these times
    with pytest.raises(ValidationError) as raised:
        store.get_historical_features(entity, ["stats:rate"], validate=True)
    assert str(raised.value).splitlines() == [
        "the training set breaks 1 expectation(s):",
        "stats: feature 'rate' breaks not_null(): 1 of 2 rows (e.g. driver_id=1)"]
