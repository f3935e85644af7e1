"""FeatureView: a group of features of one (possibly composite) entity, read from one source.

A view either looks up (its schema's non-key fields are the features, the source row
as of a time) or aggregates (its features are `aggregations=` over the source's events,
and the schema declares the join keys and the aggregated input columns).

`transformation=fn` runs a batch transformation, `fn(df) -> df` in Spark, on the source
rows (after field_mapping) before anything else reads them: the point-in-time join,
materialization and aggregations all see its output, which must hold the join keys, the
timestamp column(s) and the schema's fields. The registry keeps only a CodeRef to it
(see featurestore.definitions.transformation).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from featurestore.definitions._checks import check_name, check_str, check_tags, check_ttl, check_unique
from featurestore.definitions.aggregation import Aggregation
from featurestore.definitions.entity import Entity
from featurestore.definitions.expectations import check_expectations, expectation_from_dict
from featurestore.definitions.field import Field
from featurestore.definitions.kafka import KafkaSource
from featurestore.definitions.sources import DataSource, PushSource
from featurestore.definitions.transformation import CodeRef
from featurestore.errors import DefinitionError, NotFoundError, did_you_mean, unknown_feature
from featurestore.protos import registry_pb2

ON_VIOLATION = ("fail", "warn")


@dataclass(frozen=True)
class MaterializationRun:
    """What a view's last materialization did: its interval, when it finished, rows selected
    from the source and written online (newer than stored), and its seconds."""
    start: datetime
    end: datetime
    finished_at: datetime
    rows_selected: int
    rows_written: int
    seconds: float

    def fill(self, proto) -> None:
        proto.start.FromDatetime(self.start)
        proto.end.FromDatetime(self.end)
        proto.finished_at.FromDatetime(self.finished_at)
        proto.rows_selected, proto.rows_written, proto.seconds = self.rows_selected, self.rows_written, self.seconds

    @classmethod
    def from_proto(cls, proto) -> MaterializationRun:
        return cls(proto.start.ToDatetime(tzinfo=UTC), proto.end.ToDatetime(tzinfo=UTC),
                   proto.finished_at.ToDatetime(tzinfo=UTC), proto.rows_selected, proto.rows_written, proto.seconds)


class FeatureView:
    """Features of an entity, their source and how long a value stays valid (ttl).

    The schema lists the join-key columns and the features; ttl=timedelta(0) means values
    never expire. `view[["f1", "f2"]]` selects some features (for a FeatureService).
    With `aggregations=[Aggregation(...)]` the view aggregates its source's events instead:
    the schema lists the join keys and the aggregated columns, and `delay` is how late
    events arrive (windows end at ts - delay). `transformation=fn` (a module-level function
    of the repo, `fn(df) -> df`) transforms the source rows first.
    """

    def __init__(self, *, name: str, entities: list[Entity], source: DataSource | None = None, schema: list[Field] | None = None,
                 ttl: timedelta | None = None, online: bool = True, description: str = "",
                 tags: dict[str, str] | None = None, aggregations: list[Aggregation] | None = None,
                 delay: timedelta | None = None, transformation=None, expectations: list | None = None,
                 on_violation: str = "fail", owner: str = "", offline: bool = False,
                 enable_validation: bool = False, version: str = "latest", features: list[Field] | None = None,
                 batch_source: DataSource | None = None, input: DataSource | None = None):
        kind = f"FeatureView {name!r}"
        self.name = check_name("FeatureView", name)
        check_feast_options(kind, offline, enable_validation, version)
        schema, source, entities = older_feast_spellings(kind, schema, features, source, batch_source, input, entities)
        self.owner = check_str(kind, "owner", owner)
        if not isinstance(entities, (list, tuple)) or not entities or \
                not all(isinstance(e, Entity) for e in entities):
            raise DefinitionError(f"{kind}: entities must be a non-empty list of Entity objects, got {entities!r}")
        self.entities = [e.name for e in entities]
        check_unique(kind, "entity", self.entities)
        self.join_keys = [key for entity in entities for key in entity.join_keys]
        check_unique(kind, "join key", self.join_keys)
        # As in Feast, schema= may leave out the join keys, or be left out: apply then takes the
        # missing fields and their types from the source (infer_schema); until then the view is
        # pending, its completeness checks wait for the inferred schema.
        self._arguments = dict(name=name, entities=entities, source=source, ttl=ttl, online=online,
                               description=description, tags=tags, aggregations=aggregations, delay=delay,
                               transformation=transformation, expectations=expectations, on_violation=on_violation,
                               owner=owner)
        given = [] if schema is None else schema
        keys_given = isinstance(given, (list, tuple)) and all(
            isinstance(f, Field) for f in given) and set(self.join_keys) <= {f.name for f in given}
        self.pending_inference = "schema" if schema is None else ("" if keys_given else "join keys")
        self.inferred_from_source = ""  # what infer_schema filled in, for `plan` to show
        # A PushSource's rows live in its batch source: offline the view reads that; push() finds
        # the view by the push source's name (featurestore.push).
        self.push_source = source.name if isinstance(source, PushSource) else ""
        # A KafkaSource's messages land in its batch source too: offline the view reads that; a
        # StreamFeatureView's stream job follows the topic (featurestore.streaming).
        self.stream_source = source if isinstance(source, KafkaSource) else None
        source = source.batch_source if isinstance(source, (PushSource, KafkaSource)) else source
        self._init_rest(kind, given, source, ttl, online, description, tags, aggregations, delay)
        self.transformation = transformation  # the live function; None when loaded from the registry
        self.transformation_code = None if transformation is None else \
            CodeRef.of(transformation, kind, "transformation")
        self._init_expectations(kind, expectations, on_violation)
        self.materialization_intervals: list[tuple[datetime, datetime]] = []
        self.source_read_at: datetime | None = None  # state: see materialize.latest_rows
        self.last_run: MaterializationRun | None = None  # state: the last materialization (the catalog shows it)
        self.online_reset_pending = False  # state: old values still online (featurestore.identity)
        self.stream_trigger: timedelta | None = None  # set by StreamFeatureView (featurestore.streaming)

    def _init_expectations(self, kind, expectations, on_violation):
        """Rules materialization checks before writing (featurestore.quality.expectations)."""
        if self.pending_inference == "schema":  # checked again once the schema is inferred
            self.expectations = list(expectations or [])
        else:
            self.expectations = check_expectations(expectations, [f.name for f in self.features], kind)
        if on_violation not in ON_VIOLATION:
            raise DefinitionError(f"{kind}: on_violation must be one of {', '.join(ON_VIOLATION)}, "
                                  f"got {on_violation!r}")
        self.on_violation = on_violation

    def _init_rest(self, kind, schema, source, ttl, online, description, tags, aggregations, delay):
        if not isinstance(schema, (list, tuple)) or not all(isinstance(f, Field) for f in schema):
            raise DefinitionError(f"{kind}: schema must be a list of Field objects, got {schema!r}")
        self.schema = list(schema)
        self._init_aggregations(kind, aggregations, delay)
        check_unique(kind, "schema field", [f.name for f in self.schema])
        names = {f.name for f in self.schema}
        missing = [key for key in self.join_keys if key not in names]
        pending = self.pending_inference
        if missing and not pending:
            raise DefinitionError(
                f"{kind}: schema lacks the join key(s) {', '.join(missing)} of its entities; add "
                f"Field(name={missing[0]!r}, dtype=...) to the schema")
        if not self.features and pending != "schema":
            raise DefinitionError(f"{kind}: schema has no features besides the join keys")
        for field in self.schema:
            if field.name.startswith("__fs_"):
                raise DefinitionError(f"{kind}: field name {field.name!r} starts with '__fs_', which featurestore "
                                      f"reserves for its own columns; rename it (field_mapping can map the column)")
            if field.name in self.join_keys and field.dtype.is_list:
                raise DefinitionError(f"{kind}: join key {field.name!r} is declared {field.dtype!r}; a join key "
                                      f"must have a scalar type such as Int64 or String")
        if not isinstance(source, DataSource):
            raise DefinitionError(f"{kind}: source must be a SparkSource, FileSource, PushSource or KafkaSource, "
                                  f"got {source!r}")
        self.source = source
        if source.timestamp_field in names:
            raise DefinitionError(f"{kind}: the timestamp column {source.timestamp_field!r} must not be a "
                                  f"schema field")
        self.ttl = check_ttl(kind, ttl)
        if not isinstance(online, bool):
            raise DefinitionError(f"{kind}: online must be True or False, got {online!r}")
        self.online = online
        self.description = check_str(kind, "description", description)
        self.tags = check_tags(kind, tags)

    def _init_aggregations(self, kind, aggregations, delay):
        aggregations = list(aggregations or [])
        if not all(isinstance(a, Aggregation) for a in aggregations):
            raise DefinitionError(f"{kind}: aggregations must be a list of Aggregation objects, got {aggregations!r}")
        self.aggregations = aggregations
        if delay is None:
            delay = timedelta(0)
        if not isinstance(delay, timedelta) or delay < timedelta(0):
            raise DefinitionError(f"{kind}: delay must be a non-negative datetime.timedelta, got {delay!r}")
        if delay and not aggregations:
            raise DefinitionError(f"{kind}: delay applies to aggregating views only (aggregations=[...])")
        self.delay = delay
        if not aggregations:
            return
        check_unique(kind, "aggregation name", [a.name for a in aggregations])
        inputs = {f.name: f.dtype for f in self.schema}
        if self.pending_inference == "schema":  # the inputs' types come from the source
            return
        for aggregation in aggregations:
            aggregation.check_input(self.name, inputs.get(aggregation.column))
            if aggregation.name in inputs:
                raise DefinitionError(f"{kind}: aggregation name {aggregation.name!r} is also a schema field; "
                                      f"give the aggregation another name=")
        used = set(self.join_keys) | {a.column for a in aggregations}
        extra = [f.name for f in self.schema if f.name not in used]
        _check_join_keys_spelt(kind, self.join_keys, [f.name for f in self.schema])
        if extra:
            raise DefinitionError(
                f"{kind}: schema field(s) {', '.join(extra)} are neither join keys nor aggregated columns; a view "
                f"either looks up features (schema=) or aggregates (aggregations=): move the looked-up "
                f"features to a view of their own")

    @property
    def is_aggregating(self) -> bool:
        return bool(self.aggregations)

    @property
    def features(self) -> list[Field]:
        """The features: the schema fields that are not join keys, or the aggregations' outputs."""
        if self.aggregations:
            inputs = {f.name: f.dtype for f in self.schema}
            if self.pending_inference == "schema":
                return []
            return [Field(name=a.name, dtype=a.output_type(inputs.get(a.column))) for a in self.aggregations]
        return [f for f in self.schema if f.name not in self.join_keys]

    @property
    def input_columns(self) -> list[Field]:
        """Schema fields an aggregating view reads besides its join keys (none for lookups)."""
        if not self.aggregations:
            return []
        return [f for f in self.schema if f.name not in self.join_keys]

    @property
    def entity_columns(self) -> list[Field]:
        return [f for f in self.schema if f.name in self.join_keys]

    def feature(self, name: str) -> Field:
        for field in self.features:
            if field.name == name:
                return field
        raise NotFoundError(unknown_feature(f"feature view {self.name!r}", name, [f.name for f in self.features]))

    def bind_code(self, repo_path) -> None:
        """Record the transformation's file relative to the repo (refused when outside it)."""
        if self.transformation_code is not None:
            self.transformation_code.bind(repo_path, f"FeatureView {self.name!r}", "transformation")

    def transformation_function(self, repo_path):
        """The batch transformation to run: the live one, or the repo's, checked against the registry."""
        if self.transformation_code is None:
            return None
        if self.transformation is not None:
            return self.transformation
        from featurestore.definitions.transformation import resolve

        return resolve(self.transformation_code, repo_path, f"FeatureView {self.name!r}", "transformation")

    def __getitem__(self, feature_names: list[str]) -> FeatureViewProjection:
        if isinstance(feature_names, str):
            feature_names = [feature_names]
        if self.pending_inference == "schema":  # features known at apply; check_references checks them then
            return FeatureViewProjection(self, [check_name("feature", n) for n in feature_names])
        return FeatureViewProjection(self, [self.feature(n).name for n in feature_names])

    def with_name(self, name: str) -> FeatureViewProjection:
        """All features, served under another name (see FeatureViewProjection)."""
        return self._projection().with_name(name)

    def with_join_key_map(self, join_key_map: dict[str, str]) -> FeatureViewProjection:
        """All features, their join keys read from other entity columns (see FeatureViewProjection)."""
        return self._projection().with_join_key_map(join_key_map)

    def _projection(self) -> FeatureViewProjection:
        projection = FeatureViewProjection(self, [f.name for f in self.features])
        projection.all_features = self.pending_inference == "schema"
        return projection

    def with_schema(self, schema: list[Field], note: str) -> FeatureView:
        """This view with the schema apply inferred from its source (all checks run again)."""
        view = FeatureView(schema=schema, **self._arguments)
        view.inferred_from_source = note
        return view

    def to_proto(self, with_intervals: bool = True) -> registry_pb2.FeatureView:
        proto = registry_pb2.FeatureView(
            name=self.name, entities=self.entities, join_keys=self.join_keys,
            schema=[f.to_proto() for f in self.schema], source=self.source.to_proto(), online=self.online,
            description=self.description, tags=self.tags,
            aggregations=[a.to_proto() for a in self.aggregations], owner=self.owner,
            push_source=self.push_source)
        if self.transformation_code is not None:
            proto.transformation.CopyFrom(self.transformation_code.to_proto())
        for expectation in self.expectations:
            arguments = {k: v for k, v in expectation.to_dict().items() if k != "type"}
            proto.expectations.add(type=expectation.type, arguments_json=json.dumps(arguments, sort_keys=True))
        if self.on_violation != "fail":
            proto.on_violation = self.on_violation
        proto.ttl.FromTimedelta(self.ttl)
        if self.delay:
            proto.delay.FromTimedelta(self.delay)
        if self.stream_trigger is not None:
            proto.stream_trigger.FromTimedelta(self.stream_trigger)
        if self.stream_source is not None:
            proto.stream_source.CopyFrom(self.stream_source.to_proto())
        if with_intervals:
            for start, end in self.materialization_intervals:
                interval = proto.materialization_intervals.add()
                interval.start.FromDatetime(start)
                interval.end.FromDatetime(end)
            if self.source_read_at is not None:
                proto.source_read_at.FromDatetime(self.source_read_at)
            if self.last_run is not None:
                self.last_run.fill(proto.last_run)
            proto.online_reset_pending = self.online_reset_pending
        return proto

    @classmethod
    def from_proto(cls, proto: registry_pb2.FeatureView) -> FeatureView:
        view = cls.__new__(cls)
        view.pending_inference, view.inferred_from_source = "", ""
        view.name = proto.name
        view.owner = proto.owner
        view.push_source = proto.push_source
        view.entities = list(proto.entities)
        view.join_keys = list(proto.join_keys)
        view._init_rest(f"FeatureView {proto.name!r}", [Field.from_proto(f) for f in proto.schema],
                        DataSource.from_proto(proto.source), proto.ttl.ToTimedelta(), proto.online,
                        proto.description, dict(proto.tags),
                        [Aggregation.from_proto(a) for a in proto.aggregations], proto.delay.ToTimedelta())
        view.transformation = None
        view.transformation_code = CodeRef.from_proto(proto.transformation) if proto.HasField("transformation") \
            else None
        view._init_expectations(f"FeatureView {proto.name!r}",
                                [expectation_from_dict({"type": e.type, **json.loads(e.arguments_json or "{}")})
                                 for e in proto.expectations], proto.on_violation or "fail")
        view.materialization_intervals = [
            (i.start.ToDatetime(tzinfo=UTC), i.end.ToDatetime(tzinfo=UTC))
            for i in proto.materialization_intervals]
        view.source_read_at = proto.source_read_at.ToDatetime(tzinfo=UTC) if proto.HasField("source_read_at") \
            else None
        view.last_run = MaterializationRun.from_proto(proto.last_run) if proto.HasField("last_run") else None
        view.online_reset_pending = proto.online_reset_pending
        view.stream_trigger = proto.stream_trigger.ToTimedelta() if proto.HasField("stream_trigger") else None
        view.stream_source = KafkaSource.from_proto(proto.stream_source, view.source) \
            if proto.HasField("stream_source") else None
        if view.stream_trigger is not None:
            view.__class__ = StreamFeatureView
        return view

    def __eq__(self, other) -> bool:
        """Definitions compare by value; materialization state is not part of the definition."""
        return isinstance(other, FeatureView) and \
            self.to_proto(with_intervals=False) == other.to_proto(with_intervals=False)

    def __hash__(self) -> int:
        return hash(("FeatureView", self.name))

    def __repr__(self) -> str:
        extra = f", delay={self.delay!r}" if self.aggregations else ""
        if self.transformation_code is not None:
            extra += f", transformation={self.transformation_code.qualified_name}"
        return (f"FeatureView(name={self.name!r}, entities={self.entities!r}, "
                f"features={[f.name for f in self.features]!r}, ttl={self.ttl!r}{extra})")


