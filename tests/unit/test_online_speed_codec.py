"""The codec's wire-level shortcuts (decode_value reading scalars off the wire, entity keys
written without a message) give exactly what the generated protobuf classes give."""
from __future__ import annotations

import math
import random
import struct
from datetime import UTC, datetime

import numpy as np
import pytest

from featurestore.errors import RetrievalError
from featurestore.online.codec import (
    decode_value,
    encode_value,
    entity_key_column_serializer,
    entity_key_serializer,
    micros_to_datetime,
)
from featurestore.online.feast_time import timestamp_micros
from featurestore.protos.value_pb2 import Value
from featurestore.types import Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp

RNG = random.Random(11)
VARINT_EDGES = [edge + step for bits in range(7, 64, 7) for edge in (2 ** bits, -2 ** bits) for step in (-1, 0, 1)]
INT64S = [RNG.randint(-2 ** 63, 2 ** 63 - 1) for _ in range(300)] + [RNG.randint(0, 10 ** 7) for _ in range(300)] + \
    [0, 1, -1, 2 ** 63 - 1, -2 ** 63, *(edge for edge in VARINT_EDGES if -2 ** 63 <= edge < 2 ** 63)]
INT32S = [RNG.randint(-2 ** 31, 2 ** 31 - 1) for _ in range(300)] + [0, -1, 2 ** 31 - 1, -2 ** 31] + \
    [edge for edge in VARINT_EDGES if -2 ** 31 <= edge < 2 ** 31]
STRINGS = ["", "a", "héllo", "x" * 300, "日本語", "\x00"]


def _message_value(data: bytes):
    """What the generated class reads from the bytes (the slow path, spelled out)."""
    message = Value.FromString(data)
    field = message.WhichOneof("val")
    if field is None:
        return None
    if field == "unix_timestamp_val":
        return micros_to_datetime(timestamp_micros(message))
    return getattr(message, field)


def _same(left, right) -> bool:
    if isinstance(left, float) and math.isnan(left):
        return isinstance(right, float) and math.isnan(right)
    return type(left) is type(right) and left == right


@pytest.mark.parametrize("field, values", [
    ("double_val", [RNG.uniform(-1e300, 1e300) for _ in range(300)] + [0.0, -0.0, math.inf, -math.inf, math.nan,
                                                                        5e-324]),
    ("float_val", [RNG.uniform(-1e30, 1e30) for _ in range(300)] + [0.0, 3.4e38, -1.5, math.inf, math.nan]),
    ("int64_val", INT64S), ("int32_val", INT32S), ("string_val", STRINGS),
    ("bool_val", [True, False]), ("bytes_val", [b"", b"\x00\xff", b"x" * 200]),
    ("unix_timestamp_val", [0, -1, 1_700_000_000, -62135596800, 253402300799]),  # Feast's whole seconds
])
def test_decoding_off_the_wire_matches_the_generated_class(field, values):
    for value in values:
        message = Value()
        setattr(message, field, value)
        data = message.SerializeToString()
        assert _same(decode_value(data), _message_value(data)), (field, value, data)


@pytest.mark.parametrize("data", [
    bytes.fromhex("10ffffffffffffffffff01"),  # -1 as int64
    bytes.fromhex("08ffffffffffffffffff01"),  # -1 as int32
    bytes.fromhex("08ffffffff0f"),  # int32 written as 32 bits
    bytes.fromhex("108000"),  # a non-canonical 0
    bytes.fromhex("10011002"),  # the field twice: the last one wins
    bytes.fromhex("2a01612a0162"),  # a string twice
    bytes.fromhex("210000000000000000" "1005"),  # a double, then an int64: the oneof holds the int64
    bytes.fromhex("3002"),  # a bool written as 2
    bytes.fromhex("1001" "2a0161"),
])
def test_unusual_but_valid_bytes_decode_as_protobuf_reads_them(data):
    assert _same(decode_value(data), _message_value(data)), data


@pytest.mark.parametrize("dtype, value", [
    (Int32, 5), (Int64, -7), (Float32, 0.25), (Float64, 0.1), (String, "ü"), (Bool, True), (Bytes, b"\x01"),
    (UnixTimestamp, datetime(2024, 1, 1, 12, tzinfo=UTC)),
])
def test_decode_value_round_trips_every_scalar(dtype, value):
    decoded = decode_value(encode_value(value, dtype))
    assert decoded == value and type(decoded) is type(value)


def _message_key(names, values, dtypes) -> bytes:
    """The entity key by Feast's version-3 rule spelled out plainly: count, then the sorted
    names, then each value as (Feast type, length, payload)."""
    payloads = {Int32: (3, lambda v: struct.pack("<i", v)), Int64: (4, lambda v: struct.pack("<q", v)),
                String: (2, lambda v: v.encode("utf-8")), Bool: (7, lambda v: bytes([v]))}
    order = sorted(range(len(names)), key=names.__getitem__)
    out = struct.pack("<I", len(names))
    for i in order:
        out += struct.pack("<II", 2, len(names[i].encode())) + names[i].encode()
    for i in order:
        feast_type, payload = payloads[dtypes[i]]
        data = payload(values[i])
        out += struct.pack("<II", feast_type, len(data)) + data
    return out


@pytest.mark.parametrize("dtype, values", [
    (Int64, INT64S), (Int32, INT32S), (String, STRINGS), (Bool, [True, False]),
])
def test_wire_entity_keys_are_byte_identical_to_the_message(dtype, values):
    serialize = entity_key_serializer(["driver_id"], [dtype])
    column = entity_key_column_serializer("driver_id", dtype)
    expected = [_message_key(["driver_id"], [value], [dtype]) for value in values]
    assert [serialize((value,)) for value in values] == expected
    assert column(values) == expected


def test_wire_entity_keys_of_several_join_keys_are_byte_identical():
    serialize = entity_key_serializer(["z_id", "city", "active"], [Int64, String, Bool])
    for number, city, active in zip(INT64S, STRINGS * 60, [True, False] * 200):
        assert serialize((number, city, active)) == \
            _message_key(["z_id", "city", "active"], [number, city, active], [Int64, String, Bool])
    long_name = "k" * 200  # a name longer than one varint byte
    assert entity_key_serializer([long_name], [Int64])((3,)) == _message_key([long_name], [3], [Int64])


def test_the_column_serializer_keeps_none_and_checks_everything_else():
    column = entity_key_column_serializer("driver_id", Int64)
    single = entity_key_serializer(["driver_id"], [Int64])
    assert column([1, None, np.int64(2)]) == [single((1,)), None, single((2,))]
    with pytest.raises(RetrievalError, match="join key 'driver_id' must be Int64: '1' \\(str\\) is not an integer"):
        column(["1"])
    with pytest.raises(RetrievalError, match="join key 'driver_id' is null"):
        column([float("nan")])
    with pytest.raises(RetrievalError, match="out of the Int64 range"):
        column([2 ** 63])
    with pytest.raises(RetrievalError, match="is a boolean, not an integer"):
        column([True])
