"""registry.db's bytes: Feast's Registry message, with what Feast cannot say kept beside it.

featurestore's definitions (featurestore/protos/registry.proto, the "internal" messages the
definition classes write) are stored in Feast 0.67's Registry layout
(featurestore/protos/feast_registry.proto), so Feast's SDK, CLI, UI and servers list every
entity, source, view, on-demand view and service with their features and types, and
featurestore reads a registry that Feast wrote.

One rule decides what goes where, for every kind of definition:
- `to_feast` writes everything Feast has a field for, where Feast reads it;
- `from_feast` reads a definition back from Feast's fields alone (what a Feast-written
  registry gives);
- field 1000 of the Feast message (a field Feast does not use and its parsers keep) holds
  the definition minus every field that `from_feast` already gives back exactly. Reading is
  `from_feast`, then those kept fields laid over it.

So nothing is lost (`encode` checks that each definition reads back equal before anything is
written), nothing Feast can show is hidden from it, and a definition that Feast rewrote (its
field 1000 gone) reads as Feast wrote it. A registry in featurestore's own earlier layout
(a Registry of registry.proto, recognized by its first byte) is still read; the next write
converts it.
"""
from __future__ import annotations

import json
import re
import uuid

from google.protobuf.unknown_fields import UnknownFieldSet

from featurestore.errors import RegistryError
from featurestore.protos import feast_registry_pb2 as feast
from featurestore.protos import registry_pb2 as ours
from featurestore.protos import value_pb2

FEAST_SCHEMA_VERSION = "1"  # what Feast writes in registry_schema_version
VERSION_ID_PREFIX = "featurestore:"  # version_id of a registry featurestore wrote: it and its version

# featurestore's value type -> Feast's (feast/types/Value.proto); names differ for floats only.
FEAST_VALUE_TYPE = {
    number: feast.ValueType.Enum.Value({"FLOAT32": "FLOAT", "FLOAT64": "DOUBLE", "FLOAT32_LIST": "FLOAT_LIST",
                                        "FLOAT64_LIST": "DOUBLE_LIST"}.get(name, name))
    for name, number in value_pb2.ValueType.items() if name != "INVALID"}
OUR_VALUE_TYPE = {feast_number: number for number, feast_number in FEAST_VALUE_TYPE.items()}

# Feast's class for each kind of source (its DataSource.from_proto imports it by this name)
SPARK_CLASS = "feast.infra.offline_stores.contrib.spark_offline_store.spark_source.SparkSource"
FILE_CLASS = "feast.infra.offline_stores.file_source.FileSource"
PUSH_CLASS = "feast.data_source.PushSource"
KAFKA_CLASS = "feast.data_source.KafkaSource"
REQUEST_CLASS = "feast.data_source.RequestSource"


def _enum_name(enum, number: int) -> str:
    """An enum value's name, or its number where this schema lists no name for it."""
    return enum.Name(number) if number in enum.values() else str(number)


# ---- fields -----------------------------------------------------------------------------------

STRUCT_SCHEMA_TAG = "feast:struct_schema"  # where Feast keeps a Struct's fields: {name: type text} as JSON


def _type_text(field: ours.Field) -> str:
    """A struct member's type as Feast writes it in STRUCT_SCHEMA_TAG: INT64, Array(STRING), or a
    nested struct's {"__struct__": {...}} JSON."""
    if field.dtype == value_pb2.STRUCT:
        return json.dumps({"__struct__": {f.name: _type_text(f) for f in field.struct_fields}})
    name = value_pb2.ValueType.Name(field.dtype)
    return f"Array({name.removesuffix('_LIST')})" if name.endswith("_LIST") else name


def _member(name: str, text: str) -> ours.Field:
    """_type_text's inverse."""
    if text.startswith("{"):
        members = json.loads(text).get("__struct__", {})
        return ours.Field(name=name, dtype=value_pb2.STRUCT, struct_fields=[_member(n, t) for n, t in members.items()])
    if text.startswith("Array(") and text.endswith(")"):
        text = f"{text[6:-1]}_LIST"
    if text not in value_pb2.ValueType.keys():
        raise RegistryError(f"struct field {name!r} has Feast type {text}, which featurestore does not serve")
    return ours.Field(name=name, dtype=value_pb2.ValueType.Value(text))