def older_feast_spellings(kind: str, schema, features, source, batch_source, input_, entities):
    """(schema, source, entities) from Feast's older arguments as well: `features=` (the
    features; the join keys' types then come from the source at apply), `batch_source=` and
    `input=` for source, and entities named by string, each taken as an entity whose join key
    is its name (apply checks that against the registered entity)."""
    if features is not None:
        if schema is not None:
            raise DefinitionError(f"{kind}: give schema= or Feast's older features=, not both")
        schema = features
    given = [s for s in (source, batch_source, input_) if s is not None]
    if len(given) > 1:
        raise DefinitionError(f"{kind}: give one source (source=, or Feast's older batch_source= or input=)")
    if not given:
        raise DefinitionError(f"{kind}: source= is required: the SparkSource, FileSource or PushSource its rows "
                              f"come from")
    source = given[0]
    if isinstance(entities, (list, tuple)):
        entities = [Entity(name=e) if isinstance(e, str) else e for e in entities]
    return schema, source, entities


def check_feast_options(kind: str, offline, enable_validation, version) -> None:
    """Feast's FeatureView options, accepted where they ask for what featurestore always does.

    offline (Feast: also write pushed rows to the offline store) and enable_validation (Feast:
    check the source's schema at materialization) are booleans: featurestore validates every
    source against its view whatever they say. version: only "latest" (Feast's default) exists.
    """
    for option, value in (("offline", offline), ("enable_validation", enable_validation)):
        if not isinstance(value, bool):
            raise DefinitionError(f"{kind}: {option} must be True or False, got {value!r}")
    if version != "latest":
        raise DefinitionError(f"{kind}: version={version!r}: featurestore keeps one version of a view, the "
                              f"latest (the SQL registry keeps the history: `featurestore registry history`); "
                              f"remove version= or pass 'latest'")


