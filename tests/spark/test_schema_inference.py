"""Feast's schema inference: a FeatureView may leave its join keys out of schema=, or leave
schema= out; apply takes the missing fields and types from the source, plan shows what was
inferred, and training sets, materialization and online reads use the inferred schema."""
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.errors import DefinitionError
from featurestore.store import FeatureStore
from featurestore.types import Float32, Int64

pytestmark = pytest.mark.spark
NOW = datetime.now(UTC).replace(microsecond=0)

DEFINITIONS = """
from datetime import timedelta
from featurestore import Aggregation, Entity, FeatureService, FeatureView, Field, SparkSource
from featurestore.types import Float32, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
source = SparkSource(name="src", table="{table}", timestamp_field="event_ts", created_timestamp_column="created")
keys_left_out = FeatureView(name="keys_left_out", entities=[driver], ttl=timedelta(days=1), source=source,
    schema=[Field(name="conv_rate", dtype=Float32), Field(name="trips", dtype=Int64)])
no_schema = FeatureView(name="no_schema", entities=[driver], ttl=timedelta(days=1), source=source)
aggregated = FeatureView(name="aggregated", entities=[driver], ttl=timedelta(days=1), source=source,
    aggregations=[Aggregation(column="trips", function="sum", time_window=timedelta(days=1))])
service = FeatureService(name="service", features=[no_schema[["conv_rate", "label"]], keys_left_out])
everything = FeatureService(name="everything", features=[no_schema])
"""


@pytest.fixture
def store(spark, repo_factory):
    table = f"infer_{uuid.uuid4().hex[:6]}"
    spark.createDataFrame(
        [(1, NOW - timedelta(hours=2), NOW - timedelta(hours=2), 0.5, 10, "a", {"k": 1}),
         (1, NOW - timedelta(hours=1), NOW - timedelta(hours=1), 0.25, 20, "b", {"k": 2}),
         (2, NOW - timedelta(hours=1), NOW - timedelta(hours=1), 0.75, 5, "c", {"k": 3})],
        "driver_id bigint, event_ts timestamp, created timestamp, conv_rate float, trips bigint, label string, "
        "extras map<string,int>").write.format("delta").saveAsTable(table)
    return FeatureStore(repo_factory(DEFINITIONS.format(table=table)))


def test_plan_shows_what_is_inferred_and_apply_registers_it(store):
    plan = store.plan().render()
    assert "+ add    FeatureView         keys_left_out\n    schema inferred from the source: driver_id Int64 " \
           "(join key)" in plan
    assert ("    schema inferred from the source: driver_id Int64 (join key), conv_rate Float32, trips Int64, "
            "label String; left out, no feature type holds them: extras (map<string,int>)") in plan
    assert "    schema inferred from the source: driver_id Int64 (join key), trips Int64" in plan
    store.apply(None, partial=False)
    registry = store.registry
    schema = {name: [(f.name, f.dtype) for f in registry.feature_views[name].schema]
              for name in ("keys_left_out", "no_schema", "aggregated")}
    assert schema == {
        "keys_left_out": [("driver_id", Int64), ("conv_rate", Float32), ("trips", Int64)],
        "no_schema": [("driver_id", Int64), ("conv_rate", Float32), ("trips", Int64),
                      ("label", registry.feature_views["no_schema"].schema[3].dtype)],
        "aggregated": [("driver_id", Int64), ("trips", Int64)],
    }
    assert repr(schema["no_schema"][3][1]) == "String"
    assert registry.feature_services["service"].feature_refs() == [
        "no_schema:conv_rate", "no_schema:label", "keys_left_out:conv_rate", "keys_left_out:trips"]
    assert registry.feature_services["everything"].feature_refs() == [
        "no_schema:conv_rate", "no_schema:trips", "no_schema:label"]
    assert store.plan().is_empty()  # inferred again, the same: nothing to change


def test_inferred_views_train_materialize_and_serve_alike(store):
    store.apply(None, partial=False)
    entities = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [NOW, NOW]})
    training = store.get_historical_features(entities, ["no_schema:conv_rate", "no_schema:label",
                                                        "aggregated:trips_sum_1d"]).to_df()
    assert training[["driver_id", "conv_rate", "label", "trips_sum_1d"]].values.tolist() == \
        [[1, 0.25, "b", 30], [2, 0.75, "c", 5]]
    store.materialize(NOW - timedelta(days=1), NOW)
    online = store.get_online_features(["no_schema:conv_rate", "no_schema:label", "aggregated:trips_sum_1d"],
                                       [{"driver_id": 1}, {"driver_id": 2}]).to_dict()
    assert online == {"driver_id": [1, 2], "conv_rate": [0.25, 0.75], "label": ["b", "c"], "trips_sum_1d": [30, 5]}


def test_inference_needs_the_source_and_names_what_is_missing(store, spark):
    driver = Entity(name="driver", join_keys=["driver_id"])
    source = SparkSource(name="src", table=store.load_repo().data_sources["src"].table, timestamp_field="event_ts")
    pending = FeatureView(name="pending", entities=[driver], source=source)
    with pytest.raises(DefinitionError, match="FeatureView 'pending' leaves its schema to be inferred from its "
                                              "source, which needs the source read"):
        store.apply([driver, pending], validate=False)
    wrong_key = FeatureView(name="wrong_key", entities=[Entity(name="rider", join_keys=["rider_id"])], source=source,
                            schema=[Field(name="conv_rate", dtype=Float32)])
    with pytest.raises(Exception, match="column 'rider_id' is not in its source"):
        store.apply([Entity(name="rider", join_keys=["rider_id"]), wrong_key])
    missing = FeatureView(name="svc_view", entities=[driver], source=source)
    from featurestore import FeatureService

    with pytest.raises(DefinitionError, match="feature 'nope' that view 'svc_view' does not have"):
        store.apply([driver, missing, FeatureService(name="bad", features=[missing[["nope"]]])])
    assert not store.registry_store.exists()