def _feature_spec(field: ours.Field) -> feast.FeatureSpecV2:
    spec = feast.FeatureSpecV2(name=field.name, value_type=FEAST_VALUE_TYPE.get(field.dtype, 0),
                               tags=field.tags, description=field.description)
    if field.dtype == value_pb2.STRUCT:
        spec.tags[STRUCT_SCHEMA_TAG] = json.dumps({f.name: _type_text(f) for f in field.struct_fields})
    return spec


def _field(spec: feast.FeatureSpecV2) -> ours.Field:
    if spec.value_type not in OUR_VALUE_TYPE:
        raise RegistryError(f"field {spec.name!r} has Feast value type {_enum_name(feast.ValueType.Enum, spec.value_type)}, "
                            f"which featurestore does not serve")
    tags = dict(spec.tags)
    schema = tags.pop(STRUCT_SCHEMA_TAG, None) if spec.value_type == feast.ValueType.STRUCT else None
    field = ours.Field(name=spec.name, dtype=OUR_VALUE_TYPE[spec.value_type], tags=tags, description=spec.description)
    if schema is not None:
        field.struct_fields.extend(_member(name, text) for name, text in json.loads(schema).items())
    return field


# ---- the split: Feast's fields, and the rest in field 1000 ---------------------------------------

def _copy_field(target, source, field) -> None:
    """Set `field` of `target` to `source`'s value, replacing what was there."""
    target.ClearField(field.name)
    if field.has_presence and not field.is_repeated and not source.HasField(field.name):
        return  # an unset `optional` field stays unset (0 set is not 0 unset)
    value = getattr(source, field.name)
    if field.is_repeated:
        getattr(target, field.name).MergeFrom(value)
    elif field.message_type is not None:
        getattr(target, field.name).CopyFrom(value)
    else:
        setattr(target, field.name, value)


def _same_field(a, b, field) -> bool:
    only_a, only_b = type(a)(), type(b)()
    _copy_field(only_a, a, field)
    _copy_field(only_b, b, field)
    return only_a == only_b


def _is_message(field) -> bool:
    return field.message_type is not None and not field.is_repeated


def kept_beside(definition, read_back):
    """`definition` minus every field that `read_back` (its reading from Feast's fields) has
    equal; a message field that differs keeps only its own differing fields."""
    kept = type(definition)()
    for field, value in definition.ListFields():
        if _same_field(definition, read_back, field):
            continue
        if _is_message(field) and read_back.HasField(field.name):
            inner = kept_beside(value, getattr(read_back, field.name))
            getattr(kept, field.name).CopyFrom(inner)
        else:
            _copy_field(kept, definition, field)
    return kept


def laid_over(read_back, kept):
    """`read_back` with every field set in `kept` replacing its own (message fields field by field)."""
    for field, value in kept.ListFields():
        if _is_message(field) and read_back.HasField(field.name):
            laid_over(getattr(read_back, field.name), value)
        else:
            _copy_field(read_back, kept, field)
    return read_back


def _round_trip(message):
    """`message` as a reader gets it: serialized and parsed (maps come back in wire order)."""
    return type(message).FromString(message.SerializeToString())


def _attach(spec, definition, from_feast, what: str) -> None:
    """Fill spec.featurestore with what Feast's fields lack, and check that it reads back equal."""
    read_back = from_feast(_round_trip(spec))
    kept = kept_beside(definition, read_back)
    if kept.ListFields():
        spec.featurestore.CopyFrom(kept)
    if _read(_round_trip(spec), from_feast) != definition:
        raise RegistryError(f"{what} does not survive the registry's format (a featurestore defect; please "
                            f"report it with the definition)")


def _read(spec, from_feast):
    return laid_over(from_feast(spec), spec.featurestore) if spec.HasField("featurestore") else from_feast(spec)


# ---- entities ------------------------------------------------------------------------------------

def entity_to_feast(entity: ours.Entity, project: str, key_types: dict[str, int]) -> feast.Entity:
    spec = feast.EntitySpecV2(name=entity.name, project=project, join_key=entity.join_keys[0],
                              description=entity.description, tags=entity.tags,
                              value_type=FEAST_VALUE_TYPE.get(key_types.get(entity.join_keys[0], 0), 0))
    _attach(spec, entity, entity_from_feast, f"entity {entity.name!r}")
    return feast.Entity(spec=spec)


def entity_from_feast(spec: feast.EntitySpecV2) -> ours.Entity:
    return ours.Entity(name=spec.name, join_keys=[spec.join_key] if spec.join_key else [spec.name],
                       description=spec.description, tags=spec.tags)


# ---- data sources --------------------------------------------------------------------------------

