"""Feast's older spellings (the driver-ranking tutorial's era), accepted as what they mean now;
no JVM: definitions and reference checks only."""
import warnings
from datetime import timedelta

import pytest

from featurestore import BigQuerySource, Entity, Feature, FeatureView, Field, SparkSource, ValueType
from featurestore.errors import DefinitionError
from featurestore.plan import check_references
from featurestore.registry import RegistryState
from featurestore.types import Array, Float32, Float64, Int64

SOURCE = SparkSource(name="stats", table="stats", timestamp_field="event_ts")


def test_value_types_are_the_feature_types_they_mean():
    assert (ValueType.FLOAT, ValueType.DOUBLE, ValueType.INT64, ValueType.FLOAT_LIST) == \
        (Float32, Float64, Int64, Array(Float32))


def test_feature_is_a_field_with_labels_as_tags():
    feature = Feature(name="conv_rate", dtype=ValueType.FLOAT, labels={"team": "a"})
    assert feature == Field(name="conv_rate", dtype=Float32, tags={"team": "a"})


def test_entity_join_key_and_value_type():
    assert Entity(name="driver", join_key="driver_id", value_type=ValueType.INT64).join_keys == ["driver_id"]
    with pytest.raises(DefinitionError, match="^Entity 'driver': give join_keys=.* or Feast's older join_key=, not both$"):
        Entity(name="driver", join_key="driver_id", join_keys=["driver_id"])
    with pytest.raises(DefinitionError, match="^Entity 'driver': value_type must be a featurestore.types type"):
        Entity(name="driver", join_key="driver_id", value_type="int")


def test_features_and_input_spell_schema_and_source():
    view = FeatureView(name="v", entities=["driver_id"], ttl=timedelta(days=1), input=SOURCE,
                       features=[Feature(name="conv_rate", dtype=ValueType.FLOAT)])
    assert (view.source, view.join_keys, view.pending_inference) == (SOURCE, ["driver_id"], "join keys")
    assert FeatureView(name="v", entities=["driver_id"], batch_source=SOURCE,
                       features=[Feature(name="conv_rate", dtype=ValueType.FLOAT)]).source == SOURCE
    with pytest.raises(DefinitionError, match="^FeatureView 'v': give one source"):
        FeatureView(name="v", entities=["driver_id"], source=SOURCE, input=SOURCE, schema=[])
    with pytest.raises(DefinitionError, match="^FeatureView 'v': give schema= or Feast's older features=, not both$"):
        FeatureView(name="v", entities=["driver_id"], source=SOURCE, schema=[], features=[])


def test_an_entity_named_by_string_must_be_keyed_by_its_name():
    view = FeatureView(name="v", entities=["driver"], source=SOURCE,
                       schema=[Field(name="driver", dtype=Int64), Field(name="conv_rate", dtype=Float32)])
    driver = Entity(name="driver", join_keys=["driver_id"])
    with pytest.raises(DefinitionError, match=r"^FeatureView 'v' joins on \['driver'\], but its entities \['driver'\] "
                                              r"have the join keys \['driver_id'\]; pass the Entity objects "
                                              r"\(entities=\[driver\]\) rather than their names$"):
        check_references(RegistryState(project="p", entities={"driver": driver}, feature_views={"v": view}))
    keyed_by_name = Entity(name="driver")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_references(RegistryState(project="p", entities={"driver": keyed_by_name}, feature_views={"v": view}))


def test_bigquery_sources_are_refused_with_the_spark_fix():
    with pytest.raises(DefinitionError, match=r"^BigQuerySource\(table_ref='proj.ds.t'\): featurestore reads no "
                                              r"BigQuery; .* SparkSource\(name=..., table='ds.t', "):
        BigQuerySource(table_ref="proj.ds.t", event_timestamp_column="ts")
