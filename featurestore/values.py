"""The one place Python values meet the feature types (as Feast's type_map.py is for Feast).

Every value that enters featurestore from Python (online reads' entity keys, pushed rows,
materialized rows, on-demand functions' inputs and outputs) is checked and converted here,
by its declared type, never by its Python type: int 1 and string "1" never collide, and a
numpy int64 is the same key as an int.

- Missing: None, pandas NA/NaT and, for non-float types, a float NaN (pandas' marker for a
  missing int or string) are null. For Float32/Float64 a NaN is a value.
- Integers: ints, numpy integers and integral floats (3.0, which pandas makes of an int
  column with nulls), within the type's range; booleans are not integers.
- Float32 values are rounded to float32, as the store, Spark and Arrow hold them.
- Timestamps: datetimes (naive = UTC, featurestore.times), pandas Timestamps and numpy
  datetime64, as microseconds since the epoch or aware UTC datetimes.

A value that does not fit raises Mismatch with what is wrong; callers add where.

>>> to_int64(3.0), to_float32(0.1), normalizer(Int64)(float("nan"))
(3, 0.10000000149011612, None)
>>> to_int32(2 ** 31)
Traceback (most recent call last):
featurestore.values.Mismatch: 2147483648 is out of the Int32 range [-2147483648, 2147483647]
"""
from __future__ import annotations

import math
import numbers
import struct
import sys
from collections.abc import Callable
from datetime import datetime

from featurestore.errors import ValidationError
from featurestore.times import EPOCH, MICROSECOND, as_utc, micros_to_datetime
from featurestore.types import FeatureType, Int64  # noqa: F401 - Int64 for the examples above

_EPOCH_NAIVE = datetime(1970, 1, 1)
_FLOAT32 = struct.Struct("f")
INT32_MIN, INT32_MAX = -2 ** 31, 2 ** 31 - 1
INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1
FLOAT32_MAX = 3.4028234663852886e38


class Mismatch(Exception):
    """A value does not fit a type; the public functions turn it into a message with context."""


# --- missing values ---------------------------------------------------------------------------

def is_missing(value) -> bool:
    """None, pandas NA/NaT or a float NaN: the ways Spark and pandas hand over a null."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):  # also numpy float64, a float subclass
        return True
    pandas = sys.modules.get("pandas")  # a pandas object can only exist if pandas is imported
    return pandas is not None and (value is pandas.NA or value is pandas.NaT)


def is_null_for_float(value) -> bool:
    """For float types NaN is a value, so only None and pandas NA count as null."""
    if value is None:
        return True
    pandas = sys.modules.get("pandas")
    return pandas is not None and value is pandas.NA


# --- scalar conversions: Python value -> what the protobuf field takes ------------------------

def describe(value) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _as_int(value, low: int, high: int, type_name: str) -> int:
    if type(value) is not int:
        if isinstance(value, bool) or _is_numpy_bool(value):
            raise Mismatch(f"{describe(value)} is a boolean, not an integer")
        if isinstance(value, numbers.Integral):  # numpy integers register as Integral
            value = int(value)
        elif isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
            value = int(value)  # pandas turns an int column with nulls into floats: 3.0 is 3
        else:
            raise Mismatch(f"{describe(value)} is not an integer")
    if not low <= value <= high:
        raise Mismatch(f"{value} is out of the {type_name} range [{low}, {high}]")
    return value


def to_int32(value) -> int:
    return _as_int(value, INT32_MIN, INT32_MAX, "Int32")


def to_int64(value) -> int:
    return _as_int(value, INT64_MIN, INT64_MAX, "Int64")


def to_float64(value) -> float:
    if type(value) is float:
        return value
    if isinstance(value, bool) or _is_numpy_bool(value) or not isinstance(value, numbers.Real):
        raise Mismatch(f"{describe(value)} is not a number")
    return float(value)


def to_float32(value) -> float:
    """The value rounded to float32, as the online store, Spark and Arrow hold a Float32."""
    value = to_float64(value)
    if math.isfinite(value):
        if abs(value) > FLOAT32_MAX:
            raise Mismatch(f"{value} is out of the Float32 range; declare the field as Float64")
        return _FLOAT32.unpack(_FLOAT32.pack(value))[0]
    return value


def to_string(value) -> str:
    if isinstance(value, str):  # includes numpy.str_, made a plain str
        return value if type(value) is str else str(value)
    raise Mismatch(f"{describe(value)} is not a string")


def to_bool(value) -> bool:
    if isinstance(value, bool) or _is_numpy_bool(value):
        return bool(value)
    raise Mismatch(f"{describe(value)} is not a boolean")


def to_bytes(value) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise Mismatch(f"{describe(value)} is not bytes")


def to_json(value) -> str:
    """JSON text: a string that parses as JSON, or a dict, list or number written as JSON."""
    import json

    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError as error:
            raise Mismatch(f"{describe(value)} is not JSON text ({error})") from None
        return value if type(value) is str else str(value)
    try:
        return json.dumps(_plain(value), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise Mismatch(f"{describe(value)} cannot be written as JSON ({error})") from None


def to_map(value) -> dict:
    """A dict with string keys: a dict, a Spark Row (a struct column) or the (key, value) pairs Arrow
    gives for a map column; nested structs become dicts."""
    value = _plain(value)
    if isinstance(value, list) and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        value = dict(value)
    if not isinstance(value, dict):
        raise Mismatch(f"{describe(value)} is not a map (a dict of string keys)")
    for key in value:
        if not isinstance(key, str):
            raise Mismatch(f"map key {key!r} is not a string")
    return value


def struct_converter(fields: dict[str, FeatureType]) -> Callable:
    """value -> a dict of exactly the declared fields, each converted to its type, or Mismatch."""
    converters = {name: normalizer(dtype) for name, dtype in fields.items()}

    def to_struct(value) -> dict:
        value = to_map(value)
        if set(value) != set(converters):
            raise Mismatch(f"{describe(value)} does not have the struct's fields {', '.join(converters)}")
        converted = {}
        for name, convert in converters.items():
            try:
                converted[name] = convert(value[name])
            except Mismatch as mismatch:
                raise Mismatch(f"struct field {name!r}: {mismatch}") from None
        return converted

    return to_struct


def _plain(value):
    """Spark Rows as dicts, numpy scalars and arrays as Python values, recursively."""
    if hasattr(value, "asDict"):
        return {k: _plain(v) for k, v in value.asDict(recursive=False).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _plain(value.tolist())
    if isinstance(value, (list, tuple)) and not isinstance(value, str):
        return [_plain(v) for v in value] if not isinstance(value, tuple) else tuple(_plain(v) for v in value)
    return value


def to_micros(value) -> int:
    """A datetime (naive = UTC), pandas Timestamp or numpy datetime64 -> microseconds, UTC."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.datetime64):
        value = value.astype("datetime64[us]").item()  # a naive datetime, or None for NaT
        if value is None:
            raise Mismatch("NaT is not a timestamp")
    if not isinstance(value, datetime):
        raise Mismatch(f"{describe(value)} is not a datetime")
    pandas = sys.modules.get("pandas")
    if pandas is not None and value is pandas.NaT:  # NaT is a datetime subclass; here it sits inside a list
        raise Mismatch("NaT is not a timestamp")
    # pandas Timestamps subtract to a Timedelta, which also floors nanoseconds to micros
    if value.tzinfo is None:
        return (value - _EPOCH_NAIVE) // MICROSECOND
    return (value - EPOCH) // MICROSECOND