def source_to_feast(source: ours.DataSource, project: str) -> feast.DataSource:
    wire = feast.DataSource(name=source.name, project=project, timestamp_field=source.timestamp_field,
                            created_timestamp_column=source.created_timestamp_column,
                            field_mapping=source.field_mapping, description=source.description, tags=source.tags)
    if source.kind == ours.DataSource.FILE:
        wire.type, wire.data_source_class_type = feast.DataSource.BATCH_FILE, FILE_CLASS
        wire.file_options.uri = source.path
        if source.file_format == "delta":
            wire.file_options.file_format.delta_format.SetInParent()
        else:
            wire.file_options.file_format.parquet_format.SetInParent()
    else:
        wire.type, wire.data_source_class_type = feast.DataSource.BATCH_SPARK, SPARK_CLASS
        location = source.WhichOneof("location")
        setattr(wire.spark_options, location, getattr(source, location))
        wire.spark_options.file_format = source.file_format
    _attach(wire, source, source_from_feast, f"data source {source.name!r}")
    return wire


def _source_name(name: str) -> str:
    """A source name as featurestore requires it (a plain identifier): Feast names a FileSource
    given no name by its path ("data/stats.parquet" reads as "data_stats_parquet")."""
    plain = re.sub(r"\W", "_", name, flags=re.ASCII)
    return plain if plain[:1].isalpha() or plain[:1] == "_" else f"_{plain}"


def source_from_feast(wire: feast.DataSource) -> ours.DataSource:
    source = ours.DataSource(name=_source_name(wire.name), timestamp_field=wire.timestamp_field,
                             created_timestamp_column=wire.created_timestamp_column,
                             field_mapping=wire.field_mapping, description=wire.description, tags=wire.tags)
    options = wire.WhichOneof("options")
    if options == "file_options":
        source.kind, source.path = ours.DataSource.FILE, wire.file_options.uri
        delta = wire.file_options.file_format.WhichOneof("format") == "delta_format"
        source.file_format = "delta" if delta else "parquet"
    elif options == "spark_options":
        spark = wire.spark_options
        source.kind = ours.DataSource.SPARK
        if spark.table:
            source.table = spark.table
        elif spark.query:
            source.query = spark.query
        else:
            source.path = spark.path
        source.file_format = spark.file_format
    else:
        raise RegistryError(f"data source {wire.name!r} is a Feast {_enum_name(feast.DataSource.SourceType, wire.type)} "
                            f"source; featurestore reads Spark sources (tables, queries, paths) and files")
    return source


def _kafka_to_feast(kafka: ours.KafkaSource, batch: feast.DataSource, project: str) -> feast.DataSource:
    wire = feast.DataSource(name=kafka.name, project=project, type=feast.DataSource.STREAM_KAFKA,
                            data_source_class_type=KAFKA_CLASS, description=kafka.description, tags=kafka.tags,
                            owner=kafka.owner, timestamp_field=batch.timestamp_field, batch_source=batch)
    options = wire.kafka_options
    options.kafka_bootstrap_servers, options.topic = kafka.bootstrap_servers, kafka.topic
    message_format = options.message_format.avro_format if kafka.message_format == "avro" \
        else options.message_format.json_format
    message_format.schema_json = kafka.schema_json
    if kafka.HasField("watermark_delay_threshold"):
        options.watermark_delay_threshold.CopyFrom(kafka.watermark_delay_threshold)
    return wire


def _kafka_from_feast(wire: feast.DataSource) -> ours.KafkaSource:
    options = wire.kafka_options
    message_format = options.message_format.WhichOneof("format") or "json_format"
    kafka = ours.KafkaSource(name=wire.name, bootstrap_servers=options.kafka_bootstrap_servers, topic=options.topic,
                             message_format=message_format.removesuffix("_format"),
                             schema_json=getattr(options.message_format, message_format).schema_json,
                             description=wire.description, tags=wire.tags, owner=wire.owner)
    if options.HasField("watermark_delay_threshold"):
        kafka.watermark_delay_threshold.CopyFrom(options.watermark_delay_threshold)
    return kafka


# ---- feature views -------------------------------------------------------------------------------

