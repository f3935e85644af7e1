"""The online store never serves what get_historical_features would not, after a definition changes.

Rule (featurestore/apply.py): when apply changes a view's source, join keys or features,
or takes it offline, the view's online values and materialized intervals are removed and
`plan` says so; other changes (description, tags, ttl) keep them. Checked on both stores.
"""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from featurestore.store import FeatureStore

pytestmark = pytest.mark.spark
UTC = UTC
EVENT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

VIEW = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.types import Float64, Int64, String
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1), description="{description}",
    source=SparkSource(name="src", table="{table}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), {fields}])
"""
RATE = 'Field(name="rate", dtype=Float64)'
RATE_AND_CITY = 'Field(name="rate", dtype=Float64), Field(name="city", dtype=String)'


@pytest.fixture(scope="module")
def tables(spark):
    """Two source tables with different values for driver 1: 100.0 in the first, 200.0 in the second."""
    names = []
    for rate, city in ((100.0, "Oslo"), (200.0, "Rome")):
        name = f"dc_{uuid.uuid4().hex[:8]}"
        spark.createDataFrame([(1, EVENT, rate, city)], "driver_id bigint, event_ts timestamp, rate double, city string") \
            .write.format("delta").saveAsTable(name)
        names.append(name)
    return names


@pytest.fixture
def make_store(online_config, repo_factory):
    online = online_config
    project = f"p_{uuid.uuid4().hex[:6]}"

    def make(table, fields=RATE, description="v1"):
        path = repo_factory(VIEW.format(table=table, fields=fields, description=description), project=project,
                            online_store=online)
        return FeatureStore(path)
    return make


def online_and_offline(store, feature):
    """(online value, status) and the offline value at the same moment, for driver 1."""
    response = store.get_online_features([f"stats:{feature}"], [{"driver_id": 1}])
    online = (response.to_dict()[feature][0], response.statuses()[feature][0])
    entity = store.spark.createDataFrame([(1, datetime.now(UTC))], "driver_id bigint, event_timestamp timestamp")
    offline = store.get_historical_features(entity, [f"stats:{feature}"]).to_df()[feature][0]
    return online, offline


def test_a_changed_source_restarts_materialization(make_store, tables):
    store = make_store(tables[0])
    store.apply(store.load_repo(), partial=False)
    store.materialize_incremental(datetime.now(UTC), log=lambda _: None)
    assert online_and_offline(store, "rate") == ((100.0, "PRESENT"), 100.0)

    store = make_store(tables[1])
    plan = store.plan(store.load_repo()).render()
    assert "materialization of stats will restart: its source changed" in plan
    diff = store.apply(store.load_repo(), partial=False)
    assert [c.restart for c in diff.restarted()] == ["its source changed"]
    assert store.get_feature_view("stats").materialization_intervals == []
    assert online_and_offline(store, "rate") == ((None, "NOT_FOUND"), 200.0)  # never the old table's 100.0
    store.materialize_incremental(datetime.now(UTC), log=lambda _: None)
    assert online_and_offline(store, "rate") == ((200.0, "PRESENT"), 200.0)


def test_an_added_feature_restarts_materialization_so_incremental_fills_it(make_store, tables):
    store = make_store(tables[0])
    store.apply(store.load_repo(), partial=False)
    store.materialize_incremental(datetime.now(UTC), log=lambda _: None)

    store = make_store(tables[0], fields=RATE_AND_CITY)
    assert "materialization of stats will restart: its features changed" in store.plan(store.load_repo()).render()
    store.apply(store.load_repo(), partial=False)
    results = store.materialize_incremental(datetime.now(UTC), log=lambda _: None)
    assert results[0].rows_written == 1  # not "nothing to do"
    assert online_and_offline(store, "city") == (("Oslo", "PRESENT"), "Oslo")
    assert online_and_offline(store, "rate") == ((100.0, "PRESENT"), 100.0)


def test_a_description_change_keeps_values_and_history(make_store, tables):
    store = make_store(tables[0])
    store.apply(store.load_repo(), partial=False)
    store.materialize_incremental(datetime.now(UTC), log=lambda _: None)
    intervals = store.get_feature_view("stats").materialization_intervals

    store = make_store(tables[0], description="v2")
    plan = store.plan(store.load_repo()).render()
    assert "~ change FeatureView         stats" in plan and "restart" not in plan
    store.apply(store.load_repo(), partial=False)
    assert store.get_feature_view("stats").materialization_intervals == intervals
    assert online_and_offline(store, "rate") == ((100.0, "PRESENT"), 100.0)
