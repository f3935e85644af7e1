"""Feature value types, named as in Feast: Int32, Int64, Float32, Float64, String, Bool,
Bytes, UnixTimestamp and Array(T).

Each type knows its protobuf ValueType (for the registry and the online stores) and which
Spark column types it accepts, so apply can check a definition against the real table
without this module importing pyspark (Spark types are compared by their simple names).
"""
from __future__ import annotations

from featurestore.protos import value_pb2


class FeatureType:
    """A scalar or list feature type. Instances are singletons compared by name."""

    def __init__(self, name: str, value_type: int, spark_types: tuple[str, ...]):
        self.name = name
        self.value_type = value_type
        self.spark_types = spark_types  # Spark simpleString()s this type accepts

    def __repr__(self) -> str:
        return self.name

    def __eq__(self, other) -> bool:
        return isinstance(other, FeatureType) and other.value_type == self.value_type

    def __hash__(self) -> int:
        return hash(self.value_type)

    @property
    def is_list(self) -> bool:
        return False

    @property
    def holds_dicts(self) -> bool:
        """Whether values are dicts (Feast's Map and Struct): Python objects, not Arrow scalars."""
        return False

    @property
    def spark_type(self) -> str:
        """The Spark type values of this type are cast to (e.g. join keys before a join)."""
        return self.spark_types[0]

    def accepts_spark_type(self, spark_simple_string: str) -> bool:
        """True when a Spark column of this type can hold values of this feature type."""
        return spark_simple_string in self.spark_types


Int32 = FeatureType("Int32", value_pb2.INT32, ("int", "smallint", "tinyint"))
Int64 = FeatureType("Int64", value_pb2.INT64, ("bigint", "int", "smallint", "tinyint"))
Float32 = FeatureType("Float32", value_pb2.FLOAT32, ("float",))
Float64 = FeatureType("Float64", value_pb2.FLOAT64, ("double", "float"))
String = FeatureType("String", value_pb2.STRING, ("string",))
Bool = FeatureType("Bool", value_pb2.BOOL, ("boolean",))
Bytes = FeatureType("Bytes", value_pb2.BYTES, ("binary",))
UnixTimestamp = FeatureType("UnixTimestamp", value_pb2.UNIX_TIMESTAMP, ("timestamp", "timestamp_ntz"))

SCALAR_TYPES = (Int32, Int64, Float32, Float64, String, Bool, Bytes, UnixTimestamp)
_LIST_OFFSET = 10  # ValueType numbering: X_LIST == X + 10


class ArrayType(FeatureType):
    """A list of a scalar type, e.g. Array(Float32)."""

    def __init__(self, element: FeatureType):
        self.element = element
        super().__init__(f"Array({element.name})", element.value_type + _LIST_OFFSET, ())

    @property
    def is_list(self) -> bool:
        return True

    @property
    def spark_type(self) -> str:
        return f"array<{self.element.spark_type}>"

    def accepts_spark_type(self, spark_simple_string: str) -> bool:
        if not (spark_simple_string.startswith("array<") and spark_simple_string.endswith(">")):
            return False
        return self.element.accepts_spark_type(spark_simple_string[len("array<"):-1])


def Array(element: FeatureType) -> ArrayType:
    """The list type of a scalar type: Array(Int64), Array(String), ...

    >>> Array(Int64).accepts_spark_type("array<int>"), Array(Int64).accepts_spark_type("array<string>")
    (True, False)
    >>> Array(Array(Int64))
    Traceback (most recent call last):
    TypeError: Array() takes a scalar type such as Int64, got Array(Int64)
    """
    if not isinstance(element, FeatureType) or element.is_list or element not in SCALAR_TYPES:
        raise TypeError(f"Array() takes a scalar type such as Int64, got {element!r}")
    return ArrayType(element)


def from_spark_type(spark_simple_string: str) -> FeatureType | None:
    """The feature type a Spark column type is inferred as (None: no feature type holds it).

    >>> from_spark_type("bigint"), from_spark_type("int"), from_spark_type("array<double>"), from_spark_type("map<string,int>")
    (Int64, Int32, Array(Float64), None)
    """
    if spark_simple_string.startswith("array<") and spark_simple_string.endswith(">"):
        element = from_spark_type(spark_simple_string[len("array<"):-1])
        return None if element is None or element.is_list else ArrayType(element)
    for scalar in (Int32, Int64, Float32, Float64, String, Bool, Bytes, UnixTimestamp):
        if spark_simple_string == scalar.spark_types[0] or (scalar is Int32 and spark_simple_string in
                                                            ("smallint", "tinyint")):
            return scalar
    return None