def view_to_feast(view: ours.FeatureView, project: str, served: list[ours.Field]) -> feast.FeatureView:
    """`served`: the view's features as served (an aggregating view's are its aggregations')."""
    spec = feast.FeatureViewSpec(
        name=view.name, project=project, entities=view.entities, tags=view.tags, online=view.online,
        description=view.description, owner=view.owner,
        entity_columns=[_feature_spec(f) for f in view.schema if f.name in view.join_keys],
        features=[_feature_spec(f) for f in served])
    spec.ttl.CopyFrom(view.ttl)
    spec.batch_source.CopyFrom(source_to_feast(view.source, project))
    if view.push_source:
        spec.stream_source.CopyFrom(feast.DataSource(name=view.push_source, project=project,
                                                     type=feast.DataSource.PUSH_SOURCE,
                                                     data_source_class_type=PUSH_CLASS,
                                                     push_options=feast.DataSource.PushOptions(),
                                                     batch_source=spec.batch_source))
    elif view.HasField("stream_source"):
        spec.stream_source.CopyFrom(_kafka_to_feast(view.stream_source, spec.batch_source, project))
    meta = feast.FeatureViewMeta(materialization_intervals=[
        feast.MaterializationInterval(start_time=i.start, end_time=i.end) for i in view.materialization_intervals])
    _attach(spec, view, lambda read: view_from_feast(read, meta), f"feature view {view.name!r}")
    return feast.FeatureView(spec=spec, meta=meta)


def view_from_feast(spec: feast.FeatureViewSpec, meta: feast.FeatureViewMeta) -> ours.FeatureView:
    view = ours.FeatureView(
        name=spec.name, entities=spec.entities, online=spec.online, description=spec.description, tags=spec.tags,
        owner=spec.owner, join_keys=[c.name for c in spec.entity_columns],
        schema=[_field(c) for c in spec.entity_columns] + [_field(f) for f in spec.features])
    view.ttl.CopyFrom(spec.ttl)
    view.source.CopyFrom(_read(spec.batch_source, source_from_feast))
    if spec.stream_source.type == feast.DataSource.PUSH_SOURCE:
        view.push_source = spec.stream_source.name
    elif spec.stream_source.type == feast.DataSource.STREAM_KAFKA:
        view.stream_source.CopyFrom(_kafka_from_feast(spec.stream_source))
    for interval in meta.materialization_intervals:
        view.materialization_intervals.add(start=interval.start_time, end=interval.end_time)
    return view


def _read_view(wire: feast.FeatureView) -> ours.FeatureView:
    return _read(wire.spec, lambda spec: view_from_feast(spec, wire.meta))


# ---- on-demand feature views ---------------------------------------------------------------------

def _request_to_feast(request: ours.RequestSource, project: str) -> feast.DataSource:
    return feast.DataSource(name=request.name, project=project, type=feast.DataSource.REQUEST_SOURCE,
                            data_source_class_type=REQUEST_CLASS, description=request.description,
                            tags=request.tags, request_data_options=feast.DataSource.RequestDataOptions(
                                schema=[_feature_spec(f) for f in request.schema]))


def on_demand_to_feast(view: ours.OnDemandFeatureView, project: str,
                       view_features: dict[str, dict[str, ours.Field]]) -> feast.OnDemandFeatureView:
    spec = feast.OnDemandFeatureViewSpec(name=view.name, project=project, description=view.description,
                                         tags=view.tags, mode=view.mode,
                                         features=[_feature_spec(f) for f in view.schema])
    for projection in view.sources:
        spec.sources[projection.feature_view].feature_view_projection.CopyFrom(
            _projection_to_feast(projection, view_features))
    for request in view.request_sources:
        spec.sources[request.name].request_data_source.CopyFrom(_request_to_feast(request, project))
    # The function's name and text, for reading; Feast's `body` (a pickled function) stays empty:
    # featurestore never stores code to run (docs/registry_format.md).
    spec.user_defined_function.CopyFrom(feast.UserDefinedFunction(name=view.udf.name, body_text=view.udf.source))
    spec.feature_transformation.user_defined_function.CopyFrom(
        feast.UserDefinedFunctionV2(name=view.udf.name, body_text=view.udf.source, mode=view.mode))
    _attach(spec, view, on_demand_from_feast, f"on-demand feature view {view.name!r}")
    return feast.OnDemandFeatureView(spec=spec)


