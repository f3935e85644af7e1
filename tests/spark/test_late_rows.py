"""Late rows reach the online store: rows written after a run passed their event time (#26).

materialize_incremental selects by event time from the last run's end, and also the rows
written since the last run began reading (materialize.latest_rows): by their files'
modification time (Delta and Hive tables, parquet paths; a Delta update rewrites files)
or their created timestamp. Each case compares the online value with a training set at
the run's end, on SQLite and Redis: online serves what training reads.
"""
import time
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from featurestore.store import FeatureStore
from featurestore.testing.repos import redis_online_store

pytestmark = pytest.mark.spark

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
delta_stats = FeatureView(name="delta_stats", entities=[driver], ttl=timedelta(days=1),
    source=SparkSource(name="delta_src", table="{table}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float64)])
path_stats = FeatureView(name="path_stats", entities=[driver], ttl=timedelta(days=1),
    source=SparkSource(name="path_src", path="{path}", file_format="parquet", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float64)])
created_stats = FeatureView(name="created_stats", entities=[driver], ttl=timedelta(days=1),
    source=SparkSource(name="created_src", query="SELECT a.* FROM {table_c} a JOIN {table_c} b USING (driver_id, "
                       "event_ts)", timestamp_field="event_ts", created_timestamp_column="created"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float64)])
"""
SCHEMA = "driver_id bigint, event_ts timestamp, conv_rate double"


@pytest.fixture(params=["sqlite", "redis"])
def late(request, spark, repo_factory, tmp_path):
    suffix = uuid.uuid4().hex[:6]
    names = {"table": f"late_{suffix}", "path": str(tmp_path / "late_parquet"), "table_c": f"late_c_{suffix}"}
    online = ""
    if request.param == "redis":
        server = request.getfixturevalue("clean_redis")
        online = redis_online_store(server.host, server.port)
    now = datetime.now(UTC).replace(microsecond=0)
    first = [(1001, now - timedelta(hours=2), 0.2224), (1002, now - timedelta(hours=3), 0.5)]
    spark.createDataFrame(first, SCHEMA).write.format("delta").saveAsTable(names["table"])
    spark.createDataFrame(first, SCHEMA).write.parquet(names["path"])
    spark.createDataFrame([(d, t, t, v) for d, t, v in first], "driver_id bigint, event_ts timestamp, "
                          "created timestamp, conv_rate double").write.format("delta").saveAsTable(names["table_c"])
    repo = repo_factory(DEFINITIONS.format(**names), online_store=online, project=f"p_{suffix}")
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    store.materialize_incremental(datetime.now(UTC), log=lambda m: None)
    assert online_values(store, "delta_stats") == [0.2224, 0.5, None]
    time.sleep(1.1)  # the next writes are later than the run's read by more than the 1 s allowance
    return spark, store, names, now


def online_values(store, view, drivers=(1001, 1002, 1009)):
    rows = [{"driver_id": d} for d in drivers]
    return store.get_online_features([f"{view}:conv_rate"], rows).to_dict()["conv_rate"]


def training_values(store, view, at, drivers=(1001, 1002, 1009)):
    entity_df = pd.DataFrame({"driver_id": list(drivers), "event_timestamp": [at] * len(drivers)})
    frame = store.get_historical_features(entity_df=entity_df, features=[f"{view}:conv_rate"]).to_df()
    by_driver = dict(zip(frame["driver_id"], frame["conv_rate"], strict=True))
    return [None if pd.isna(by_driver[d]) else by_driver[d] for d in drivers]


def rerun(store) -> datetime:
    end = datetime.now(UTC)
    store.materialize_incremental(end, log=lambda m: None)
    return end


def append(spark, names, rows, view="delta_stats"):
    frame = spark.createDataFrame(rows, SCHEMA)
    if view == "delta_stats":
        frame.write.format("delta").mode("append").saveAsTable(names["table"])
    elif view == "path_stats":
        frame.write.mode("append").parquet(names["path"])
    else:
        frame.selectExpr("driver_id", "event_ts", "current_timestamp() AS created", "conv_rate") \
            .write.format("delta").mode("append").saveAsTable(names["table_c"])


@pytest.mark.parametrize("view", ["delta_stats", "path_stats", "created_stats"])
def test_a_late_row_newer_than_the_stored_value_is_served(late, view):
    spark, store, names, now = late
    append(spark, names, [(1001, now - timedelta(minutes=10), 0.999)], view)  # the first run passed this time
    end = rerun(store)
    assert online_values(store, view) == training_values(store, view, end) == [0.999, 0.5, None]


def test_a_late_row_older_than_the_stored_value_changes_nothing(late):
    spark, store, names, now = late
    append(spark, names, [(1001, now - timedelta(hours=5), 0.111)])
    end = rerun(store)
    assert online_values(store, "delta_stats") == training_values(store, "delta_stats", end) == [0.2224, 0.5, None]


def test_a_late_row_older_than_the_ttl_is_not_served(late):
    spark, store, names, now = late
    append(spark, names, [(1009, now - timedelta(days=2), 0.9), (1002, now - timedelta(days=2), 0.9)])
    end = rerun(store)
    assert online_values(store, "delta_stats") == training_values(store, "delta_stats", end) == [0.2224, 0.5, None]


def test_a_row_rewritten_in_place_is_served(late):
    spark, store, names, _now = late
    spark.sql(f"UPDATE {names['table']} SET conv_rate = 0.777 WHERE driver_id = 1002")  # event time unchanged
    end = rerun(store)
    assert online_values(store, "delta_stats") == training_values(store, "delta_stats", end) == [0.2224, 0.777, None]


def test_the_rows_written_since_the_last_read_are_recorded_and_announced(late):
    _spark, store, _names, now = late
    read_at = store.get_feature_view("delta_stats").source_read_at
    assert read_at is not None and now - timedelta(minutes=5) < read_at < datetime.now(UTC)
    messages = []
    store.materialize_incremental(datetime.now(UTC), ["delta_stats"], log=messages.append)
    assert f"and the rows written since {read_at.isoformat()}" in messages[0]
    assert store.get_feature_view("delta_stats").source_read_at > read_at


def test_a_backfill_of_an_older_interval_keeps_the_late_row_mark(late):
    spark, store, names, now = late
    read_at = store.get_feature_view("delta_stats").source_read_at
    store.materialize(now - timedelta(days=3), now - timedelta(days=2), ["delta_stats"], log=lambda m: None)
    assert store.get_feature_view("delta_stats").source_read_at == read_at
    append(spark, names, [(1001, now - timedelta(minutes=10), 0.999)])
    end = rerun(store)
    assert online_values(store, "delta_stats") == training_values(store, "delta_stats", end) == [0.999, 0.5, None]
