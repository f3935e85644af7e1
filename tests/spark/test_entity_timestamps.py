"""Entity rows' times in every form a user passes them (Feast accepts them all): ISO-8601
strings with or without an offset, dates, naive pandas times (UTC) and pandas times in any
zone. Each means one UTC instant, finds the same feature rows, and comes back as a timestamp."""
import uuid
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from featurestore.store import FeatureStore

pytestmark = pytest.mark.spark

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=2),
    source=SparkSource(name="src", table="{table}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
"""
ELEVEN_UTC = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def store(spark, tmp_path_factory):
    from featurestore.testing.repos import write_repo

    table = f"entity_ts_{uuid.uuid4().hex[:6]}"
    # rate 0.1 from 10:00 UTC, 0.2 from 11:30 UTC: a row at 11:00 UTC must get 0.1
    spark.createDataFrame([(1, datetime(2026, 12, 2, 10, 0), 0.1), (1, datetime(2026, 12, 2, 11, 30), 0.2),
                           (1, datetime(2026, 12, 1, 0, 0), 0.05)],
                          "driver_id bigint, event_ts timestamp, rate double").write.format("delta").saveAsTable(table)
    store = FeatureStore(write_repo(tmp_path_factory.mktemp("entity_ts") / "repo", DEFINITIONS.format(table=table)))
    store.apply(None, partial=False)
    return store


def training_rows(store, entity_df):
    frame = store.get_historical_features(entity_df, ["stats:rate"]).to_spark_df()
    return frame.schema["event_timestamp"].dataType.simpleString(), [tuple(r) for r in frame.collect()]


@pytest.mark.parametrize("given", ["2026-12-02 11:00:00", "2026-12-02T11:00:00", "2026-12-02T11:00:00Z",
                                   "2026-12-02T12:00:00+01:00", "2026-12-02T06:00:00-05:00"])
def test_string_times_are_instants_and_come_back_as_timestamps(spark, store, given):
    entities = spark.createDataFrame([(1, given)], "driver_id bigint, event_timestamp string")
    kind, rows = training_rows(store, entities)
    assert kind == "timestamp"
    assert rows == [(1, ELEVEN_UTC.replace(tzinfo=None), 0.1)]


def test_a_date_means_midnight_utc_and_comes_back_as_a_timestamp(spark, store):
    entities = spark.createDataFrame([(1, date(2026, 12, 2))], "driver_id bigint, event_timestamp date")
    kind, rows = training_rows(store, entities)
    assert kind == "timestamp" and rows == [(1, datetime(2026, 12, 2, 0, 0), 0.05)]


@pytest.mark.parametrize("times", [
    pd.Series([pd.Timestamp("2026-12-02 11:00:00")]),                                  # naive: UTC
    pd.Series([pd.Timestamp("2026-12-02 12:00:00", tz="Europe/Oslo")]),                # UTC+1 in December
    pd.Series([pd.Timestamp("2026-12-02 20:00:00", tz="Asia/Tokyo")]),                 # UTC+9
    pd.Series([pd.Timestamp("2026-12-02 06:00:00", tz="America/New_York")]),           # UTC-5
    pd.Series(["2026-12-02T12:00:00+01:00"]),                                          # a string column
])
def test_pandas_times_in_any_zone_are_the_same_instant(store, times):
    kind, rows = training_rows(store, pd.DataFrame({"driver_id": [1], "event_timestamp": times}))
    assert kind == "timestamp" and rows == [(1, ELEVEN_UTC.replace(tzinfo=None), 0.1)]
    frame = store.get_historical_features(pd.DataFrame({"driver_id": [1], "event_timestamp": times}),
                                          ["stats:rate"]).to_df()
    assert frame["event_timestamp"].tolist() == [pd.Timestamp(ELEVEN_UTC)]
