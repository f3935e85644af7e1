"""Python values <-> the bytes the online stores hold: typed Value messages and entity keys.

Encoding is driven by the declared FeatureType, not by the Python type of the value, so
that a key written from Spark (where an Int64 arrives as int) and a key read at serving
time (where it may arrive as a numpy int64) serialize to the same bytes, and so that
int 1 and string "1" never collide. A value that does not fit its declared type is
rejected instead of being silently converted.

Which Python values fit which type (nulls, ranges, Float32 rounding, timestamps as int64
microseconds since the epoch, UTC) is featurestore.values' rule; decoding returns aware UTC
datetimes.

The bytes are Feast's (issue #38): a value is Feast's Value message (featurestore/protos/value.proto,
timestamps as seconds with the microseconds beside them: online/feast_time.py), an entity key
Feast's serialization version 3 (below), so Feast's online stores and featurestore's read each
other's rows.

Speed (issue #15): online reads serialize a key per entity row and decode every value they
return. Plain ints, strings and bools are written, and plain scalars read, straight on the
wire (value_encoder's fast path, decode_value, decode_values), byte for byte as protobuf does
(tests/unit/test_online_speed_codec.py), ~0.1-0.2 us each; everything else keeps going through
the generated classes. Keys of plain ints and strings are packed directly.
"""
from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any

from featurestore.errors import RetrievalError, ValidationError
from featurestore.online.feast_time import (
    MICROS_PER_SECOND,
    fill_timestamp,
    fill_timestamp_list,
    timestamp_list_micros,
    timestamp_micros,
)
from featurestore.protos import value_pb2
from featurestore.protos.value_pb2 import Value
from featurestore.types import FeatureType
from featurestore.values import (  # noqa: F401 - datetime_to_micros: named here too, where callers look for it
    FLOAT32_MAX,
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    Mismatch,
    convert_list,
    datetime_to_micros,
    is_missing,
    is_null_for_float,
    micros_to_datetime,
    to_bool,
    to_bytes,
    to_float32,
    to_float64,
    to_int32,
    to_int64,
    to_micros,
    to_string,
)

# ValueType -> (the Value field that holds it, the conversion of one Python value).
_SCALARS: dict[int, tuple[str, Callable[[Any], Any]]] = {
    value_pb2.INT32: ("int32_val", to_int32),
    value_pb2.INT64: ("int64_val", to_int64),
    value_pb2.FLOAT32: ("float_val", to_float32),
    value_pb2.FLOAT64: ("double_val", to_float64),
    value_pb2.STRING: ("string_val", to_string),
    value_pb2.BOOL: ("bool_val", to_bool),
    value_pb2.BYTES: ("bytes_val", to_bytes),
    value_pb2.UNIX_TIMESTAMP: ("unix_timestamp_val", to_micros),
}
# List ValueType -> (the Value field holding the list, the conversion of one element): each
# list type is its scalar's number + 10, its field the scalar's with "_list" (value.proto).
_LISTS: dict[int, tuple[str, Callable[[Any], Any]]] = {
    value_type + 10: (field.replace("_val", "_list_val"), convert) for value_type, (field, convert) in _SCALARS.items()}
_FLOAT_TYPES = {value_pb2.FLOAT32, value_pb2.FLOAT64}


# --- encoders, one per type, built once --------------------------------------------------------

_ONE_BYTE_VARINTS = [bytes((number,)) for number in range(0x80)]


def _varint(number: int) -> bytes:
    """Protobuf's base-128 varint; negative numbers as their 64-bit two's complement (10 bytes)."""
    if 0 <= number < 0x20_0000:  # lengths and most keys fit three bytes
        if number < 0x80:
            return _ONE_BYTE_VARINTS[number]
        if number < 0x4000:
            return bytes(((number & 0x7F) | 0x80, number >> 7))
        return bytes(((number & 0x7F) | 0x80, ((number >> 7) & 0x7F) | 0x80, number >> 14))
    if number < 0:
        number += 1 << 64
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _tag(field: str, wire_type: int) -> bytes:
    return _varint((Value.DESCRIPTOR.fields_by_name[field].number << 3) | wire_type)


