"""The registry is plain protobuf: read registry.db with the generated classes, nothing else.

    python examples/read_registry.py driver_repo/data/registry.db

Any language with protobuf can do the same from featurestore/protos/registry.proto.
"""
import sys

from featurestore.protos.registry_pb2 import Registry
from featurestore.protos.value_pb2 import ValueType


def describe(path: str) -> str:
    registry = Registry()
    with open(path, "rb") as file:
        registry.ParseFromString(file.read())
    lines = [f"project {registry.project}, registry version {registry.version}, "
             f"updated {registry.last_updated.ToDatetime().isoformat()}Z"]
    for entity in registry.entities:
        lines.append(f"entity {entity.name}: join keys {', '.join(entity.join_keys)}")
    for source in registry.data_sources:
        location = getattr(source, source.WhichOneof("location"))
        lines.append(f"source {source.name}: {source.WhichOneof('location')} {location}, "
                     f"timestamp {source.timestamp_field}")
    for view in registry.feature_views:
        fields = ", ".join(f"{f.name}:{ValueType.Name(f.dtype)}" for f in view.schema)
        lines.append(f"feature view {view.name}: entities {', '.join(view.entities)}; ttl {view.ttl.seconds}s; "
                     f"{fields}; {len(view.materialization_intervals)} materialized interval(s)")
    for service in registry.feature_services:
        refs = [f"{p.feature_view}:{f}" for p in service.projections for f in p.features]
        lines.append(f"feature service {service.name}: {', '.join(refs)}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe(sys.argv[1] if len(sys.argv) > 1 else "data/registry.db"))
