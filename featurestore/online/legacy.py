"""Online stores written before featurestore took Feast's encodings (issue #38), converted.

Until then an entity key was its EntityKey message's bytes (the join keys and their typed
values, serialized deterministically) and a value a Value message with featurestore's own
field numbers (timestamps in microseconds): featurestore/protos/legacy_value.proto. Both
describe their own types, so a stored row converts without its definition:
- a key to Feast's serialization of the same names and values (online/codec.py);
- a value to Feast's Value message of the same field name (online/feast_time.py splits a
  timestamp's microseconds into Feast's seconds and featurestore's remainder).
`featurestore apply` converts a store it finds in the earlier layout (SQLite: each table in
one transaction; Redis: each batch of hashes in one MULTI), so nothing is lost, and a
conversion interrupted midway is finished by the next apply.
"""
from __future__ import annotations

from featurestore import types
from featurestore.online.codec import serialize_entity_key
from featurestore.online.feast_time import fill_timestamp, fill_timestamp_list
from featurestore.protos import legacy_value_pb2 as legacy
from featurestore.protos.value_pb2 import Value
from featurestore.times import micros_to_datetime

# an earlier key's value field -> the declared type that serializes it
_KEY_TYPES = {"int64_val": types.Int64, "int32_val": types.Int32, "string_val": types.String,
              "bool_val": types.Bool, "bytes_val": types.Bytes, "float_val": types.Float32,
              "double_val": types.Float64, "unix_timestamp_val": types.UnixTimestamp}


def is_earlier_key(key: bytes) -> bool:
    """An earlier entity key begins with its first join key's tag (field 1, length-delimited);
    Feast's begins with the number of join keys as a 4-byte integer."""
    return key[:1] == b"\n"


def feast_key(key: bytes) -> bytes:
    """An earlier entity key as Feast's serialization of the same join keys and values."""
    message = legacy.EntityKey.FromString(key)
    names, values, dtypes = [], [], []
    for name, value in zip(message.join_keys, message.entity_values):
        field = value.WhichOneof("val")
        names.append(name)
        dtypes.append(_KEY_TYPES[field])
        stored = getattr(value, field)
        values.append(micros_to_datetime(stored) if field == "unix_timestamp_val" else stored)
    return serialize_entity_key(names, values, dtypes)


def feast_value(data: bytes) -> bytes:
    """An earlier serialized Value as Feast's Value message of the same value (b"" stays null)."""
    return _converted(legacy.Value.FromString(data)).SerializeToString() if data else data


def _converted(message: legacy.Value) -> Value:
    field = message.WhichOneof("val")
    out = Value()
    if field is None:
        return out
    stored = getattr(message, field)
    if field == "unix_timestamp_val":
        fill_timestamp(out, stored)
    elif field == "unix_timestamp_list_val":
        fill_timestamp_list(out, stored.val)
    elif field in ("map_val", "struct_val"):
        entries = getattr(out, field).val
        for key, item in stored.val.items():
            entries[key].CopyFrom(_converted(item))
    elif field.endswith("_list_val"):
        getattr(out, field).val.extend(stored.val)
    else:
        setattr(out, field, stored)
    return out
