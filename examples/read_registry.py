"""The registry is Feast's Registry message: read registry.db with protobuf alone.

    python examples/read_registry.py driver_repo/data/registry.db

Here with featurestore's copy of Feast's schema (featurestore/protos/feast_registry.proto);
Feast's own generated classes (feast.protos.feast.core.Registry_pb2) read the same bytes, and
so does any language with protobuf and Feast's .proto files.
"""
import sys

from featurestore.protos.feast_registry_pb2 import Registry, ValueType


def describe(path: str) -> str:
    registry = Registry()
    with open(path, "rb") as file:
        registry.ParseFromString(file.read())
    lines = [f"project {', '.join(p.spec.name for p in registry.projects)}, "
             f"updated {registry.last_updated.ToDatetime().isoformat()}Z"]
    for entity in registry.entities:
        lines.append(f"entity {entity.spec.name}: join key {entity.spec.join_key}")
    for source in registry.data_sources:
        options = source.WhichOneof("options")
        lines.append(f"source {source.name}: {options}, timestamp {source.timestamp_field}")
    for view in registry.feature_views:
        spec = view.spec
        fields = ", ".join(f"{f.name}:{ValueType.Enum.Name(f.value_type)}" for f in [*spec.entity_columns,
                                                                                   *spec.features])
        lines.append(f"feature view {spec.name}: entities {', '.join(spec.entities)}; ttl {spec.ttl.seconds}s; "
                     f"{fields}; {len(view.meta.materialization_intervals)} materialized interval(s)")
    for service in registry.feature_services:
        refs = [f"{p.feature_view_name}:{c.name}" for p in service.spec.features for c in p.feature_columns]
        lines.append(f"feature service {service.spec.name}: {', '.join(refs)}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe(sys.argv[1] if len(sys.argv) > 1 else "data/registry.db"))