def on_demand_from_feast(spec: feast.OnDemandFeatureViewSpec) -> ours.OnDemandFeatureView:
    view = ours.OnDemandFeatureView(name=spec.name, mode=spec.mode, description=spec.description, tags=spec.tags,
                                    schema=[_field(f) for f in spec.features])
    for name in sorted(spec.sources):
        source = spec.sources[name]
        if source.HasField("request_data_source"):
            request = source.request_data_source
            view.request_sources.add(name=request.name, description=request.description, tags=request.tags,
                                     schema=[_field(f) for f in request.request_data_options.schema])
        elif source.HasField("feature_view_projection"):
            view.sources.add(feature_view=source.feature_view_projection.feature_view_name,
                             features=[c.name for c in source.feature_view_projection.feature_columns])
        else:
            view.sources.add(feature_view=source.feature_view.spec.name,
                             features=[f.name for f in source.feature_view.spec.features])
    udf = spec.feature_transformation.user_defined_function if spec.HasField("feature_transformation") \
        else spec.user_defined_function
    view.udf.name, view.udf.source = udf.name, udf.body_text
    return view


# ---- feature services ----------------------------------------------------------------------------

def _projection_to_feast(projection: ours.FeatureProjection,
                         view_features: dict[str, dict[str, ours.Field]]) -> feast.FeatureViewProjection:
    features = view_features.get(projection.feature_view, {})
    return feast.FeatureViewProjection(
        feature_view_name=projection.feature_view, feature_view_name_alias=projection.name_alias,
        join_key_map=projection.join_key_map,
        feature_columns=[_feature_spec(features.get(name) or ours.Field(name=name)) for name in projection.features])


def service_to_feast(service: ours.FeatureService, project: str,
                     view_features: dict[str, dict[str, ours.Field]]) -> feast.FeatureService:
    spec = feast.FeatureServiceSpec(name=service.name, project=project, description=service.description,
                                    tags=service.tags,
                                    features=[_projection_to_feast(p, view_features) for p in service.projections])
    if service.logging_path:
        spec.logging_config.sample_rate = service.logging_sample_rate
        spec.logging_config.file_destination.path = service.logging_path
    _attach(spec, service, service_from_feast, f"feature service {service.name!r}")
    return feast.FeatureService(spec=spec)


def service_from_feast(spec: feast.FeatureServiceSpec) -> ours.FeatureService:
    service = ours.FeatureService(name=spec.name, description=spec.description, tags=spec.tags)
    for projection in spec.features:
        service.projections.add(feature_view=projection.feature_view_name,
                                features=[c.name for c in projection.feature_columns],
                                name_alias=projection.feature_view_name_alias, join_key_map=projection.join_key_map)
    if spec.logging_config.file_destination.path:
        service.logging_path = spec.logging_config.file_destination.path
        service.logging_sample_rate = spec.logging_config.sample_rate
    return service


# ---- the registry --------------------------------------------------------------------------------

def _embedded_sources(wire: feast.Registry, project: str) -> list[feast.DataSource]:
    """The push, Kafka and request sources the project's views hold, listed once each among the
    data sources as Feast lists them (featurestore keeps them inside their views only)."""
    listed = {source.name for source in wire.data_sources if source.project == project}
    found = [view.spec.stream_source for view in wire.feature_views
             if view.spec.project == project and view.spec.HasField("stream_source")]
    found += [source.request_data_source for view in wire.on_demand_feature_views if view.spec.project == project
              for _, source in sorted(view.spec.sources.items()) if source.HasField("request_data_source")]
    embedded = []
    for source in found:
        if source.name not in listed:
            listed.add(source.name)
            embedded.append(source)
    return embedded


# The Registry's lists of one project's objects, and how an object names its project.
_PROJECT_LISTS = {"entities": lambda o: o.spec.project, "data_sources": lambda o: o.project,
                  "feature_views": lambda o: o.spec.project, "on_demand_feature_views": lambda o: o.spec.project,
                  "feature_services": lambda o: o.spec.project, "projects": lambda o: o.spec.name,
                  "project_metadata": lambda o: o.project}


def _others_of(previous: bytes | None, project: str) -> feast.Registry:
    """What `previous` (the bytes being replaced) holds of other projects, kept by the write: a
    registry Feast shares between projects loses none of theirs. Fields this schema does not
    list (Feast's saved datasets, permissions, ...) are kept as they were."""
    if not previous or previous[:1] == b"\x08":  # nothing, or featurestore's earlier layout: one project
        return feast.Registry()
    kept = feast.Registry.FromString(previous)
    for field, project_of in _PROJECT_LISTS.items():
        others = [item for item in getattr(kept, field) if project_of(item) != project]
        kept.ClearField(field)
        getattr(kept, field).extend(others)
    kept.ClearField("featurestore")
    return kept


