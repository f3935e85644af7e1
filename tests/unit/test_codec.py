"""The value and entity-key codec: what goes into the online stores, byte for byte."""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from featurestore.errors import RetrievalError, ValidationError
from featurestore.online.codec import (
    decode_value,
    deserialize_entity_key,
    encode_value,
    entity_key_serializer,
    python_to_value,
    serialize_entity_key,
    value_encoder,
    value_to_python,
)
from featurestore.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp

INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1


@pytest.mark.parametrize("dtype, value", [
    (Int32, -2 ** 31), (Int32, 2 ** 31 - 1), (Int32, 0),
    (Int64, INT64_MIN), (Int64, INT64_MAX), (Int64, 0),
    (Float32, 0.5), (Float32, -3.25), (Float32, math.inf),
    (Float64, 0.1), (Float64, -1e300), (Float64, -math.inf),
    (String, ""), (String, "héllo wörld ✓ 日本"),
    (Bool, True), (Bool, False),
    (Bytes, b""), (Bytes, b"\x00\xff\x00"),
    (UnixTimestamp, datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)),
    (UnixTimestamp, datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC)),
    (Array(Int32), [1, -2, 2 ** 31 - 1]), (Array(Int64), [INT64_MIN, INT64_MAX]),
    (Array(Float32), [0.5, -0.25]), (Array(Float64), [0.1, 1e300]),
    (Array(String), ["a", "ü", ""]), (Array(Bool), [True, False]),
    (Array(Bytes), [b"\x00", b""]), (Array(UnixTimestamp), [datetime(2024, 1, 1, tzinfo=UTC)]),
    (Array(Int64), []), (Array(String), []),
])
def test_every_type_round_trips_exactly(dtype, value):
    decoded = decode_value(encode_value(value, dtype))
    assert decoded == value
    assert type(decoded) is type(value)


@pytest.mark.parametrize("dtype", [Float32, Float64])
def test_nan_round_trips_as_nan_not_null(dtype):
    data = encode_value(float("nan"), dtype)
    assert data != b""
    assert math.isnan(decode_value(data))


def test_nan_inside_a_float_list_round_trips():
    decoded = decode_value(encode_value(np.array([1.5, np.nan]), Array(Float64)))
    assert decoded[0] == 1.5 and math.isnan(decoded[1])


@pytest.mark.parametrize("dtype, missing", [
    (Int64, None), (Int64, float("nan")), (Int64, pd.NA), (String, float("nan")), (Bool, np.nan),
    (Float64, None), (Float64, pd.NA), (UnixTimestamp, pd.NaT), (UnixTimestamp, None),
    (Array(Int64), None), (Array(Float64), float("nan")),
])
def test_nulls_from_python_spark_and_pandas_encode_as_an_unset_value(dtype, missing):
    assert encode_value(missing, dtype) == b""
    assert decode_value(b"") is None
    assert python_to_value(missing, dtype).WhichOneof("val") is None


def test_an_empty_list_is_not_null():
    assert encode_value([], Array(Int64)) != b""
    assert decode_value(encode_value([], Array(Int64))) == []


def test_numpy_and_pandas_scalars_encode_like_python_values():
    assert encode_value(np.int64(7), Int64) == encode_value(7, Int64)
    assert encode_value(np.int32(7), Int32) == encode_value(7, Int32)
    assert encode_value(np.float32(0.25), Float64) == encode_value(0.25, Float64)
    assert encode_value(np.bool_(True), Bool) == encode_value(True, Bool)
    assert encode_value(np.str_("x"), String) == encode_value("x", String)
    assert encode_value(np.array([1, 2], dtype=np.int64), Array(Int64)) == encode_value([1, 2], Array(Int64))
    assert encode_value(3.0, Int64) == encode_value(3, Int64)  # pandas' int column with nulls holds floats