_PACK_DOUBLE, _PACK_FLOAT = struct.Struct("<d").pack, struct.Struct("<f").pack


def _fast_path(value_type: int) -> tuple[type, Callable[[Any], bytes]] | None:
    """The wire bytes of a Value holding one plain Python scalar, written directly.

    Materialization encodes every value of every row, and building a message per value
    costs ~10x more than this. The bytes are exactly protobuf's (field tag + payload, see
    tests/unit/test_codec.py, which compares both on many values); anything but the plain
    Python type takes the checked path through the generated class.
    """
    field = _SCALARS[value_type][0]
    if field == "double_val":
        tag = _tag(field, 1)
        return float, lambda v: tag + _PACK_DOUBLE(v)
    if field == "float_val":
        tag = _tag(field, 5)
        return float, lambda v: tag + _PACK_FLOAT(v) if not (math.isfinite(v) and abs(v) > FLOAT32_MAX) else None
    if field in ("int64_val", "int32_val"):
        tag = _tag(field, 0)
        low, high = (INT64_MIN, INT64_MAX) if field == "int64_val" else (INT32_MIN, INT32_MAX)
        return int, lambda v: tag + _varint(v) if low <= v <= high else None
    if field == "string_val":
        tag = _tag(field, 2)

        def string(v):
            data = v.encode("utf-8")
            return tag + _varint(len(data)) + data
        return str, string
    if field == "bool_val":
        true, false = _tag(field, 0) + b"\x01", _tag(field, 0) + b"\x00"
        return bool, lambda v: true if v else false
    return None


def _scalar_encoder(value_type: int) -> Callable[[Any], bytes]:
    field, convert = _SCALARS[value_type]
    is_null = is_null_for_float if value_type in _FLOAT_TYPES else is_missing
    fast = _fast_path(value_type)

    def encode_message(value) -> bytes:
        if is_null(value):
            return b""
        message = Value()
        if value_type == value_pb2.UNIX_TIMESTAMP:
            fill_timestamp(message, convert(value))
        else:
            setattr(message, field, convert(value))
        return message.SerializeToString()

    if fast is None:
        return encode_message
    plain_type, encode_plain = fast

    def encode(value) -> bytes:
        if type(value) is plain_type:
            data = encode_plain(value)
            if data is not None:
                return data
        return encode_message(value)  # None, numpy, out of range...: checked and explained there

    return encode


def _list_encoder(value_type: int) -> Callable[[Any], bytes]:
    field, convert = _LISTS[value_type]

    def encode(value) -> bytes:
        if value is None or (not hasattr(value, "__iter__") and is_missing(value)):
            return b""
        message = Value()
        if value_type == value_pb2.UNIX_TIMESTAMP_LIST:
            fill_timestamp_list(message, convert_list(value, convert))
        else:
            getattr(message, field).val.extend(convert_list(value, convert))
        return message.SerializeToString()

    return encode


_ENCODERS: dict[int, Callable[[Any], bytes]] = {
    **{value_type: _scalar_encoder(value_type) for value_type in _SCALARS},
    **{value_type: _list_encoder(value_type) for value_type in _LISTS},
}


def _encoder(dtype: FeatureType) -> Callable[[Any], bytes]:
    encoder = _ENCODERS.get(getattr(dtype, "value_type", None))
    if encoder is None and isinstance(dtype, FeatureType):  # Feast's Json, Map, Struct
        from featurestore.online.complex_values import complex_encoder

        encoder = complex_encoder(dtype, python_to_value)
    if encoder is None:
        raise ValidationError(f"{dtype!r} is not a feature type; use one of featurestore.types")
    return encoder


def value_encoder(dtype: FeatureType, what: str = "value") -> Callable[[Any], bytes]:
    """A function encoding values of dtype, for encoding a whole column without a lookup per value.

    `what` names the value in error messages, e.g. "feature 'conv_rate' of view 'driver_stats'".
    """
    encode = _encoder(dtype)

    def encode_checked(value) -> bytes:
        try:
            return encode(value)
        except Mismatch as mismatch:
            raise ValidationError(f"{what} does not fit its declared type {dtype!r}: {mismatch}") from None

    return encode_checked


