"""A view's ttl is an exact duration everywhere: offline bounds, online max age, incremental start.

Regression: the join used whole seconds, so a 1 us ttl meant "no limit" offline while
the online read said OUTSIDE_MAX_AGE, and 1.5 s was cut to 1 s. Feast-style 100-year
ttls ("never expire, but not zero") must work offline and online without overflowing.
"""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from featurestore.store import FeatureStore
from featurestore.types import Float64, Int64
from tests.offline_helpers import historical, naive, t, table_view

pytestmark = pytest.mark.spark
UTC = UTC
ENTITY_SCHEMA = "driver_id bigint, event_timestamp timestamp"
US = timedelta(microseconds=1)


@pytest.mark.parametrize("ttl", [US, timedelta(milliseconds=500), timedelta(seconds=1.5)])
@pytest.mark.parametrize("strategy", ["window", "range_join"])
def test_sub_second_ttl_bounds_are_exact_and_inclusive(spark, ttl, strategy):
    view = table_view(spark, "short", {"driver_id": Int64}, {"rate": Float64}, [(1, t(9), t(9), 0.5)], ttl=ttl)
    entities = spark.createDataFrame([(1, t(9) + ttl), (1, t(9) + ttl + US), (1, t(9, 30))], ENTITY_SCHEMA)
    rows = historical(spark, entities, [view], ["short:rate"], strategy=strategy).collect()
    assert sorted((r.event_timestamp, r.rate) for r in rows) == [
        (naive(t(9) + ttl), 0.5),        # exactly ts - ttl: inclusive
        (naive(t(9) + ttl + US), None),  # one microsecond past the ttl
        (naive(t(9, 30)), None),         # 30 minutes old
    ]


@pytest.mark.parametrize("strategy", ["window", "range_join"])
def test_hundred_year_ttl_reaches_back_a_century_and_no_further(spark, strategy):
    century = timedelta(days=36500)
    rows = [(1, datetime(1950, 1, 1, tzinfo=UTC), None, 0.1), (2, datetime(1900, 1, 1, tzinfo=UTC), None, 0.2)]
    view = table_view(spark, "century", {"driver_id": Int64}, {"rate": Float64}, rows, ttl=century)
    entities = spark.createDataFrame([(1, t(9)), (2, t(9)), (1, datetime(1, 1, 2, tzinfo=UTC))], ENTITY_SCHEMA)
    result = historical(spark, entities, [view], ["century:rate"], strategy=strategy).collect()
    assert sorted((r.driver_id, r.event_timestamp.year, r.rate) for r in result) == [
        (1, 1, None), (1, 2026, 0.1), (2, 2026, None)]


TTL_VIEW = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl={ttl},
    source=SparkSource(name="src", table="{table}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
"""



@pytest.mark.parametrize("ttl, event, expected", [
    ("timedelta(microseconds=1)", timedelta(minutes=30), (None, "OUTSIDE_MAX_AGE")),
    ("timedelta(days=36500)", timedelta(days=365 * 76), (0.5, "PRESENT")),
])
def test_online_and_offline_agree_on_exact_ttls(spark, repo_factory, online_config, ttl, event, expected):
    now = datetime.now(UTC).replace(microsecond=0)
    table = f"ttl_{uuid.uuid4().hex[:8]}"
    spark.createDataFrame([(1, now - event, 0.5)], "driver_id bigint, event_ts timestamp, rate double") \
        .write.format("delta").saveAsTable(table)
    store = FeatureStore(repo_factory(TTL_VIEW.format(ttl=ttl, table=table), online_store=online_config))
    store.apply(store.load_repo(), partial=False)
    if event < timedelta(days=1):
        store.materialize(now - timedelta(days=1), now, log=lambda _: None)
    else:  # the first incremental run starts at now - ttl: here 1926, which must not overflow
        store.materialize_incremental(now, log=lambda _: None)
    response = store.get_online_features(["stats:rate"], [{"driver_id": 1}])
    assert (response.to_dict()["rate"][0], response.statuses()["rate"][0]) == expected
    entity = spark.createDataFrame([(1, now)], ENTITY_SCHEMA)
    assert [r.rate for r in store.get_historical_features(entity, ["stats:rate"]).to_spark_df().collect()] == \
        [expected[0]]
