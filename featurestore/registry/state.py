"""RegistryState: the registry's content as definition objects, and its protobuf form.

Both registry stores (a file, featurestore/registry/file.py; a SQL database,
featurestore/registry/sql.py) keep the same bytes per version: Feast's `Registry` message
(featurestore/protos/feast_registry.proto), made by `to_bytes` and parsed and checked by
parse_registry; featurestore/registry/feast_format.py maps the definitions both ways.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from featurestore.definitions import FeatureView, OnDemandFeatureView
from featurestore.definitions.kinds import BY_FIELD, KINDS, one_dict_per_kind
from featurestore.errors import NotFoundError, RegistryError, did_you_mean
from featurestore.protos import registry_pb2
from featurestore.registry import feast_format

FORMAT_VERSION = 1
HOW_TO_FIX = ("restore it from a backup, or delete it and run `featurestore apply` to rebuild it "
              "(materialization history is then lost)")


@dataclass
@one_dict_per_kind
class RegistryState:
    """The registry's content as definition objects: besides the fields below, one dict per
    definition kind, name -> definition, named by the kind's field (`entities`,
    `feature_views`, ...: see featurestore.definitions.kinds.KINDS)."""
    project: str
    version: int = 0
    last_updated: datetime | None = None
    registry_id: str = ""  # given at the first write, kept by every later one (registry.proto)

    def collection(self, kind: str) -> dict:
        """The dict of a kind, named by its field ('entities', 'feature_views', ...)."""
        return getattr(self, kind)

    def get(self, kind: str, name: str):
        items = self.collection(kind)
        if name not in items:
            raise NotFoundError(f"no {BY_FIELD[kind].singular} named {name!r} in project {self.project!r}."
                                f"{did_you_mean(name, items)}", BY_FIELD[kind].not_found)
        return items[name]

    def feature_view(self, name: str) -> FeatureView:
        return self.get("feature_views", name)

    def on_demand_feature_view(self, name: str) -> OnDemandFeatureView:
        return self.get("on_demand_feature_views", name)

    def to_proto(self) -> registry_pb2.Registry:
        proto = registry_pb2.Registry(
            format_version=FORMAT_VERSION, project=self.project, version=self.version, complete=True,
            registry_id=self.registry_id,
            **{kind.field: [obj.to_proto() for _, obj in sorted(self.collection(kind.field).items())]
               for kind in KINDS})
        if self.last_updated:
            proto.last_updated.FromDatetime(self.last_updated)
        return proto

    @classmethod
    def from_proto(cls, proto: registry_pb2.Registry) -> RegistryState:
        return cls(
            project=proto.project, version=proto.version, registry_id=proto.registry_id,
            last_updated=proto.last_updated.ToDatetime(tzinfo=UTC) if proto.HasField("last_updated")
            else None,
            **{kind.field: {p.name: kind.cls.from_proto(p) for p in getattr(proto, kind.field)} for kind in KINDS})

    def to_bytes(self, previous: bytes | None = None) -> bytes:
        """What a registry store keeps: Feast's Registry message (feast_format), keeping what
        `previous` (the bytes it replaces) holds of other projects."""
        return feast_format.encode(self.to_proto(), {name: [f.to_proto() for f in view.features]
                                                     for name, view in self.feature_views.items()}, previous)

    def to_json(self) -> str:
        return json_format.MessageToJson(self.to_proto(), preserving_proto_field_name=True, indent=2)


def parse_registry(data: bytes, where: str, project: str) -> RegistryState:
    """The state in `data` (one serialized Registry message), refused in one line when it is
    torn, from a newer featurestore, or of another project. `where` names it in messages."""
    try:
        proto = feast_format.decode(data, project)
    except DecodeError as error:
        raise RegistryError(f"registry {where} is corrupt ({error}); {HOW_TO_FIX}") from None
    except RegistryError as error:  # a Feast-written definition featurestore cannot take
        raise RegistryError(f"registry {where}: {error}") from None
    if proto.format_version > FORMAT_VERSION:
        raise RegistryError(f"registry {where} has format version {proto.format_version}, newer than "
                            f"this featurestore understands ({FORMAT_VERSION}); upgrade featurestore")
    if not proto.complete or proto.format_version < 1:
        raise RegistryError(f"registry {where} is truncated or not a featurestore registry; {HOW_TO_FIX}")
    if proto.project != project:
        raise RegistryError(f"registry {where} belongs to project {proto.project!r}, but "
                            f"feature_store.yaml says project {project!r}; point 'registry' at "
                            f"another file or fix 'project'")
    try:
        return RegistryState.from_proto(proto)
    except Exception as error:  # a definition in the file no longer constructs
        raise RegistryError(f"registry {where} holds an invalid definition: {error}") from None


def copy_state(state: RegistryState) -> RegistryState:
    """A state whose collections can be changed without touching `state`'s (definitions shared)."""
    return RegistryState(project=state.project, version=state.version, last_updated=state.last_updated,
                         registry_id=state.registry_id,
                         **{kind.field: dict(state.collection(kind.field)) for kind in KINDS})


def stamp_write(state: RegistryState, version: int) -> None:
    """Number, date and (at the registry's first write) identify a state about to be written."""
    state.version = version
    state.last_updated = datetime.now(UTC)
    if not state.registry_id:
        state.registry_id = uuid.uuid4().hex


def changed_between(before: RegistryState, after: RegistryState, names: list[tuple[str, str]]) -> list[str]:
    """Which of `names` ((kind field, name) pairs) differ from `before` to `after`, as
    'feature view driver_stats'. Definitions compare without their materialization
    intervals, so a materialization run in between is not a change."""
    changed = []
    for kind, name in names:
        if before.collection(kind).get(name) != after.collection(kind).get(name):
            changed.append(f"{BY_FIELD[kind].singular} {name}")
    return changed
