"""Feast's Json, Map and Struct types: declaration, registry round trip, checks, and the online
encoding (Feast's Value message shapes), including a randomized round trip."""
import json
import random

import pytest

from featurestore import Field
from featurestore.errors import ValidationError
from featurestore.online.codec import decode_value, encode_value
from featurestore.protos.value_pb2 import Value
from featurestore.types import Array, Bool, Float64, Int64, Json, Map, String, Struct, from_spark_type
from featurestore.values import normalizer

PROFILE = Struct({"name": String, "age": Int64})


def test_types_accept_the_spark_columns_that_hold_them():
    assert Map.accepts_spark_type("map<string,int>") and Map.accepts_spark_type("struct<a:string>")
    assert not Map.accepts_spark_type("string") and Json.accepts_spark_type("string")
    assert PROFILE.accepts_spark_type("struct<name:string,age:bigint>")
    assert not PROFILE.accepts_spark_type("struct<age:bigint,name:string>")  # fields in their order
    assert not PROFILE.accepts_spark_type("struct<name:string,age:string>")
    assert Struct({"tags": Array(String), "m": Map}).accepts_spark_type("struct<tags:array<string>,m:map<string,int>>")
    assert from_spark_type("map<string,int>") is None  # inference leaves them out: declare them


def test_fields_round_trip_through_the_registry_and_compare_by_their_members():
    field = Field(name="profile", dtype=PROFILE)
    assert Field.from_proto(field.to_proto()) == field
    assert Field(name="profile", dtype=Struct({"name": String})) != field  # plan sees a changed struct
    for dtype in (Map, Json):
        assert Field.from_proto(Field(name="x", dtype=dtype).to_proto()).dtype == dtype
    with pytest.raises(TypeError, match=r"Array\(\) takes a scalar type such as Int64, got Json"):
        Array(Json)


def test_values_are_feasts_value_messages():
    message = Value.FromString(encode_value({"rating": "4.5", "trips": 3}, Map))
    assert message.WhichOneof("val") == "map_val"
    assert message.map_val.val["rating"].string_val == "4.5" and message.map_val.val["trips"].int64_val == 3
    message = Value.FromString(encode_value({"name": "ann", "age": 40}, PROFILE))
    assert message.WhichOneof("val") == "struct_val" and message.struct_val.val["age"].int64_val == 40
    assert Value.FromString(encode_value('{"a": 1}', Json)).json_val == '{"a": 1}'
    assert encode_value(None, Map) == encode_value(None, Json) == encode_value(None, PROFILE) == b""


@pytest.mark.parametrize("value, dtype, message", [
    ("{bad", Json, "is not JSON text"),
    ({1: "a"}, Map, "map key 1 is not a string"),
    ({"a": object()}, Map, "has no feature type"),
    ({"a": [1, "x"]}, Map, "mixes types"),
    ({"name": "ann"}, PROFILE, "does not have the struct's fields name, age"),
    ({"name": "ann", "age": "forty"}, PROFILE, "struct field 'age'"),
])
def test_values_that_do_not_fit_are_named(value, dtype, message):
    with pytest.raises(ValidationError, match=message):
        encode_value(value, dtype)


def _random_value(rng: random.Random, depth: int = 0):
    kind = rng.choice(["str", "int", "float", "bool", "none", "list", "map"] if depth < 2 else ["str", "int"])
    if kind == "str":
        return "".join(rng.choice("abé\u2603 ") for _ in range(rng.randint(0, 5)))
    if kind == "int":
        return rng.randint(-2**63, 2**63 - 1)
    if kind == "float":
        return rng.uniform(-1e6, 1e6)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "list":
        return [rng.randint(-5, 5) for _ in range(rng.randint(0, 3))]
    return {f"k{i}": _random_value(rng, depth + 1) for i in range(rng.randint(0, 3))}


def test_randomized_round_trip_equals_the_normalized_value():
    """Reference: the value as normalizer() holds it in Python (what a training set gives)."""
    rng = random.Random(7)
    for _ in range(500):
        value = {f"key{i}": _random_value(rng) for i in range(rng.randint(0, 4))}
        assert decode_value(encode_value(value, Map)) == normalizer(Map)(value)
        text = json.dumps(value)
        assert decode_value(encode_value(text, Json)) == text
        person = {"name": _random_value(rng) if rng.random() < 0.2 else "x", "age": rng.randint(0, 99)}
        if not isinstance(person["name"], (str, type(None))):
            continue
        assert decode_value(encode_value(person, PROFILE)) == {"age": person["age"], "name": person["name"]}


def test_struct_members_of_every_scalar_type():
    dtype = Struct({"f": Float64, "b": Bool, "tags": Array(String)})
    assert decode_value(encode_value({"f": 0.5, "b": True, "tags": ["x"]}, dtype)) == {"b": True, "f": 0.5,
                                                                                       "tags": ["x"]}


def test_online_stores_give_back_what_was_written(online_config, repo_factory):
    """SQLite and Redis hold the encoded values; reads decode them to dicts and JSON text."""
    import time
    import uuid

    from featurestore.online.base import OnlineRow
    from featurestore.online.codec import serialize_entity_key
    from featurestore.store import FeatureStore

    definitions = '''
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.types import Int64, Json, Map, String, Struct
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(0),
    source=SparkSource(name="src", table="t", timestamp_field="ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="meta", dtype=Map), Field(name="config", dtype=Json),
            Field(name="profile", dtype=Struct({"name": String, "age": Int64}))])
'''
    store = FeatureStore(repo_factory(definitions, online_store=online_config, project=f"p_{uuid.uuid4().hex[:6]}"))
    store.apply(None, partial=False, validate=False)
    view = store.get_feature_view("stats")
    values = {"meta": {"rating": "4.5", "trips": 3}, "config": '{"zones": ["north"]}',
              "profile": {"name": "ann", "age": 40}}
    encoded = {f.name: encode_value(values[f.name], f.dtype) for f in view.features}
    key = serialize_entity_key(["driver_id"], [7], [Int64])
    store.online_store.online_write_batch(store.project, view, [OnlineRow(key, encoded, int(time.time() * 1e6), 0)])
    read = store.get_online_features(["stats:meta", "stats:config", "stats:profile"], [{"driver_id": 7}]).to_dict()
    assert read == {"driver_id": [7], "meta": [{"rating": "4.5", "trips": 3}], "config": ['{"zones": ["north"]}'],
                    "profile": [{"age": 40, "name": "ann"}]}
