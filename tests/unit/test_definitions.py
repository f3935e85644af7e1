"""Definition classes: keyword-only, checked at construction, compared by value, protobuf round trip."""
import warnings
from datetime import timedelta

import pytest

from featurestore import Entity, FeatureService, FeatureView, Field, FileSource, SparkSource
from featurestore.definitions import DataSource
from featurestore.errors import DefinitionError, NotFoundError
from featurestore.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp

DRIVER = Entity(name="driver", join_keys=["driver_id"])
SOURCE = SparkSource(name="stats", table="default.driver_stats", timestamp_field="event_timestamp",
                     created_timestamp_column="created")


def view(**overrides):
    kwargs = dict(name="driver_stats", entities=[DRIVER], source=SOURCE, ttl=timedelta(hours=2),
                  schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32)])
    kwargs.update(overrides)
    return FeatureView(**kwargs)


def test_feast_style_long_ttl_round_trips():
    """Feast repos write timedelta(days=36500) for "never expire, but not zero"; it must fit the registry."""
    long_lived = view(ttl=timedelta(days=36500))
    assert FeatureView.from_proto(long_lived.to_proto()).ttl == timedelta(days=36500)
    assert FeatureView.from_proto(view(ttl=timedelta(microseconds=1)).to_proto()).ttl == timedelta(microseconds=1)


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        Entity("driver", ["driver_id"])


@pytest.mark.parametrize("make, message", [
    (lambda: Entity(name="driver id", join_keys=["driver_id"]), "Entity name 'driver id' is not a plain identifier"),
    (lambda: Entity(name="d", join_keys="driver_id"), "join_keys must be a non-empty list"),
    (lambda: Entity(name="d", join_keys=["a", "a"]), "join key 'a' is listed twice"),
    (lambda: Entity(name="d", join_keys=["x;drop"]), "join key 'x;drop' is not a plain identifier"),
    (lambda: Entity(name="d", tags={"a": 1}), "tags must be a dict of str to str"),
    (lambda: Field(name="x", dtype=float), "dtype must be a featurestore.types type"),
    (lambda: Field(name="x`y", dtype=Int64), "Field name 'x`y' is not a plain identifier"),
    (lambda: SparkSource(name="s", timestamp_field="ts"), "give exactly one of table=, query= or path=, got none"),
    (lambda: SparkSource(name="s", table="t", query="select 1", timestamp_field="ts"),
     "give exactly one of table=, query= or path=, got table, query"),
    (lambda: SparkSource(name="s", table="a.b.c", timestamp_field="ts"), "is not a valid table name"),
    (lambda: SparkSource(name="s", table="t'; drop", timestamp_field="ts"), "is not a valid table name"),
    (lambda: SparkSource(name="s", table="t"), "timestamp_field is required"),
    (lambda: SparkSource(name="s", path="/x", file_format="csv", timestamp_field="ts"), "file_format must be one of"),
    (lambda: SparkSource(name="s", table="t", file_format="delta", timestamp_field="ts"),
     "file_format applies to path= sources only"),
    (lambda: view(ttl=timedelta(seconds=-1)), "ttl must not be negative"),
    (lambda: view(ttl=timedelta(days=4_000_000)), "ttl 4000000 days, 0:00:00 is longer than the 10,000 years"),
    (lambda: view(schema=[Field(name="driver_id", dtype=Int64), Field(name="__fs_ts", dtype=Float64)]),
     "field name '__fs_ts' starts with '__fs_'"),
    (lambda: view(schema=[Field(name="driver_id", dtype=Array(Int64)), Field(name="conv_rate", dtype=Float32)]),
     r"join key 'driver_id' is declared Array\(Int64\); a join key must have a scalar type"),
    (lambda: view(ttl=3600), "ttl must be a datetime.timedelta"),
    (lambda: view(entities=[]), "entities must be a non-empty list of Entity objects"),
    (lambda: view(entities=[3]), "entities must be a non-empty list of Entity objects"),
    (lambda: view(schema=[Field(name="driver_id", dtype=Int64)]), "schema has no features besides the join keys"),
    (lambda: view(schema=[Field(name="driver_id", dtype=Int64), Field(name="a", dtype=Int64),
                          Field(name="a", dtype=Int64)]), "schema field 'a' is listed twice"),
    (lambda: view(schema=[Field(name="driver_id", dtype=Int64), Field(name="event_timestamp", dtype=UnixTimestamp)]),
     "the timestamp column 'event_timestamp' must not be a schema field"),
    (lambda: view(source="default.driver_stats"), "source must be a SparkSource, FileSource, PushSource or KafkaSource"),
    (lambda: view(online="yes"), "online must be True or False"),
    (lambda: FeatureService(name="svc", features=[]), "features must be a non-empty list"),
    (lambda: FeatureService(name="svc", features=["driver_stats:conv_rate"]),
     "is not a FeatureView, an OnDemandFeatureView or a view"),
    (lambda: FeatureService(name="svc", features=[view(), view()]), "feature view 'driver_stats' is listed twice"),
])
def test_bad_arguments_are_rejected_with_a_clear_message(make, message):
    with pytest.raises(DefinitionError, match=message):
        make()


def test_a_misspelt_join_key_of_an_aggregating_view_is_named_as_such():
    from featurestore import Aggregation

    driver = Entity(name="driver", join_keys=["driverid"])
    with pytest.raises(DefinitionError, match=r"^FeatureView 'trips': its entity's join key 'driverid' is not a field "
                                              r"of the schema, which has 'driver_id'; if the Entity's join_keys= is "
                                              r"misspelt, write 'driver_id' there"):
        FeatureView(name="trips", entities=[driver], source=SparkSource(name="s", table="t", timestamp_field="ts"),
                    schema=[Field(name="driver_id", dtype=Int64), Field(name="fare", dtype=Float32)],
                    aggregations=[Aggregation(column="fare", function="sum", time_window=timedelta(hours=1))])


