"""Parquet written by plain pandas (`df.to_parquet(path)`: nanosecond timestamps) is read as Feast
reads it: each time converted exactly to Spark's microseconds, in apply, training sets and
materialization alike; a time with a sub-microsecond part fails, saying which and how to fix."""
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from featurestore.errors import RetrievalError
from featurestore.offline.sources import nanosecond_columns
from featurestore.store import FeatureStore

pytestmark = pytest.mark.spark
NOW = datetime.now(UTC).replace(microsecond=0)

VIEW = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, FileSource
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1),
    source=FileSource(name="src", path="data/stats.parquet", timestamp_field="event_ts",
                      created_timestamp_column="created"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
"""


def write_pandas_parquet(repo, times, zone="UTC"):
    (repo / "data").mkdir(exist_ok=True)
    frame = pd.DataFrame({"driver_id": [1] * len(times), "event_ts": pd.to_datetime(times),
                          "created": pd.to_datetime(times), "rate": [0.1 * (i + 1) for i in range(len(times))]})
    if zone:
        frame["event_ts"] = frame["event_ts"].dt.tz_localize(zone)
    frame.to_parquet(repo / "data" / "stats.parquet")  # pandas' default: nanosecond timestamps
    return repo / "data" / "stats.parquet"


@pytest.mark.parametrize("zone", ["UTC", None, "Europe/Oslo"])
def test_pandas_parquet_reads_exactly_in_training_and_online(spark, repo_factory, zone):
    repo = repo_factory(VIEW)
    base = pd.Timestamp(NOW.replace(tzinfo=None)) - pd.Timedelta(hours=2)
    if zone == "Europe/Oslo":  # the same instants, written as Oslo wall times
        base = base.tz_localize("UTC").tz_convert("Europe/Oslo").tz_localize(None)
    path = write_pandas_parquet(repo, [base, base + pd.Timedelta(microseconds=1), base + pd.Timedelta(hours=1)], zone)
    assert nanosecond_columns(str(path)) == ["event_ts", "created"]
    store = FeatureStore(repo)
    store.apply(None, partial=False)
    first = NOW - timedelta(hours=2)
    entities = pd.DataFrame({"driver_id": [1, 1, 1], "event_timestamp": [first, first + timedelta(microseconds=1),
                                                                         first + timedelta(microseconds=2)]})
    frame = store.get_historical_features(entities, ["stats:rate"]).to_df()
    assert frame["rate"].round(6).tolist() == [0.1, 0.2, 0.2]  # one microsecond apart, told apart
    store.materialize(NOW - timedelta(days=1), NOW)
    online = store.get_online_features(["stats:rate"], [{"driver_id": 1}]).to_dict()
    assert round(online["rate"][0], 6) == 0.3
    offline_now = store.get_historical_features(pd.DataFrame({"driver_id": [1], "event_timestamp": [NOW]}),
                                                ["stats:rate"]).to_df()
    assert offline_now["rate"].round(6).tolist() == [0.3]


def test_a_time_with_nanoseconds_fails_naming_it_and_the_fix(spark, repo_factory):
    repo = repo_factory(VIEW)
    base = pd.Timestamp(NOW.replace(tzinfo=None)) - pd.Timedelta(hours=2)
    write_pandas_parquet(repo, [base, base + pd.Timedelta(nanoseconds=1001)])
    store = FeatureStore(repo)
    store.apply(None, partial=False)
    with pytest.raises(RetrievalError) as error:
        store.get_historical_features(pd.DataFrame({"driver_id": [1], "event_timestamp": [NOW]}),
                                      ["stats:rate"]).to_df()
    nanos = (base + pd.Timedelta(nanoseconds=1001)).tz_localize("UTC").value
    assert (f"source 'src': column 'event_ts' of parquet path {repo / 'data' / 'stats.parquet'} holds a time with "
            f"nanoseconds ({nanos} ns since the epoch)") in str(error.value)
    assert "df['event_ts'] = df['event_ts'].dt.floor('us')" in str(error.value)
    assert "\n" not in str(error.value) and "SQLSTATE" not in str(error.value)