def test_timestamps_are_feasts_utc_seconds_with_the_microseconds_beside():
    def stored(value):
        message = python_to_value(value, UnixTimestamp)
        return message.unix_timestamp_val, message.unix_timestamp_micros

    aware = datetime(2024, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert stored(aware) == (1_704_067_200, 0)
    naive = datetime(2024, 1, 1)  # read as UTC
    assert stored(naive) == (1_704_067_200, 0)
    pandas_ns = pd.Timestamp("2024-01-01 00:00:00.000001999", tz="UTC")  # nanoseconds are floored
    assert stored(pandas_ns) == (1_704_067_200, 1)
    naive_pandas = pd.Timestamp("2024-01-01")
    assert stored(naive_pandas) == (1_704_067_200, 0)
    numpy_ts = np.datetime64("2024-01-01T00:00:00.000002")
    assert stored(numpy_ts) == (1_704_067_200, 2)
    before_1970 = datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)  # floored: -1 s + 500,000 us
    assert stored(before_1970) == (-1, 500_000) and decode_value(encode_value(before_1970, UnixTimestamp)) == before_1970
    # a whole second is Feast's bytes exactly: field 8 alone
    assert encode_value(naive, UnixTimestamp) == b"\x40\x80\x81\xc8\xac\x06"  # tag 8, varint 1704067200
    listed = [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 0, 0, 0, 7, tzinfo=UTC)]
    message = python_to_value(listed, Array(UnixTimestamp))
    assert (list(message.unix_timestamp_list_val.val), list(message.unix_timestamp_list_micros)) == (
        [1_704_067_200, 1_704_067_200], [0, 7])
    assert decode_value(message.SerializeToString()) == listed
    decoded = decode_value(encode_value(aware, UnixTimestamp))
    assert decoded == datetime(2024, 1, 1, tzinfo=UTC) and decoded.tzinfo is UTC


def test_value_to_python_reads_a_message():
    assert value_to_python(python_to_value("x", String)) == "x"
    assert value_to_python(python_to_value(None, String)) is None


@pytest.mark.parametrize("dtype, value, reason", [
    (Int64, "1", "'1' (str) is not an integer"),
    (Int64, True, "True (bool) is a boolean, not an integer"),
    (Int64, 1.5, "1.5 (float) is not an integer"),
    (Int64, 2 ** 63, f"{2 ** 63} is out of the Int64 range [{INT64_MIN}, {INT64_MAX}]"),
    (Int32, 2 ** 31, "2147483648 is out of the Int32 range [-2147483648, 2147483647]"),
    (Float32, 1e39, "1e+39 is out of the Float32 range; declare the field as Float64"),
    (Float64, "0.5", "'0.5' (str) is not a number"),
    (String, 1, "1 (int) is not a string"),
    (Bool, 1, "1 (int) is not a boolean"),
    (Bytes, "ab", "'ab' (str) is not bytes"),
    (UnixTimestamp, 1704067200, "1704067200 (int) is not a datetime"),
    (Array(String), "ab", "'ab' (str) is not a list"),
    (Array(Int64), [1, None], "element 1 is null; lists cannot hold nulls, replace or drop them"),
    (Array(Int64), [1, "2"], "element 1: '2' (str) is not an integer"),
    (Array(UnixTimestamp), [pd.NaT], "element 0: NaT is not a timestamp"),
])
def test_a_value_that_does_not_fit_its_type_is_rejected(dtype, value, reason):
    with pytest.raises(ValidationError) as raised:
        encode_value(value, dtype)
    assert str(raised.value) == f"value does not fit its declared type {dtype!r}: {reason}"


def test_value_encoder_names_the_value_in_errors():
    encode = value_encoder(Float64, what="feature 'conv_rate' of view 'driver_stats'")
    assert encode(0.5) == encode_value(0.5, Float64)
    with pytest.raises(ValidationError, match=r"^feature 'conv_rate' of view 'driver_stats' does not fit its "
                                              r"declared type Float64: 'x' \(str\) is not a number$"):
        encode("x")


def test_entity_key_bytes_are_pinned_to_feasts_version_3():
    """The stored key format, Feast's (Feast itself checks it: tests/feast/test_feast_online.py);
    changing it would orphan every materialized value."""
    assert serialize_entity_key(["driver_id"], [1001], [Int64]) == (
        b"\x01\x00\x00\x00" b"\x02\x00\x00\x00\x09\x00\x00\x00driver_id" b"\x04\x00\x00\x00\x08\x00\x00\x00"
        + (1001).to_bytes(8, "little"))
    assert serialize_entity_key(["b", "a"], ["x", 1], [String, Int32]) == (
        b"\x02\x00\x00\x00" b"\x02\x00\x00\x00\x01\x00\x00\x00a" b"\x02\x00\x00\x00\x01\x00\x00\x00b"
        b"\x03\x00\x00\x00\x04\x00\x00\x00\x01\x00\x00\x00" b"\x02\x00\x00\x00\x01\x00\x00\x00x")


@pytest.mark.parametrize("value, dtype", [
    (True, Bool), (False, Bool), (0.5, Float32), (-2.25, Float64), (b"\x00\xff", Bytes), ("", String),
    (datetime(2024, 1, 1, tzinfo=UTC), UnixTimestamp), (datetime(2024, 1, 1, 0, 0, 0, 5, tzinfo=UTC), UnixTimestamp),
    (-(2 ** 31), Int32), (INT64_MIN, Int64)])
