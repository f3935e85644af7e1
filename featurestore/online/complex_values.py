"""Feast's complex feature types in the online store: Json, Map and Struct values.

    Json    '{"a": 1}'                  Value(json_val='{"a": 1}')
    Map     {"rating": "4.5", "n": 3}   Value(map_val=Map(val={"rating": Value(string_val="4.5"),
                                                               "n": Value(int64_val=3)}))
    Struct  {"name": "ann", "age": 40}  Value(struct_val=Map(val=...)), each field as its declared type

Feast's Map holds values of any type, so each entry is typed by its Python value (str,
bool, int as Int64, float as Float64, bytes, a UTC datetime, a nested dict, or a list of
one of those scalars). A struct's fields are typed by the declaration. Decoding
(online/codec.py) gives back dicts of Python values in key order, which is what a training
set holds for the same columns (Spark maps and structs arrive in Python as dicts).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from featurestore.online.feast_time import fill_timestamp
from featurestore.protos.value_pb2 import Value
from featurestore.types import FeatureType, Json, Map, StructType
from featurestore.values import Mismatch, describe, normalizer, to_micros


def complex_encoder(dtype: FeatureType, typed_value: Callable[..., Value]) -> Callable[[Any], bytes] | None:
    """value -> serialized Value (b"" for null) for Json, Map and Struct; None for other types.
    typed_value(value, dtype, what) is the codec's Value of a declared type (a struct's fields)."""
    convert = normalizer(dtype)
    if dtype == Json:
        def encode_json(value) -> bytes:
            text = convert(value)
            return b"" if text is None else Value(json_val=text).SerializeToString()
        return encode_json
    if dtype == Map:
        def encode_map(value) -> bytes:
            entries = convert(value)
            if entries is None:
                return b""
            message = Value()
            _fill(message.map_val, {key: _untyped_value(item) for key, item in entries.items()})
            return message.SerializeToString()
        return encode_map
    if isinstance(dtype, StructType):
        def encode_struct(value) -> bytes:
            fields = convert(value)
            if fields is None:
                return b""
            message = Value()
            _fill(message.struct_val, {name: typed_value(item, dtype.fields[name], f"struct field {name!r}")
                                       for name, item in fields.items()})
            return message.SerializeToString()
        return encode_struct
    return None


def _fill(map_message, values: dict[str, Value]) -> None:
    map_message.SetInParent()  # an empty map is a value, not a null
    for key, value in values.items():
        map_message.val[key].CopyFrom(value)


def _untyped_value(value) -> Value:
    """A Map entry's Value, typed by the Python value itself (Feast's Map holds any type)."""
    if value is None:
        return Value()
    if isinstance(value, bool):
        return Value(bool_val=value)
    if isinstance(value, int):
        return Value(int64_val=value)
    if isinstance(value, float):
        return Value(double_val=value)
    if isinstance(value, str):
        return Value(string_val=value)
    if isinstance(value, (bytes, bytearray)):
        return Value(bytes_val=bytes(value))
    if isinstance(value, datetime):
        return fill_timestamp(Value(), to_micros(value))
    if isinstance(value, dict):
        message = Value()
        _fill(message.map_val, {str(k): _untyped_value(v) for k, v in value.items()})
        return message
    if isinstance(value, (list, tuple)):
        return _untyped_list(list(value))
    raise Mismatch(f"map value {describe(value)} has no feature type; use strings, numbers, booleans, bytes, "
                   f"datetimes, nested maps or lists of one of those")


_LIST_FIELDS = ((bool, "bool_list_val"), (int, "int64_list_val"), (float, "double_list_val"),
                (str, "string_list_val"), (bytes, "bytes_list_val"))


def _untyped_list(items: list) -> Value:
    for kind, field in _LIST_FIELDS:
        if all(type(item) is kind for item in items):
            message = Value()
            getattr(message, field).val.extend(items)
            return message
    raise Mismatch(f"map value {items!r} mixes types; a list in a map holds one scalar type")