def encode_value(value, dtype: FeatureType, what: str = "value") -> bytes:
    """A Python value as a serialized Value message of the declared type; b"" for a null."""
    try:
        return _encoder(dtype)(value)
    except Mismatch as mismatch:
        raise ValidationError(f"{what} does not fit its declared type {dtype!r}: {mismatch}") from None


def python_to_value(value, dtype: FeatureType, what: str = "value") -> Value:
    """A Python value as a Value message of the declared type (unset for a null)."""
    return Value.FromString(encode_value(value, dtype, what))


# --- decoding ----------------------------------------------------------------------------------

def _scalar_decoder(field: str) -> Callable[[Value], Any]:
    return lambda message: getattr(message, field)


def _list_decoder(field: str) -> Callable[[Value], Any]:
    return lambda message: list(getattr(message, field).val)


_DECODERS: dict[str, Callable[[Value], Any]] = {
    **{field: _scalar_decoder(field) for field, _ in _SCALARS.values()},
    **{field: _list_decoder(field) for field, _ in _LISTS.values()},
    "unix_timestamp_val": lambda message: micros_to_datetime(timestamp_micros(message)),
    "unix_timestamp_list_val": lambda message: [micros_to_datetime(m) for m in timestamp_list_micros(message)],
    "json_val": lambda message: message.json_val,
    "map_val": lambda message: _map_to_python(message.map_val),
    "struct_val": lambda message: _map_to_python(message.struct_val),
}


def _map_to_python(map_message) -> dict:
    """A Map message (a map's or a struct's entries) as a dict, in key order: protobuf keeps none."""
    return {key: value_to_python(map_message.val[key]) for key in sorted(map_message.val)}


def value_to_python(message: Value):
    """The Python value of a Value message: int, float, str, bool, bytes, UTC datetime, a list, or None."""
    field = message.WhichOneof("val")
    return None if field is None else _DECODERS[field](message)


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    """A base-128 varint at position -> (its value, the position after it); (-1, -1) when it runs
    past the end or over protobuf's 10 bytes (the caller then leaves the bytes to protobuf)."""
    result = shift = 0
    end = min(len(data), position + 10)
    while position < end:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7
    return -1, -1


def _wire_int(data: bytes) -> int | None:
    """The 64-bit two's-complement integer of a one-field varint message (tag byte, varint), or None."""
    number, end = _read_varint(data, 1)
    if end != len(data) or number >> 64:  # past 64 bits: malformed, protobuf says how
        return None
    return number - (1 << 64) if number >> 63 else number


def _wire_length_delimited(data: bytes) -> bytes | None:
    """The payload of a one-field length-delimited message (tag byte, varint length, payload), or None."""
    length, start = _read_varint(data, 1)
    if start < 0 or start + length != len(data):
        return None
    return data[start:]


def _decode_wire_int64(data: bytes):
    return _wire_int(data)


def _decode_wire_int32(data: bytes):
    number = _wire_int(data)
    return None if number is None else ((number & 0xFFFF_FFFF) ^ 0x8000_0000) - 0x8000_0000  # as protobuf truncates


def _decode_wire_string(data: bytes):
    payload = _wire_length_delimited(data)
    if payload is None:
        return None
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return None  # protobuf decides what an invalid string means


def _decode_wire_bytes(data: bytes):
    return _wire_length_delimited(data)


def _decode_wire_bool(data: bytes):
    return (data[1] == 1) if len(data) == 2 and data[1] < 2 else None


def _decode_wire_timestamp(data: bytes):
    seconds = _wire_int(data)  # whole seconds: a sub-second part is a second field, left to protobuf
    return None if seconds is None else micros_to_datetime(seconds * MICROS_PER_SECOND)


_UNPACK_DOUBLE, _UNPACK_FLOAT = struct.Struct("<d").unpack_from, struct.Struct("<f").unpack_from
_DOUBLE_TAG = _tag("double_val", 1)[0]
_FLOAT_TAG = _tag("float_val", 5)[0]
# First byte (the tag of the one field set) -> a decoder of the whole message's bytes that returns
# the value, or None when the bytes are anything but that one field in its plain form.
_WIRE_DECODERS: dict[int, Callable[[bytes], Any]] = {
    _tag("int64_val", 0)[0]: _decode_wire_int64,
    _tag("int32_val", 0)[0]: _decode_wire_int32,
    _tag("string_val", 2)[0]: _decode_wire_string,
    _tag("bytes_val", 2)[0]: _decode_wire_bytes,
    _tag("bool_val", 0)[0]: _decode_wire_bool,
    _tag("unix_timestamp_val", 0)[0]: _decode_wire_timestamp,
}