class StreamFeatureView(FeatureView):
    """Feast's StreamFeatureView: a FeatureView whose source is also read as a stream.

    Everything a FeatureView is, it is: training sets read its source, batch materialization
    works on it. In addition `featurestore stream --view NAME` (featurestore.streaming) runs
    a Spark Structured Streaming query over the source and writes each micro-batch's newest
    row per entity online with materialization's rule (only where newer), every
    `trigger_interval`. The source is a Delta table or Delta path read as a stream, or a
    KafkaSource, whose decoded messages are also appended to its batch source (a Delta table
    or path) once each, so training sets see what was served.

    Feast's `udf=` and `mode=` are not taken: a batch transformation (`transformation=`) is
    applied to each micro-batch, the same function that training reads through. With
    `aggregations=`, each micro-batch recomputes the windows of the entities it touched, as
    of the batch's time, from the source (featurestore.streaming).
    """

    def __init__(self, *, trigger_interval: timedelta = timedelta(seconds=1), udf=None, mode: str | None = None,
                 timestamp_field: str | None = None, **arguments):
        kind = f"StreamFeatureView {arguments.get('name')!r}"
        if udf is not None or mode is not None:
            raise DefinitionError(f"{kind}: udf= and mode= (Feast's stream transformation) are not taken; give the "
                                  f"function as transformation=, which training and the stream both apply")
        super().__init__(**arguments)
        if timestamp_field is not None and timestamp_field != self.source.timestamp_field:
            raise DefinitionError(f"{kind}: timestamp_field {timestamp_field!r} differs from its source's "
                                  f"{self.source.timestamp_field!r}; set it on the source")
        if not isinstance(trigger_interval, timedelta) or trigger_interval <= timedelta(0):
            raise DefinitionError(f"{kind}: trigger_interval must be a positive timedelta such as "
                                  f"timedelta(milliseconds=500), got {trigger_interval!r}")
        self.stream_trigger = trigger_interval