def test_selecting_an_unknown_feature_suggests_the_closest():
    with pytest.raises(NotFoundError, match=r"feature view 'driver_stats' has no feature 'conv_rat' \(its features: "
                                            r"conv_rate\)\. Did "
                                            r"you mean 'conv_rate'\? If the view's field 'conv_rate' was renamed by "
                                            r"mistake, name it 'conv_rat' again in the view's schema\."):
        view()[["conv_rat"]]


def test_event_timestamp_column_is_a_deprecated_alias():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = SparkSource(name="s", table="t", event_timestamp_column="ts")
    assert source.timestamp_field == "ts"
    assert any(issubclass(w.category, DeprecationWarning) and "timestamp_field" in str(w.message) for w in caught)


def test_entity_defaults_and_equality():
    assert Entity(name="driver").join_keys == ["driver"]
    assert Entity(name="d", join_keys=["a"]) == Entity(name="d", join_keys=["a"])
    assert Entity(name="d", join_keys=["a"]) != Entity(name="d", join_keys=["b"])
    assert repr(DRIVER) == "Entity(name='driver', join_keys=['driver_id'])"


def test_every_definition_round_trips_through_protobuf():
    all_types = [Field(name=f"f_{i}", dtype=d, description="d", tags={"k": "v"}) for i, d in enumerate(
        [Int32, Int64, Float32, Float64, String, Bool, Bytes, UnixTimestamp, Array(Int32), Array(Int64),
         Array(Float32), Array(Float64), Array(String), Array(Bool), Array(Bytes), Array(UnixTimestamp)])]
    rich = view(schema=[Field(name="driver_id", dtype=Int64)] + all_types, tags={"team": "x"}, description="desc",
                online=False, ttl=timedelta(0))
    sources = [SOURCE, SparkSource(name="q", query="SELECT 1 AS x", timestamp_field="ts"),
               SparkSource(name="p", path="/data/x", file_format="delta", timestamp_field="ts",
                           field_mapping={"raw": "x"}),
               FileSource(name="f", path="/data/y.parquet", timestamp_field="ts")]
    for source in sources:
        assert DataSource.from_proto(source.to_proto()) == source
        assert type(DataSource.from_proto(source.to_proto())) is type(source)
    assert FeatureView.from_proto(rich.to_proto()) == rich
    assert [f.dtype for f in FeatureView.from_proto(rich.to_proto()).schema] == [f.dtype for f in rich.schema]
    service = FeatureService(name="svc", features=[rich[["f_0", "f_3"]]], tags={"a": "b"})
    assert FeatureService.from_proto(service.to_proto()) == service
    assert service.feature_refs() == ["driver_stats:f_0", "driver_stats:f_3"]
    assert Entity.from_proto(DRIVER.to_proto()) == DRIVER


def test_composite_entity_view_has_all_join_keys():
    customer = Entity(name="customer", join_keys=["customer_id"])
    pair = view(entities=[DRIVER, customer], schema=[Field(name="driver_id", dtype=Int64),
                                                      Field(name="customer_id", dtype=String),
                                                      Field(name="trips", dtype=Int32)])
    assert pair.join_keys == ["driver_id", "customer_id"]
    assert [f.name for f in pair.features] == ["trips"]


def test_array_takes_a_scalar_type():
    with pytest.raises(TypeError, match="Array\\(\\) takes a scalar type"):
        Array(Array(Int64))


def test_a_schema_without_join_keys_or_no_schema_waits_for_apply_to_infer_them():
    """As in Feast: apply fills in the missing fields from the source (tests/spark/test_schema_inference.py)."""
    keys_left_out = view(schema=[Field(name="conv_rate", dtype=Float32)])
    assert keys_left_out.pending_inference == "join keys"
    assert [f.name for f in keys_left_out.features] == ["conv_rate"]
    no_schema = view(schema=None)
    assert no_schema.pending_inference == "schema" and no_schema.features == []
    assert no_schema[["anything"]].features == ["anything"]  # checked against the inferred schema at apply
    assert view().pending_inference == ""


def test_feast_view_options_are_accepted_and_the_owner_is_kept():
    owned = view(owner="ml-team@example.com", offline=True, enable_validation=True, version="latest")
    assert FeatureView.from_proto(owned.to_proto()).owner == "ml-team@example.com"


@pytest.mark.parametrize("options, message", [
    (dict(version="v2"), "version='v2': featurestore keeps one version of a view, the latest"),
    (dict(offline="yes"), "offline must be True or False, got 'yes'"),
    (dict(enable_validation=1), "enable_validation must be True or False, got 1"),
])
def test_feast_view_options_asking_for_what_is_not_built_are_refused(options, message):
    with pytest.raises(DefinitionError, match=message.replace("(", r"\(")):
        view(**options)


@pytest.mark.parametrize("name", ["stats\n", "stats\r\n", "sta\nts"])
def test_names_are_matched_whole(name):
    """`stats` and `stats\\n` look the same in the catalog; the second is not a name."""
    with pytest.raises(DefinitionError, match="is not a plain identifier"):
        Entity(name=name, join_keys=["driver_id"])
    with pytest.raises(DefinitionError, match="not a valid table name"):
        SparkSource(name="s", table="db.t\n", timestamp_field="ts")
