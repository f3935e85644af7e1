"""Field: a named, typed column of a feature view's schema."""
from __future__ import annotations

from featurestore import types
from featurestore.definitions._checks import check_name, check_str, check_tags
from featurestore.errors import DefinitionError
from featurestore.protos import registry_pb2


class Field:
    """A column and its feature type.

    >>> from featurestore.types import Array, Float32, Int64
    >>> Field(name="conv_rate", dtype=Float32)
    Field(name='conv_rate', dtype=Float32)
    >>> Field(name="trip_ids", dtype=Array(Int64)).dtype.spark_type
    'array<bigint>'
    """

    def __init__(self, *, name: str, dtype: types.FeatureType, description: str = "",
                 tags: dict[str, str] | None = None):
        self.name = check_name("Field", name)
        if not isinstance(dtype, types.FeatureType):
            raise DefinitionError(
                f"Field {name!r}: dtype must be a featurestore.types type such as Float32 or Array(Int64), "
                f"got {dtype!r}")
        self.dtype = dtype
        self.description = check_str(f"Field {name!r}", "description", description)
        self.tags = check_tags(f"Field {name!r}", tags)

    def to_proto(self) -> registry_pb2.Field:
        proto = registry_pb2.Field(name=self.name, dtype=self.dtype.value_type, description=self.description,
                                   tags=self.tags)
        if isinstance(self.dtype, types.StructType):
            proto.struct_fields.extend(Field(name=n, dtype=t).to_proto() for n, t in self.dtype.fields.items())
        return proto

    @classmethod
    def from_proto(cls, proto: registry_pb2.Field) -> Field:
        members = {member.name: cls.from_proto(member).dtype for member in proto.struct_fields}
        return cls(name=proto.name, dtype=types.from_value_type(proto.dtype, members), description=proto.description,
                   tags=dict(proto.tags))

    def __eq__(self, other) -> bool:
        return isinstance(other, Field) and self.to_proto() == other.to_proto()

    def __hash__(self) -> int:
        return hash((self.name, self.dtype))

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, dtype={self.dtype!r})"


class Feature(Field):
    """Feast's older spelling of a schema field: `Feature(name="conv_rate", dtype=ValueType.FLOAT)`
    (labels are its tags). A FeatureView takes a list of them as `features=`."""

    def __init__(self, name: str, dtype: types.FeatureType, labels: dict[str, str] | None = None,
                 description: str = ""):
        super().__init__(name=name, dtype=dtype, description=description, tags=labels)