def decode_value(data: bytes):
    """The Python value of a serialized Value message; None for b"" or an unset value.

    A scalar written by this module (one field: tag, then payload) is read straight off the
    wire, the way _fast_path writes it: online reads decode every value they return, and
    parsing a message costs ~5x more. Anything else (lists, several fields, a varint that
    is not canonical...) goes through the generated class; tests/unit/test_online_speed_codec.py
    checks both agree on many values of every scalar type.
    """
    if not data:
        return None
    tag = data[0]
    if tag == _DOUBLE_TAG:
        if len(data) == 9:
            return _UNPACK_DOUBLE(data, 1)[0]
    elif tag == _FLOAT_TAG:
        if len(data) == 5:
            return _UNPACK_FLOAT(data, 1)[0]
    else:
        decode = _WIRE_DECODERS.get(tag)
        if decode is not None:
            value = decode(data)
            if value is not None:
                return value
    message = Value.FromString(data)
    field = message.WhichOneof("val")
    return None if field is None else _DECODERS[field](message)


def decode_values(column: Sequence[bytes]) -> list:
    """decode_value of each serialized Value, with the commonest type (a double) decoded inline."""
    double_tag, unpack_double, decode = _DOUBLE_TAG, _UNPACK_DOUBLE, decode_value
    return [unpack_double(data, 1)[0] if data is not None and len(data) == 9 and data[0] == double_tag else decode(data)
            for data in column]


# --- entity keys -------------------------------------------------------------------------------
#
# Feast's entity key serialization, version 3 (its feast/infra/key_encoding_utils.py), so that
# Feast's stores and featurestore's find the same rows by the same bytes:
#
#   <I number of join keys>
#   per join key (sorted by name when there are several): <I 2 (STRING)> <I length> name (UTF-8)
#   per value, in the same order: <I Feast value type> <I length> payload
#
# payloads: INT64 (type 4) <q, INT32 (3) <i, STRING (2) UTF-8, BYTES (1) as is, UNIX_TIMESTAMP
# (8) <q seconds. Feast refuses other key types; featurestore also keys by BOOL (7, one byte),
# FLOAT (6, <f) and DOUBLE (5, <d), and a timestamp with a sub-second part as <q seconds then
# <i microseconds (12 bytes), so that two keys never collide where Feast would have no key.

_U32 = struct.Struct("<I").pack
_PACK_INT64, _PACK_INT32 = struct.Struct("<q").pack, struct.Struct("<i").pack
_FEAST_STRING, _FEAST_BYTES, _FEAST_INT32, _FEAST_INT64 = 2, 1, 3, 4
_FEAST_DOUBLE, _FEAST_FLOAT, _FEAST_BOOL, _FEAST_UNIX_TIMESTAMP = 5, 6, 7, 8


def _timestamp_payload(micros: int) -> bytes:
    seconds, within = divmod(micros, MICROS_PER_SECOND)
    return _PACK_INT64(seconds) + (_PACK_INT32(within) if within else b"")


# our scalar type -> (Feast's type number, the payload of one converted value)
_KEY_PAYLOADS: dict[int, tuple[int, Callable[[Any], bytes]]] = {
    value_pb2.INT64: (_FEAST_INT64, _PACK_INT64),
    value_pb2.INT32: (_FEAST_INT32, _PACK_INT32),
    value_pb2.STRING: (_FEAST_STRING, lambda v: v.encode("utf-8")),
    value_pb2.BYTES: (_FEAST_BYTES, bytes),
    value_pb2.BOOL: (_FEAST_BOOL, lambda v: b"\x01" if v else b"\x00"),
    value_pb2.FLOAT32: (_FEAST_FLOAT, _PACK_FLOAT),
    value_pb2.FLOAT64: (_FEAST_DOUBLE, _PACK_DOUBLE),
    value_pb2.UNIX_TIMESTAMP: (_FEAST_UNIX_TIMESTAMP, _timestamp_payload),
}
_INT_RANGES = {value_pb2.INT64: (INT64_MIN, INT64_MAX), value_pb2.INT32: (INT32_MIN, INT32_MAX)}


