"""Feast's entity-less retrieval: get_historical_features(features=..., start_date=..., end_date=...)
without an entity frame: every source row in the range is an entity row, with its
point-in-time features (exact rows, beside the same retrieval with those rows given)."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from featurestore.errors import RetrievalError
from featurestore.store import FeatureStore

pytestmark = pytest.mark.spark
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
rider = Entity(name="rider", join_keys=["rider_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(hours=3),
    source=SparkSource(name="stats_src", table="{stats}", timestamp_field="event_ts",
                       created_timestamp_column="created"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
ratings = FeatureView(name="ratings", entities=[rider], ttl=timedelta(hours=3),
    source=SparkSource(name="ratings_src", table="{ratings}", timestamp_field="event_ts"),
    schema=[Field(name="rider_id", dtype=Int64), Field(name="stars", dtype=Float64)])
forever = FeatureView(name="forever", entities=[driver], ttl=timedelta(0),
    source=SparkSource(name="stats_src", table="{stats}", timestamp_field="event_ts",
                       created_timestamp_column="created"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
"""


@pytest.fixture(scope="module")
def store(spark, tmp_path_factory):
    from featurestore.testing.repos import write_repo

    suffix = uuid.uuid4().hex[:6]
    stats, ratings = f"el_stats_{suffix}", f"el_ratings_{suffix}"
    naive = [t.replace(tzinfo=None) for t in (T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2))]
    spark.createDataFrame(
        [(1, naive[0], naive[0], 0.1), (1, naive[0], naive[0] + timedelta(minutes=5), 0.15),  # a corrected row
         (1, naive[1], naive[1], 0.2), (2, naive[2], naive[2], 0.3), (2, naive[0] - timedelta(days=1),
                                                                      naive[0] - timedelta(days=1), 0.9)],
        "driver_id bigint, event_ts timestamp, created timestamp, rate double").write.format("delta").saveAsTable(stats)
    spark.createDataFrame([(7, naive[1], 4.0)], "rider_id bigint, event_ts timestamp, stars double") \
        .write.format("delta").saveAsTable(ratings)
    store = FeatureStore(write_repo(tmp_path_factory.mktemp("el") / "repo",
                                    DEFINITIONS.format(stats=stats, ratings=ratings)))
    store.apply(None, partial=False)
    return store


def rows(job):
    return sorted((tuple(r) for r in job.to_spark_df().collect()), key=repr)


def test_every_source_row_in_the_range_with_its_point_in_time_features(store):
    job = store.get_historical_features(features=["stats:rate"], start_date=T0, end_date=T0 + timedelta(hours=2))
    at = [t.replace(tzinfo=None) for t in (T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2))]
    # the row of the day before is outside the range; the corrected row at T0 is one entity row, and wins
    assert rows(job) == sorted([(1, at[0], 0.15), (1, at[1], 0.2), (2, at[2], 0.3)], key=repr)
    assert job.definition["entity_source"]["type"] == "sources"


def test_views_on_different_entities_give_rows_of_each(store):
    job = store.get_historical_features(features=["stats:rate", "ratings:stars"], start_date=T0,
                                        end_date=T0 + timedelta(hours=1))
    at = [T0.replace(tzinfo=None), (T0 + timedelta(hours=1)).replace(tzinfo=None)]
    assert rows(job) == sorted([(1, None, at[0], 0.15, None), (1, None, at[1], 0.2, None),
                                (None, 7, at[1], None, 4.0)], key=repr)


def test_start_defaults_to_end_minus_the_longest_ttl_and_is_needed_for_ttl_0(store):
    end = T0 + timedelta(hours=2)
    assert rows(store.get_historical_features(features=["stats:rate"], end_date=end)) == \
        rows(store.get_historical_features(features=["stats:rate"], start_date=end - timedelta(hours=3),
                                           end_date=end))
    with pytest.raises(RetrievalError, match="needs start_date when a requested view keeps values forever"):
        store.get_historical_features(features=["forever:rate"], end_date=end)
    with pytest.raises(RetrievalError, match="pass entity_df or start_date/end_date, not both"):
        store.get_historical_features("SELECT 1 AS driver_id", ["stats:rate"], start_date=T0)