def from_value_type(value_type: int, struct_fields: dict | None = None) -> FeatureType:
    """The FeatureType for a protobuf ValueType number (used when reading the registry); a
    STRUCT's fields come from the registry's Field.struct_fields."""
    if value_type == value_pb2.MAP:
        return Map
    if value_type == value_pb2.JSON:
        return Json
    if value_type == value_pb2.STRUCT:
        return Struct(struct_fields or {})
    for scalar in SCALAR_TYPES:
        if scalar.value_type == value_type:
            return scalar
        if scalar.value_type + _LIST_OFFSET == value_type:
            return ArrayType(scalar)
    raise ValueError(f"unknown ValueType {value_type}")


class ValueType:
    """Feast's older ValueType names (`Feature(dtype=ValueType.FLOAT)`, `Entity(value_type=...)`),
    each the feature type it means here: FLOAT is Float32, DOUBLE is Float64.

    >>> ValueType.FLOAT, ValueType.INT64_LIST
    (Float32, Array(Int64))
    """
    BYTES, STRING, INT32, INT64 = Bytes, String, Int32, Int64
    DOUBLE, FLOAT, BOOL, UNIX_TIMESTAMP = Float64, Float32, Bool, UnixTimestamp
    BYTES_LIST, STRING_LIST = ArrayType(Bytes), ArrayType(String)
    INT32_LIST, INT64_LIST = ArrayType(Int32), ArrayType(Int64)
    DOUBLE_LIST, FLOAT_LIST = ArrayType(Float64), ArrayType(Float32)
    BOOL_LIST, UNIX_TIMESTAMP_LIST = ArrayType(Bool), ArrayType(UnixTimestamp)


class MapType(FeatureType):
    """Feast's Map: string keys, values of any type (a dict). Read from a Spark map with string
    keys or a struct column; stored online as Feast's Map message."""

    def __init__(self):
        super().__init__("Map", value_pb2.MAP, ())

    @property
    def holds_dicts(self) -> bool:
        return True

    @property
    def spark_type(self) -> str:
        return "map<string,string>"

    def accepts_spark_type(self, spark_simple_string: str) -> bool:
        return spark_simple_string.startswith(("map<string,", "struct<"))


class StructType(FeatureType):
    """Feast's Struct({"name": String, "age": Int64}): a dict of declared fields, each of a
    feature type; read from a Spark struct column with those fields, in that order."""

    def __init__(self, fields: dict[str, FeatureType]):
        self.fields = dict(fields)
        inner = ", ".join(f"{name!r}: {dtype!r}" for name, dtype in self.fields.items())
        super().__init__(f"Struct({{{inner}}})", value_pb2.STRUCT, ())

    @property
    def holds_dicts(self) -> bool:
        return True

    @property
    def spark_type(self) -> str:
        return "struct<" + ",".join(f"{name}:{dtype.spark_type}" for name, dtype in self.fields.items()) + ">"

    def accepts_spark_type(self, spark_simple_string: str) -> bool:
        if not (spark_simple_string.startswith("struct<") and spark_simple_string.endswith(">")):
            return False
        members = [part.split(":", 1) for part in split_top_level(spark_simple_string[len("struct<"):-1])]
        return [m[0] for m in members] == list(self.fields) and all(
            len(m) == 2 and self.fields[m[0]].accepts_spark_type(m[1]) for m in members)

    def __eq__(self, other) -> bool:
        return isinstance(other, StructType) and other.fields == self.fields

    def __hash__(self) -> int:
        return hash(self.name)


def Struct(fields: dict) -> StructType:
    """A struct of named fields of feature types (Feast's `Struct({"name": String})`).

    >>> Struct({"name": String, "age": Int64}).accepts_spark_type("struct<name:string,age:bigint>")
    True
    >>> Struct({"name": String}).spark_type
    'struct<name:string>'
    """
    if not isinstance(fields, dict) or not fields:
        raise TypeError(f"Struct() takes a non-empty dict of field name to type, got {fields!r}")
    for name, dtype in fields.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"Struct() field names are plain identifiers, got {name!r}")
        if not isinstance(dtype, FeatureType):
            raise TypeError(f"Struct() field {name!r} must have a featurestore.types type, got {dtype!r}")
    return StructType(fields)


def split_top_level(text: str) -> list[str]:
    """A Spark type or DDL list split at its top-level commas: commas inside <> or () separate
    nested fields, not items.

    >>> split_top_level("a:int,b:map<string,int>,c decimal(10,2)")
    ['a:int', 'b:map<string,int>', 'c decimal(10,2)']
    """
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


Map = MapType()
Json = FeatureType("Json", value_pb2.JSON, ("string",))  # JSON text in a string column

__all__ = [
    "Array",
    "Bool",
    "Bytes",
    "FeatureType",
    "Float32",
    "Float64",
    "Int32",
    "Int64",
    "Json",
    "Map",
    "String",
    "Struct",
    "UnixTimestamp",
    "ValueType",
]