def _names_prefix(sorted_names: Sequence[str]) -> bytes:
    """The key's count and join-key names: the same bytes for every entity of a view."""
    parts = [_U32(len(sorted_names))]
    for name in sorted_names:
        data = name.encode("utf-8")
        parts += (_U32(_FEAST_STRING), _U32(len(data)), data)
    return b"".join(parts)


def _check_key_types(join_keys: list[str], dtypes: list) -> None:
    if len(join_keys) != len(dtypes) or not join_keys:
        raise RetrievalError(f"entity key needs one declared type per join key, got join keys {join_keys!r} "
                             f"and types {dtypes!r}")
    for name, dtype in zip(join_keys, dtypes):
        if not isinstance(dtype, FeatureType) or dtype.is_list or dtype.value_type not in _KEY_PAYLOADS:
            raise RetrievalError(f"join key {name!r} is declared as {dtype!r}; a join key must have a "
                                 f"scalar type such as Int64 or String")


def _key_value_encoder(name: str, dtype: FeatureType) -> Callable[[Any], bytes]:
    """One join-key value -> its type, length and payload, checked against the declared type."""
    feast_type, payload = _KEY_PAYLOADS[dtype.value_type]
    convert = _SCALARS[dtype.value_type][1]
    is_null = is_null_for_float if dtype.value_type in _FLOAT_TYPES else is_missing
    type_bytes = _U32(feast_type)

    def encode(value) -> bytes:
        if is_null(value):
            raise RetrievalError(f"join key {name!r} is null; a null key identifies no entity: drop the "
                                 f"row or fill in the key")
        try:
            data = payload(convert(value))
        except Mismatch as mismatch:
            raise RetrievalError(f"join key {name!r} must be {dtype!r}: {mismatch}; pass keys of the "
                                 f"type declared in the feature view") from None
        return type_bytes + _U32(len(data)) + data

    return encode


def _plain_key_value(dtype: FeatureType) -> tuple[type, Callable[[Any], bytes | None]] | None:
    """For an Int64, Int32 or String key: (the plain Python type, its type + length + payload
    written directly, or None when out of range); the checked encoder handles anything else."""
    value_type = dtype.value_type
    if value_type in _INT_RANGES:
        low, high = _INT_RANGES[value_type]
        feast_type, pack = (_FEAST_INT64, _PACK_INT64) if value_type == value_pb2.INT64 else (_FEAST_INT32, _PACK_INT32)
        header = _U32(feast_type) + _U32(8 if value_type == value_pb2.INT64 else 4)
        return int, lambda v: header + pack(v) if low <= v <= high else None
    if value_type == value_pb2.STRING:
        header = _U32(_FEAST_STRING)

        def string(v):
            data = v.encode("utf-8")
            return header + _U32(len(data)) + data
        return str, string
    return None


def entity_key_serializer(join_keys: Sequence[str],
                          dtypes: Sequence[FeatureType]) -> Callable[[Sequence], bytes]:
    """A function turning one row of join-key values (in join_keys order) into entity key bytes
    (Feast's serialization, above). The join keys are sorted by name, so the same entity always
    gives the same bytes whatever order the keys were listed in. Build it once per view for
    bulk work; serialize_entity_key is the one-off form.

    Plain Python ints and strings are packed directly; anything else (numpy scalars, nulls,
    values that do not fit) goes through the declared type's checks.
    """
    join_keys, dtypes = list(join_keys), list(dtypes)
    _check_key_types(join_keys, dtypes)
    order = sorted(range(len(join_keys)), key=join_keys.__getitem__)
    prefix = _names_prefix([join_keys[i] for i in order])
    steps = [(i, _key_value_encoder(join_keys[i], dtypes[i]), _plain_key_value(dtypes[i])) for i in order]
    count = len(join_keys)

    def serialize(values: Sequence) -> bytes:
        if len(values) != count:
            raise RetrievalError(f"entity key has {len(values)} value(s) {list(values)!r} for the "
                                 f"{count} join key(s) {join_keys!r}")
        parts = [prefix]
        for index, encode, plain in steps:
            value = values[index]
            data = plain[1](value) if plain is not None and type(value) is plain[0] else None
            parts.append(data if data is not None else encode(value))
        return b"".join(parts)

    if count == 1:
        (_, _, plain), = steps
        if plain is not None:
            plain_type, encode_plain = plain

            def serialize_one(values: Sequence) -> bytes:
                if len(values) == 1 and type(values[0]) is plain_type:
                    data = encode_plain(values[0])
                    if data is not None:
                        return prefix + data
                return serialize(values)

            return serialize_one
    return serialize