class FeatureViewProjection:
    """Some features of one view as a service or a feature list uses them (Feast's projection).

    `view[["f1"]]` selects features; `view.with_name("origin_stats")` serves them under another
    name (output columns `origin_stats__f1` with full_feature_names, and one view may appear
    twice in a service under two names); `view.with_join_key_map({"location_id": "origin_id"})`
    reads the view's join key `location_id` from the entity column `origin_id`. The three
    chain in any order; the values are the unprojected view's, under the new names and keys.
    """

    def __init__(self, view, features: list[str], name_alias: str = "", join_key_map: dict | None = None):
        self.view_name = check_name("projection", view) if isinstance(view, str) else view.name
        self.features = list(features)
        self.all_features = False  # True: every feature of a view whose schema apply has yet to infer
        self.name_alias = check_name("with_name", name_alias) if name_alias else ""
        self.join_key_map = dict(join_key_map or {})
        if not isinstance(view, str):
            check_join_key_map(view, self.join_key_map)
        self._view = None if isinstance(view, str) else view

    @property
    def name(self) -> str:
        """The name the features are served under: the alias, else the view's name."""
        return self.name_alias or self.view_name

    def key_column(self, join_key: str) -> str:
        """The entity column a join key of the view is read from."""
        return self.join_key_map.get(join_key, join_key)

    def with_name(self, name: str) -> FeatureViewProjection:
        return self._copy(name_alias=check_name("with_name", name))

    def with_join_key_map(self, join_key_map: dict[str, str]) -> FeatureViewProjection:
        if not isinstance(join_key_map, dict):
            raise DefinitionError(f"with_join_key_map of view {self.view_name!r} takes a dict {{join key: entity "
                                  f"column}}, got {join_key_map!r}")
        return self._copy(join_key_map=join_key_map)

    def __getitem__(self, feature_names: list[str]) -> FeatureViewProjection:
        if isinstance(feature_names, str):
            feature_names = [feature_names]
        for name in feature_names:
            if name not in self.features and not self.all_features:
                raise NotFoundError(unknown_feature(f"projection {self.name!r} of feature view {self.view_name!r}",
                                                    name, self.features))
        return self._copy(features=[check_name("feature", n) for n in feature_names], all_features=False)

    def _copy(self, **changes) -> FeatureViewProjection:
        copy = FeatureViewProjection(self.view_name, changes.get("features", self.features),
                                     changes.get("name_alias", self.name_alias),
                                     changes.get("join_key_map", self.join_key_map))
        copy.all_features = changes.get("all_features", self.all_features)
        copy._view = self._view
        if self._view is not None:
            check_join_key_map(self._view, copy.join_key_map)
        return copy

    def key(self) -> tuple:
        """What identifies the projection (a cache key of online reads)."""
        return (self.view_name, self.name_alias, tuple(sorted(self.join_key_map.items())), tuple(self.features))

    def to_proto(self) -> registry_pb2.FeatureProjection:
        return registry_pb2.FeatureProjection(feature_view=self.view_name, features=self.features,
                                              name_alias=self.name_alias, join_key_map=self.join_key_map)

    @classmethod
    def from_proto(cls, proto: registry_pb2.FeatureProjection) -> FeatureViewProjection:
        return cls(proto.feature_view, list(proto.features), proto.name_alias, dict(proto.join_key_map))

    def to_dict(self) -> dict:
        """For a training set's definition, which must rebuild the same columns."""
        return {"view": self.view_name, "name_alias": self.name_alias, "join_key_map": self.join_key_map,
                "features": self.features}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureViewProjection:
        return cls(data["view"], data["features"], data.get("name_alias", ""), data.get("join_key_map"))

    def __eq__(self, other) -> bool:
        return isinstance(other, FeatureViewProjection) and self.key() == other.key()

    def __repr__(self) -> str:
        text = f"{self.view_name}[{self.features!r}]"
        if self.name_alias:
            text += f".with_name({self.name_alias!r})"
        if self.join_key_map:
            text += f".with_join_key_map({self.join_key_map!r})"
        return text