def without_project(data: bytes, project: str) -> bytes | None:
    """`data` (a registry's bytes) with `project` removed: what a teardown leaves of a file Feast
    shares between projects; None when nothing of another project is left (delete the file)."""
    others = _others_of(data, project)
    if not any(len(getattr(others, field)) for field in _PROJECT_LISTS) and not len(UnknownFieldSet(others)):
        return None
    others.version_id = str(uuid.uuid4())  # now the other projects' registry, as Feast would number it
    return others.SerializeToString()


def encode(registry: ours.Registry, served: dict[str, list[ours.Field]], previous: bytes | None = None) -> bytes:
    """registry.db's bytes for `registry` (definitions as registry.proto messages). `served`:
    each feature view's features as served, by view name (Feast lists those). `previous`: the
    bytes this write replaces, whose other projects' objects are kept."""
    project = registry.project
    key_types = {f.name: f.dtype for view in registry.feature_views for f in view.schema if f.name in view.join_keys}
    view_features = {view.name: {f.name: f for f in served[view.name]} for view in registry.feature_views}
    view_features.update({view.name: {f.name: f for f in view.schema} for view in registry.on_demand_feature_views})
    wire = _others_of(previous, project)
    wire.registry_schema_version = FEAST_SCHEMA_VERSION
    wire.version_id = f"{VERSION_ID_PREFIX}{registry.registry_id}:{registry.version}"
    wire.entities.extend(entity_to_feast(e, project, key_types) for e in registry.entities)
    wire.data_sources.extend(source_to_feast(s, project) for s in registry.data_sources)
    wire.feature_views.extend(view_to_feast(v, project, served[v.name]) for v in registry.feature_views)
    wire.on_demand_feature_views.extend(on_demand_to_feast(v, project, view_features)
                                        for v in registry.on_demand_feature_views)
    wire.feature_services.extend(service_to_feast(s, project, view_features) for s in registry.feature_services)
    wire.project_metadata.add(project=project, project_uuid=registry.registry_id)
    wire.projects.add(spec=feast.ProjectSpec(name=project))
    wire.data_sources.extend(_embedded_sources(wire, project))
    if registry.HasField("last_updated"):
        wire.last_updated.CopyFrom(registry.last_updated)
        wire.projects[-1].meta.last_updated_timestamp.CopyFrom(registry.last_updated)
        for objects in (wire.entities, wire.feature_views, wire.on_demand_feature_views, wire.feature_services):
            for obj in objects:
                if obj.spec.project == project:
                    obj.meta.last_updated_timestamp.CopyFrom(registry.last_updated)
    wire.featurestore.CopyFrom(ours.Registry(format_version=registry.format_version, project=project,
                                             version=registry.version, registry_id=registry.registry_id,
                                             complete=registry.complete))
    return wire.SerializeToString()


def decode(data: bytes, project: str) -> ours.Registry:
    """The registry in `data`: featurestore's (either layout) or one Feast wrote, whose objects of
    `project` it returns. Raises DecodeError for bytes that are neither."""
    if data[:1] == b"\x08":  # field 1 as a number: featurestore's earlier layout (format_version = 1)
        return ours.Registry.FromString(data)
    wire = feast.Registry.FromString(data)
    if wire.HasField("featurestore"):
        registry = ours.Registry()
        registry.CopyFrom(wire.featurestore)
    elif not wire.version_id or wire.version_id.startswith(VERSION_ID_PREFIX):
        return ours.Registry()  # empty, or featurestore's cut before its last field: refused as truncated
    else:  # written by Feast (every Feast write sets version_id): whole, of any number of projects,
        # of which this one's objects are read (none yet: an empty registry; a write keeps the others)
        registry = ours.Registry(format_version=1, complete=True, project=project)
    if wire.HasField("last_updated"):
        registry.last_updated.CopyFrom(wire.last_updated)
    mine = registry.project
    registry.entities.extend(_read(e.spec, entity_from_feast) for e in wire.entities if e.spec.project == mine)
    registry.data_sources.extend(_read(s, source_from_feast) for s in wire.data_sources
                                 if s.project == mine and s.WhichOneof("options") in ("spark_options", "file_options"))
    registry.feature_views.extend(_read_view(v) for v in wire.feature_views if v.spec.project == mine)
    registry.on_demand_feature_views.extend(_read(v.spec, on_demand_from_feast)
                                            for v in wire.on_demand_feature_views if v.spec.project == mine)
    registry.feature_services.extend(_read(s.spec, service_from_feast)
                                     for s in wire.feature_services if s.spec.project == mine)
    return registry