def entity_key_column_serializer(join_key: str, dtype: FeatureType) -> Callable[[Sequence], list[bytes | None]]:
    """For a view with one join key: a function turning a column of key values into entity keys,
    None where a value is None (a row that identifies no entity); any other value as
    entity_key_serializer([join_key], [dtype]) turns it, with the same errors."""
    serialize = entity_key_serializer([join_key], [dtype])
    plain = _plain_key_value(dtype)
    if plain is None:
        return lambda column: [None if value is None else serialize((value,)) for value in column]
    plain_type, encode = plain
    prefix = _names_prefix([join_key])

    def serialize_column(column: Sequence) -> list[bytes | None]:
        keys = []
        append = keys.append
        for value in column:
            if type(value) is plain_type and (data := encode(value)) is not None:
                append(prefix + data)
            else:
                append(None if value is None else serialize((value,)))
        return keys

    return serialize_column


def serialize_entity_key(join_keys: Sequence[str], values: Sequence, dtypes: Sequence[FeatureType]) -> bytes:
    """The entity key bytes of one entity: join-key names, values and declared types, in one order."""
    return entity_key_serializer(join_keys, dtypes)(values)


_UNPACK_U32, _UNPACK_INT64, _UNPACK_INT32 = (struct.Struct(f).unpack_from for f in ("<I", "<q", "<i"))
_KEY_VALUE_READERS: dict[int, Callable[[bytes], Any]] = {
    _FEAST_INT64: lambda data: _UNPACK_INT64(data)[0],
    _FEAST_INT32: lambda data: _UNPACK_INT32(data)[0],
    _FEAST_STRING: lambda data: data.decode("utf-8"),
    _FEAST_BYTES: bytes,
    _FEAST_BOOL: lambda data: data == b"\x01",
    _FEAST_FLOAT: lambda data: _UNPACK_FLOAT(data)[0],
    _FEAST_DOUBLE: lambda data: _UNPACK_DOUBLE(data)[0],
    _FEAST_UNIX_TIMESTAMP: lambda data: micros_to_datetime(
        _UNPACK_INT64(data)[0] * MICROS_PER_SECOND + (_UNPACK_INT32(data, 8)[0] if len(data) == 12 else 0)),
}


def _key_parts(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """Entity key bytes -> ([(Feast type, payload)] for the names then the values, the key's
    length). Raises struct.error where the bytes are no key (too short)."""
    (count,), position, parts = _UNPACK_U32(data), 4, []
    for _ in range(2 * count):
        (feast_type, length), position = struct.unpack_from("<II", data, position), position + 8
        if position + length > len(data):
            raise struct.error("an entity key's part runs past its end")
        parts.append((feast_type, data[position:position + length]))
        position += length
    return parts, position


def entity_key_length(data: bytes) -> int | None:
    """How many of data's first bytes are an entity key (a Redis hash key holds one, then the
    project's name); None where they are none."""
    try:
        return _key_parts(data)[1]
    except struct.error:
        return None


def deserialize_entity_key(data: bytes) -> dict[str, Any]:
    """Entity key bytes -> {join key: Python value}, for listing a store and error messages."""
    parts = _key_parts(data)[0]
    names, values = parts[:len(parts) // 2], parts[len(parts) // 2:]
    return {name.decode("utf-8"): _KEY_VALUE_READERS[feast_type](payload)
            for (_, name), (feast_type, payload) in zip(names, values)}