def test_every_key_type_reads_back(value, dtype):
    assert deserialize_entity_key(serialize_entity_key(["k"], [value], [dtype])) == {"k": value}


def test_timestamp_keys_differing_below_a_second_do_not_collide():
    whole = serialize_entity_key(["k"], [datetime(2024, 1, 1, tzinfo=UTC)], [UnixTimestamp])
    later = serialize_entity_key(["k"], [datetime(2024, 1, 1, 0, 0, 0, 5, tzinfo=UTC)], [UnixTimestamp])
    assert whole != later and len(later) == len(whole) + 4  # Feast's 8 bytes of seconds, then the microseconds


def test_entity_key_is_independent_of_join_key_order():
    one = serialize_entity_key(["driver_id", "city"], [7, "Zürich"], [Int64, String])
    other = serialize_entity_key(["city", "driver_id"], ["Zürich", 7], [String, Int64])
    assert one == other
    assert deserialize_entity_key(one) == {"city": "Zürich", "driver_id": 7}


def test_entity_keys_are_typed():
    as_int = serialize_entity_key(["id"], [1], [Int64])
    assert as_int != serialize_entity_key(["id"], ["1"], [String])
    assert as_int == serialize_entity_key(["id"], [np.int64(1)], [Int64])
    for value in (INT64_MIN, INT64_MAX):
        assert deserialize_entity_key(serialize_entity_key(["id"], [value], [Int64])) == {"id": value}


def test_entity_key_serializer_matches_the_one_off_form():
    serialize = entity_key_serializer(["b", "a"], [Int64, String])
    assert serialize((1, "x")) == serialize_entity_key(["a", "b"], ["x", 1], [String, Int64])


@pytest.mark.parametrize("value, dtype, reason", [
    ("1", Int64, "'1' (str) is not an integer"),
    (True, Int64, "True (bool) is a boolean, not an integer"),
    (2 ** 31, Int32, "2147483648 is out of the Int32 range [-2147483648, 2147483647]"),
    (1, String, "1 (int) is not a string"),
])
def test_a_key_that_does_not_fit_its_type_is_rejected(value, dtype, reason):
    with pytest.raises(RetrievalError) as raised:
        serialize_entity_key(["driver_id"], [value], [dtype])
    assert str(raised.value) == (f"join key 'driver_id' must be {dtype!r}: {reason}; pass keys of the type "
                                 f"declared in the feature view")


@pytest.mark.parametrize("null", [None, float("nan"), pd.NA])
def test_a_null_key_is_rejected(null):
    with pytest.raises(RetrievalError) as raised:
        serialize_entity_key(["driver_id"], [null], [Int64])
    assert str(raised.value) == ("join key 'driver_id' is null; a null key identifies no entity: drop the "
                                 "row or fill in the key")


def test_entity_key_shape_errors():
    with pytest.raises(RetrievalError, match=r"^entity key has 1 value\(s\) \[1\] for the 2 join key\(s\) "
                                             r"\['a', 'b'\]$"):
        serialize_entity_key(["a", "b"], [1], [Int64, Int64])
    with pytest.raises(RetrievalError, match=r"^join key 'a' is declared as Array\(Int64\); a join key must "
                                             r"have a scalar type such as Int64 or String$"):
        serialize_entity_key(["a"], [[1]], [Array(Int64)])


def test_fast_wire_encoding_is_byte_identical_to_protobuf():
    """The hand-written scalar fast path must produce exactly the generated class's bytes."""
    import random

    from featurestore.protos.value_pb2 import Value
    from featurestore.types import Bool, Float32, Float64, Int32, Int64, String

    rng = random.Random(7)
    cases = {
        (Float64, "double_val"): [rng.uniform(-1e300, 1e300) for _ in range(500)] + [0.0, -0.0, float("inf"), 5e-324],
        (Float32, "float_val"): [rng.uniform(-1e30, 1e30) for _ in range(500)] + [0.0, 3.4e38, -1.5],
        (Int64, "int64_val"): [rng.randint(-2 ** 63, 2 ** 63 - 1) for _ in range(500)] + [0, -1, 127, 128, 2 ** 63 - 1,
                                                                                       -2 ** 63],
        (Int32, "int32_val"): [rng.randint(-2 ** 31, 2 ** 31 - 1) for _ in range(500)] + [0, -1, 2 ** 31 - 1, -2 ** 31],
        (String, "string_val"): ["", "a", "héllo", "x" * 300, "日本語"],
        (Bool, "bool_val"): [True, False],
    }
    for (dtype, field), values in cases.items():
        for value in values:
            expected = Value()
            setattr(expected, field, value)
            assert encode_value(value, dtype) == expected.SerializeToString(), (dtype, value)