def check_join_key_map(view, join_key_map: dict) -> None:
    """Each mapped key is a join key of the view, mapped to a column name, two keys never to one column."""
    join_keys = list(getattr(view, "join_keys", []))
    for key, column in join_key_map.items():
        if key not in join_keys:
            raise DefinitionError(f"with_join_key_map of feature view {view.name!r}: {key!r} is not one of its join "
                                  f"keys ({', '.join(join_keys) or 'it has none'}).{did_you_mean(key, join_keys)}")
        check_name(f"with_join_key_map of feature view {view.name!r}: entity column", column)
    columns = [join_key_map.get(k, k) for k in join_keys]
    if len(set(columns)) != len(columns):
        raise DefinitionError(f"with_join_key_map of feature view {view.name!r} reads two join keys from one entity "
                              f"column ({', '.join(columns)}); map each key to its own column")


def _check_join_keys_spelt(kind: str, join_keys: list[str], schema_names: list[str]) -> None:
    """In an aggregating view, a join key missing from the schema while a schema field is a near
    spelling of it is a typo in the Entity's join_keys (or the field): said so, rather than as a
    schema-layout problem. (A lookup view's missing key is inferred from the source, whose check
    names the table's columns.)"""
    import difflib

    for key in join_keys:
        if key in schema_names:
            continue
        close = difflib.get_close_matches(key, [n for n in schema_names if n not in join_keys], n=1, cutoff=0.8)
        if close:
            raise DefinitionError(f"{kind}: its entity's join key {key!r} is not a field of the schema, which has "
                                  f"{close[0]!r}; if the Entity's join_keys= is misspelt, write {close[0]!r} there "
                                  f"(the key must be a column of the source's table), else rename the field")
