"""Entity: the thing features describe (a driver, a customer), identified by join keys."""
from __future__ import annotations

from featurestore import types
from featurestore.definitions._checks import check_name, check_str, check_tags, check_unique
from featurestore.errors import DefinitionError
from featurestore.protos import registry_pb2


class Entity:
    """An entity and the column(s) that identify it in sources and entity frames.

    >>> driver = Entity(name="driver", join_keys=["driver_id"])
    >>> driver.join_keys
    ['driver_id']
    >>> Entity(name="customer").join_keys  # Feast's default: the entity's name
    ['customer']
    """

    def __init__(self, *, name: str, join_keys: list[str] | None = None, description: str = "",
                 tags: dict[str, str] | None = None, join_key: str | None = None, value_type=None):
        kind = f"Entity {name!r}"
        self.name = check_name("Entity", name)
        # Feast's older spellings: join_key= (one key), and value_type=, the key's type, which here
        # comes from the views' schemas (or their sources at apply) and so needs no second place.
        if join_key is not None:
            if join_keys is not None:
                raise DefinitionError(f"{kind}: give join_keys=[...] or Feast's older join_key=, not both")
            join_keys = [join_key]
        if value_type is not None and not isinstance(value_type, types.FeatureType):
            raise DefinitionError(f"{kind}: value_type must be a featurestore.types type (or ValueType.X), "
                                  f"got {value_type!r}")
        if join_keys is None:
            join_keys = [name]  # Feast's default: the entity's name is its join key
        if isinstance(join_keys, str) or not isinstance(join_keys, (list, tuple)) or not join_keys:
            raise DefinitionError(f"{kind}: join_keys must be a non-empty list of column names, got {join_keys!r}")
        self.join_keys = [check_name(kind, key, "join key") for key in join_keys]
        check_unique(kind, "join key", self.join_keys)
        self.description = check_str(kind, "description", description)
        self.tags = check_tags(kind, tags)

    @property
    def join_key(self) -> str:
        """The single join key (Feast's attribute); composite entities have several."""
        return self.join_keys[0]

    def to_proto(self) -> registry_pb2.Entity:
        return registry_pb2.Entity(name=self.name, join_keys=self.join_keys, description=self.description,
                                   tags=self.tags)

    @classmethod
    def from_proto(cls, proto: registry_pb2.Entity) -> Entity:
        return cls(name=proto.name, join_keys=list(proto.join_keys), description=proto.description,
                   tags=dict(proto.tags))

    def __eq__(self, other) -> bool:
        return isinstance(other, Entity) and self.to_proto() == other.to_proto()

    def __hash__(self) -> int:
        return hash(("Entity", self.name))

    def __repr__(self) -> str:
        return f"Entity(name={self.name!r}, join_keys={self.join_keys!r})"