def _is_numpy_bool(value) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.bool_)


def datetime_to_micros(value) -> int:
    """A datetime (naive = UTC), pandas Timestamp or numpy datetime64 -> microseconds since the epoch."""
    try:
        return to_micros(value)
    except Mismatch as mismatch:
        raise ValidationError(f"expected a datetime: {mismatch}") from None


def convert_list(value, convert) -> list:
    if isinstance(value, (str, bytes, bytearray, dict)) or not hasattr(value, "__iter__"):
        raise Mismatch(f"{describe(value)} is not a list")
    if hasattr(value, "tolist"):  # a numpy array: one C call gives Python scalars
        value = value.tolist()
    converted = []
    for index, element in enumerate(value):
        if element is None:
            raise Mismatch(f"element {index} is null; lists cannot hold nulls, replace or drop them")
        try:
            converted.append(convert(element))
        except Mismatch as mismatch:
            raise Mismatch(f"element {index}: {mismatch}") from None
    return converted


def to_datetime(value) -> datetime:
    """A datetime (naive = UTC), pandas Timestamp or numpy datetime64 -> an aware UTC datetime."""
    if isinstance(value, datetime) and not hasattr(value, "to_pydatetime"):  # a plain datetime
        return as_utc(value)
    return micros_to_datetime(to_micros(value))


_SCALAR: dict[str, Callable] = {"Int32": to_int32, "Int64": to_int64, "Float32": to_float32, "Float64": to_float64,
                                "String": to_string, "Bool": to_bool, "Bytes": to_bytes, "UnixTimestamp": to_datetime}


def normalizer(dtype: FeatureType) -> Callable:
    """value -> the value as `dtype` holds it in Python (None for null; timestamps as aware UTC
    datetimes), or Mismatch. On-demand functions' inputs and outputs go through it."""
    complex_convert = _complex_converter(dtype)
    if complex_convert is not None:
        def convert_complex(value):
            return None if value is None or (not hasattr(value, "__iter__") and is_missing(value)) \
                else complex_convert(value)
        return convert_complex
    if dtype.is_list:
        element = _SCALAR[dtype.element.name]

        def convert_list_value(value):
            if value is None or (not hasattr(value, "__iter__") and is_missing(value)):
                return None
            return convert_list(value, element)
        return convert_list_value
    convert = _SCALAR[dtype.name]
    is_null = is_null_for_float if dtype.name in ("Float32", "Float64") else is_missing
    if dtype.name == "Float64":  # the common case, kept cheap: ~0.1 us per value
        def convert_float64(value):
            if type(value) is float or value is None:
                return value
            return None if is_null(value) else convert(value)
        return convert_float64

    def convert_scalar(value):
        return None if is_null(value) else convert(value)
    return convert_scalar


def _complex_converter(dtype: FeatureType) -> Callable | None:
    """The converter of Feast's Json, Map and Struct types; None for the others."""
    from featurestore.types import Json, Map, StructType

    if dtype == Json:
        return to_json
    if dtype == Map:
        return to_map
    if isinstance(dtype, StructType):
        return struct_converter(dtype.fields)
    return None
