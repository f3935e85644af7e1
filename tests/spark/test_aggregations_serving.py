"""Aggregations served online equal the training set at ts = end, on SQLite and Redis.

After materialize(start, end), get_online_features for every entity equals
get_historical_features at ts = end, value for value. Fares are multiples of 0.25, so
sums are exact in binary and the comparison can be exact too.
"""
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from featurestore.store import FeatureStore

pytestmark = pytest.mark.spark
UTC = UTC
END = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)

DEFINITIONS = """
from datetime import timedelta
from featurestore import Aggregation, Entity, FeatureService, FeatureView, Field, SparkSource
from featurestore.types import Float64, Int64, String
driver = Entity(name="driver", join_keys=["driver_id"])
trips = FeatureView(name="trips", entities=[driver], delay=timedelta(minutes={delay}),
    source=SparkSource(name="trips_src", table="{table}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="fare", dtype=Float64), Field(name="city", dtype=String)],
    aggregations=[
        Aggregation(function="count", time_window=timedelta(hours=1), name="trips_count_1h"),
        Aggregation(function="count", time_window=timedelta(days=1), name="trips_count_1d"),
        Aggregation(column="fare", function="sum", time_window=timedelta(days=1)),
        Aggregation(column="fare", function="mean", time_window=timedelta(days=7)),
        Aggregation(column="fare", function="min", time_window=timedelta(hours=6)),
        Aggregation(column="fare", function="max", time_window=timedelta(days=1)),
        Aggregation(column="fare", function="var", time_window=timedelta(days=7)),
        Aggregation(column="fare", function="last", time_window=timedelta(days=1)),
        Aggregation(column="city", function="approx_count_distinct", time_window=timedelta(days=7)),
    ])
ranking = FeatureService(name="ranking", features=[trips])
"""
FEATURES = ["trips_count_1h", "trips_count_1d", "fare_sum_1d", "fare_mean_7d", "fare_min_6h", "fare_max_1d",
            "fare_var_7d", "fare_last_1d", "city_approx_count_distinct_7d"]


@pytest.fixture(scope="module")
def trips_table(spark):
    rng = random.Random(7)
    rows = []
    for driver in range(1, 13):
        for _ in range(rng.randint(0, 40)):
            when = END - timedelta(minutes=rng.randint(0, 60 * 24 * 9))
            rows.append((driver, when, rng.choice([None, rng.randint(1, 200) / 4]), rng.choice(["a", "b", "c", None])))
    rows.append((13, END - timedelta(days=8), 5.0, "a"))  # only an event older than every window
    table = f"trips_{uuid.uuid4().hex[:8]}"
    spark.createDataFrame(rows, "driver_id bigint, event_ts timestamp, fare double, city string") \
        .write.format("delta").saveAsTable(table)
    return table



@pytest.mark.parametrize("delay", [0, 30])
def test_online_equals_offline_at_the_materialization_end(spark, repo_factory, trips_table, online_config, delay):
    store = FeatureStore(repo_factory(DEFINITIONS.format(table=trips_table, delay=delay), online_store=online_config,
                                      project=f"p_{uuid.uuid4().hex[:6]}"))
    store.apply(store.load_repo(), partial=False)
    store.materialize(END - timedelta(days=30), END, log=lambda _: None)
    drivers = list(range(1, 14))
    online = store.get_online_features(store.get_feature_service("ranking"), [{"driver_id": d} for d in drivers])
    entity = spark.createDataFrame([(d, END) for d in drivers], "driver_id bigint, event_timestamp timestamp")
    offline = {r.driver_id: r for r in store.get_historical_features(entity, [f"trips:{f}" for f in FEATURES])
               .to_spark_df().collect()}
    values, statuses = online.to_dict(), online.statuses()
    for index, driver in enumerate(drivers):
        for feature in FEATURES:
            assert values[feature][index] == offline[driver][feature], (driver, feature)
            assert statuses[feature][index] == ("NULL_VALUE" if values[feature][index] is None else "PRESENT")
    assert [values[f][12] for f in FEATURES] == [0, 0, None, None, None, None, None, None, 0]  # driver 13: reset


def test_an_entity_without_events_counts_0_online_as_offline(spark, repo_factory, trips_table, online_config):
    """Never seen, so never materialized: its counts are 0 online (as the training set has them), the rest null."""
    store = FeatureStore(repo_factory(DEFINITIONS.format(table=trips_table, delay=0), online_store=online_config,
                                      project=f"p_{uuid.uuid4().hex[:6]}"))
    store.apply(store.load_repo(), partial=False)
    store.materialize(END - timedelta(days=30), END, log=lambda _: None)
    online = store.get_online_features([f"trips:{f}" for f in FEATURES], [{"driver_id": 99}])
    entity = spark.createDataFrame([(99, END)], "driver_id bigint, event_timestamp timestamp")
    offline = store.get_historical_features(entity, [f"trips:{f}" for f in FEATURES]).to_spark_df().collect()[0]
    assert [online.to_dict()[f][0] for f in FEATURES] == [offline[f] for f in FEATURES] == \
        [0, 0, None, None, None, None, None, None, 0]
    assert [online.statuses()[f][0] for f in FEATURES] == ["PRESENT", "PRESENT"] + ["NOT_FOUND"] * 6 + ["PRESENT"]


def test_incremental_runs_reset_emptied_windows(spark, repo_factory, online_config):
    """An entity whose events leave every window gets count 0 / null online: no stale "5 trips"."""
    table = f"trips_{uuid.uuid4().hex[:8]}"
    first_end = END - timedelta(days=3)
    spark.createDataFrame([(1, first_end - timedelta(minutes=10), 4.0, "a")],
                          "driver_id bigint, event_ts timestamp, fare double, city string") \
        .write.format("delta").saveAsTable(table)
    store = FeatureStore(repo_factory(DEFINITIONS.format(table=table, delay=0), online_store=online_config,
                                      project=f"p_{uuid.uuid4().hex[:6]}"))
    store.apply(store.load_repo(), partial=False)
    store.materialize(first_end - timedelta(days=1), first_end, log=lambda _: None)
    read = lambda: store.get_online_features(["trips:trips_count_1d", "trips:fare_sum_1d", "trips:fare_mean_7d"],  # noqa: E731
                                             [{"driver_id": 1}]).to_dict()
    assert (read()["trips_count_1d"], read()["fare_sum_1d"]) == ([1], [4.0])
    store.materialize_incremental(END, log=lambda _: None)
    assert (read()["trips_count_1d"], read()["fare_sum_1d"], read()["fare_mean_7d"]) == ([0], [None], [4.0])
