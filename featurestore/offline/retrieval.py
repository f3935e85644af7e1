"""get_historical_features: entity rows in, a lazy point-in-time correct training set out.

This module prepares the inputs (the entity frame in whatever form it came, each view's
source rows pruned to the needed columns and time range) and hands them to a join
strategy from pit_join. Nothing is collected to the driver; the result is a RetrievalJob
wrapping a lazy Spark DataFrame.
"""
from __future__ import annotations

from datetime import timedelta

from featurestore.definitions import FeatureService
from featurestore.definitions.feature_view import FeatureViewProjection
from featurestore.errors import RetrievalError, ValidationError
from featurestore.feature_refs import (
    OnDemandRequest,
    ViewRequest,
    check_output_names,
    feature_column,
    resolve_features,
    with_inputs,
)
from featurestore.offline.aggregate import aggregate
from featurestore.offline.on_demand import add_on_demand_features, check_request_fields, input_columns
from featurestore.offline.pit_join import CREATED_TS, EVENT_TS, TS, ViewRows, choose_joiner, oldest_allowed
from featurestore.offline.pit_join import column as quoted_column
from featurestore.offline.sources import validate_feature_view
from featurestore.offline.tables import TABLE_NAME, delta_version
from featurestore.offline.training_set import RetrievalJob, executor_errors, read_definition
from featurestore.registry import RegistryState

DEFAULT_TS_COLUMN = "event_timestamp"


def to_entity_frame(spark, entity_df):
    """(Spark DataFrame, description of where it came from) for any accepted entity_df."""
    from pyspark.sql import DataFrame

    if isinstance(entity_df, DataFrame):
        return entity_df, {"type": "dataframe"}
    if isinstance(entity_df, str):
        text = entity_df.strip()
        if TABLE_NAME.match(text):
            if not spark.catalog.tableExists(text):
                raise RetrievalError(f"entity table {text!r} does not exist in the warehouse; pass an existing "
                                     f"table, a SQL query, or a DataFrame")
            return spark.table(text), {"type": "table", "table": text}
        return _run_query(spark, text), {"type": "query", "query": text}
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(entity_df, pd.DataFrame):
        if entity_df.empty:
            raise RetrievalError(f"entity_df is an empty pandas DataFrame (columns: "
                                 f"{', '.join(map(str, entity_df.columns)) or 'none'}); pass at least one entity row")
        return spark.createDataFrame(_pandas_in_utc(entity_df)), {"type": "pandas"}
    raise RetrievalError(f"entity_df must be a Spark DataFrame, a pandas DataFrame, a table name or a SQL query, "
                         f"got {type(entity_df).__name__}")


def _run_query(spark, query: str):
    from pyspark.errors import AnalysisException, ParseException

    try:
        return spark.sql(query)
    except (ParseException, AnalysisException) as error:
        first_line = str(error).strip().splitlines()[0]
        raise RetrievalError(f"entity_df query failed: {first_line}") from None


def _pandas_in_utc(frame):
    """Naive datetime columns are UTC by our rules: make that explicit before Spark sees them."""
    import pandas as pd

    frame = frame.copy()
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]) and frame[column].dt.tz is None:
            frame[column] = frame[column].dt.tz_localize("UTC")
    return frame


def entity_timestamp_column(entities) -> str:
    """`event_timestamp`, or else the only timestamp-typed column."""
    if DEFAULT_TS_COLUMN in entities.columns:
        return DEFAULT_TS_COLUMN
    candidates = [f.name for f in entities.schema.fields
                  if f.dataType.simpleString() in ("timestamp", "timestamp_ntz", "date")]
    if len(candidates) == 1:
        return candidates[0]
    found = f"it has {', '.join(candidates)}" if candidates else "it has none"
    raise RetrievalError(f"entity rows need an '{DEFAULT_TS_COLUMN}' column or exactly one timestamp column; "
                         f"{found} (columns: {', '.join(entities.columns)})")


def with_entity_time(entities, column: str):
    """Add TS: the entity row's time as a UTC timestamp (strings must parse, dates mean midnight)."""
    from pyspark.sql import functions as F

    kind = entities.schema[column].dataType.simpleString()
    original = quoted_column(column)
    if kind in ("timestamp", "timestamp_ntz", "date"):
        return entities.withColumn(TS, original.cast("timestamp"))
    if kind == "string":  # an unparsable time fails the job with a message, instead of becoming null
        parsed = original.try_cast("timestamp")
        message = F.concat(F.lit(f"entity column '{column}' holds "), original,
                           F.lit(", which is not an ISO-8601 time such as 2026-01-31 12:00:00"))
        return entities.withColumn(TS, F.when(original.isNotNull() & parsed.isNull(), F.raise_error(message))
                                   .otherwise(parsed))
    raise RetrievalError(f"entity column {column!r} has type {kind}; it must be a timestamp (or a date, or an "
                         f"ISO-8601 string)")


def check_entity_keys(entities, requests: list[ViewRequest]) -> None:
    """Every requested view's join keys are present with a type compatible with the declared one."""
    types = {f.name: f.dataType.simpleString() for f in entities.schema.fields}
    for request in requests:
        view = request.view
        missing = [k for k in request.key_columns if k not in types]
        if missing:
            raise RetrievalError(f"entity rows lack the join key(s) {', '.join(missing)} of feature view "
                                 f"{request.name!r}; add the column(s) (entity columns: {', '.join(types)})")
        for field in view.entity_columns:
            column = request.join_key_map.get(field.name, field.name)
            if not field.dtype.accepts_spark_type(types[column]):
                declared = "it" if column == field.name else f"its join key {field.name!r}"
                raise RetrievalError(f"entity column {column!r} has type {types[column]}, but feature view "
                                     f"{view.name!r} declares {declared} {field.dtype!r}; cast the column")


def entity_time_range(entities) -> tuple[int | None, int | None]:
    """The entity rows' earliest and latest time, in microseconds (None, None when there are none).

    Computed up front, in one small job, so that the sources are filtered by literals: Spark
    pushes those into the Parquet and Delta scans, which skip the files and row groups out of
    range (a join against the computed range, as before, filtered only after reading
    everything, and evaluated the ttl arithmetic once per feature row).
    """
    from pyspark.sql import functions as F

    row = entities.agg(F.unix_micros(F.min(TS)).alias("lo"), F.unix_micros(F.max(TS)).alias("hi")).first()
    return row["lo"], row["hi"]


def _in_time_range(event_ts, time_range: tuple[int | None, int | None], reach: timedelta | None,
                   exclusive: bool = False):
    """event_ts <= the latest entity time and, with a reach (ttl or window), >= earliest - reach
    (> with exclusive: windows are (t - w, t])."""
    from pyspark.sql import functions as F

    lo, hi = time_range
    if hi is None:
        return F.lit(False)
    condition = event_ts <= F.timestamp_micros(F.lit(hi))
    if reach is not None:
        oldest = oldest_allowed(F.timestamp_micros(F.lit(lo)), reach)
        condition &= (event_ts > oldest) if exclusive else (event_ts >= oldest)
    return condition


def source_rows(spark, request: ViewRequest, time_range, source_versions: dict, repo_path=None):
    """The view's source pruned to keys, timestamps and requested features, in the entity rows' time range.

    The source is checked against the view first: a source changed since apply fails here
    with one line instead of a query plan or silently retyped values.
    """
    from pyspark.sql import functions as F

    view, source = request.view, request.view.source
    frame = validate_feature_view(spark, view, "training set", repo_path, source_versions.get(source.name))
    dtypes = {f.name: f.dtype for f in view.schema}
    event_ts = quoted_column(source.timestamp_field).cast("timestamp")
    frame = frame.where(_in_time_range(event_ts, time_range, view.ttl if view.ttl > timedelta(0) else None))
    columns = [quoted_column(k).cast(dtypes[k].spark_type).alias(c) for k, c in zip(view.join_keys, request.key_columns)]
    columns.append(event_ts.alias(EVENT_TS))
    created = quoted_column(source.created_timestamp_column).cast("timestamp") if source.created_timestamp_column \
        else F.lit(None).cast("timestamp")
    columns.append(created.alias(CREATED_TS))
    columns += [quoted_column(f) for f in request.features]
    rows = frame.select(*columns)
    for key in request.key_columns:
        rows = rows.where(quoted_column(key).isNotNull())
    return rows


def aggregation_events(spark, request: ViewRequest, time_range, source_versions: dict, repo_path=None):
    """An aggregating view's events that any entity row's windows can reach, checked against the view."""
    view = request.view
    frame = validate_feature_view(spark, view, "training set", repo_path, source_versions.get(view.source.name))
    reach = view.delay + max(a.time_window for a in view.aggregations if a.name in request.features)
    event_ts = quoted_column(view.source.timestamp_field).cast("timestamp")
    return frame.where(_in_time_range(event_ts, time_range, reach, exclusive=True))


def entity_rows_from_sources(spark, requests: list[ViewRequest], start_date, end_date, repo_path=None):
    """The entity rows of a retrieval without entity_df (Feast's entity-less retrieval): every
    row of the requested views' sources with start_date <= event time <= end_date, as its keys
    (all the views' join keys; a view's rows leave the keys of other entities null) and its
    event time as event_timestamp, each distinct row once."""
    from datetime import UTC, datetime
    from functools import reduce

    from pyspark.sql import functions as F

    from featurestore.online.codec import datetime_to_micros

    def micros(value, what) -> int:
        if not isinstance(value, datetime):
            raise RetrievalError(f"{what} must be a datetime, got {value!r}")
        return datetime_to_micros(value)

    end_us = micros(datetime.now(UTC) if end_date is None else end_date, "end_date")
    if start_date is None:
        ttls = [r.view.ttl for r in requests]
        if any(ttl <= timedelta(0) for ttl in ttls):
            raise RetrievalError("get_historical_features without entity_df needs start_date when a requested view "
                                 "keeps values forever (ttl=0); pass start_date= and end_date=")
        start_us = end_us - max(ttls) // timedelta(microseconds=1)
    else:
        start_us = micros(start_date, "start_date")
    start, end = F.timestamp_micros(F.lit(start_us)), F.timestamp_micros(F.lit(end_us))
    key_types = {}
    for request in requests:
        types = {f.name: f.dtype for f in request.view.schema}
        for key, column in zip(request.view.join_keys, request.key_columns):
            key_types.setdefault(column, types[key].spark_type)
    frames = []
    for request in requests:
        view = request.view
        frame = validate_feature_view(spark, view, "training set", repo_path)
        event_ts = quoted_column(view.source.timestamp_field).cast("timestamp")
        source_key = dict(zip(request.key_columns, view.join_keys))
        columns = [(quoted_column(source_key[c]) if c in source_key else F.lit(None)).cast(kind).alias(c)
                   for c, kind in key_types.items()]
        frames.append(frame.where((event_ts >= start) & (event_ts <= end))
                      .select(*columns, event_ts.alias(DEFAULT_TS_COLUMN)))
    return reduce(lambda a, b: a.unionByName(b), frames).distinct()


def get_historical_features(spark, registry: RegistryState, entity_df, features, full_feature_names: bool = False,
                            strategy: str = "window", source_versions: dict | None = None,
                            repo_path=None, validate: bool = False, start_date=None,
                            end_date=None, event_times: bool = False) -> RetrievalJob:
    """The training set for entity_df and features; see pit_join for the rules.

    repo_path: the feature repo's folder, against which relative source paths resolve and
    from which transformations and on-demand functions are resolved. On-demand features are
    computed last, on the joined rows, with request fields read from the entity columns;
    the features they read are joined under internal names and dropped unless requested.
    event_times: also return, per looked-up view (not aggregating ones), the event time of
    the row its features came from, as `event_time_column(name)` (the skew monitor's need).
    """

    requested = resolve_features(registry, features)
    on_demand = [r for r in requested if isinstance(r, OnDemandRequest)]
    requests = with_inputs(registry, requested)
    if entity_df is None:
        entities = entity_rows_from_sources(spark, requests, start_date, end_date, repo_path)
        entity_origin = {"type": "sources", "start_date": str(start_date), "end_date": str(end_date)}
    elif start_date is not None or end_date is not None:
        raise RetrievalError("pass entity_df or start_date/end_date, not both: with entity_df its rows' times are "
                             "the times; without it, every source row between start_date and end_date is a row")
    else:
        entities, entity_origin = to_entity_frame(spark, entity_df)
    ts_column = entity_timestamp_column(entities)
    check_entity_keys(entities, requests)
    for request in on_demand:
        check_request_fields(entities, request.view)
    if any(c.startswith("__fs_") for c in entities.columns):
        raise RetrievalError("entity columns must not start with '__fs_' (reserved for featurestore)")
    check_output_names(requested, entities.columns, full_feature_names)
    join_full = full_feature_names or bool(on_demand)  # inputs of on-demand views join as view__feature
    if join_full != full_feature_names:
        check_output_names(requests, entities.columns, True)
    functions = [r.view.udf_function(repo_path) for r in on_demand]  # refused before any Spark work if changed
    entity_columns = list(entities.columns)
    entities = with_entity_time(entities, ts_column)
    if entities.schema[ts_column].dataType.simpleString() in ("string", "date"):
        entities = entities.withColumn(ts_column, quoted_column(TS))  # returned as the timestamp it was read as
    if source_versions is None:
        source_versions = {}
        for request in requests:
            source = request.view.source
            if source.table and source.name not in source_versions:
                version = delta_version(spark, source.table)
                if version is not None:
                    source_versions[source.name] = version
    with executor_errors():  # computes the entity rows' times: an unparsable one fails here, in one line
        time_range = entity_time_range(entities)
    for request in requests:
        if request.view.is_aggregating:  # windowed aggregates first: they carry the entity rows through
            events = aggregation_events(spark, request, time_range, source_versions, repo_path)
            entities = aggregate(entities, request.view, request.features, events,
                                 lambda name, r=request: r.output_name(name, join_full), request.key_columns)
    lookups = [r for r in requests if not r.view.is_aggregating]
    if lookups:
        views = [ViewRows(r, source_rows(spark, r, time_range, source_versions, repo_path)) for r in lookups]
        if event_times:
            views = [with_event_time(v) for v in views]
        entities = choose_joiner(strategy)(entities, views, join_full)
    else:
        entities = entities.drop(TS)
    computed = {}
    for request, fn in zip(on_demand, functions):
        inputs, types = input_columns(request.view, registry, lambda view, feature: feature_column(view, feature))
        outputs = {f: f"__fs_odfv__{request.view.name}__{f}" for f in request.features}
        entities = add_on_demand_features(entities, request.view, fn, inputs, types, outputs, entity_columns)
        computed.update({(request.view.name, f): column for f, column in outputs.items()})
    feature_columns = []
    for request in requested:
        for feature in request.features:
            column = computed.get((request.view.name, feature)) or request.output_name(feature, join_full)
            feature_columns.append(quoted_column(column).alias(request.output_name(feature, full_feature_names)))
    if event_times:
        feature_columns += [quoted_column(r.output_name(ROW_EVENT_TS, join_full)).alias(event_time_column(r.name))
                            for r in lookups]
    frame = entities.select(*[quoted_column(c) for c in entity_columns], *feature_columns)
    refs = features.feature_refs() if isinstance(features, FeatureService) else \
        [f"{r.name}:{f}" for r in requested for f in r.features]
    definition = {"project": registry.project, "registry_version": registry.version, "features": refs,
                  "full_feature_names": full_feature_names,
                  "entity_source": entity_origin, "source_versions": source_versions,
                  "feature_service": features.name if isinstance(features, FeatureService) else None,
                  "transformations": transformation_hashes(requests, on_demand),
                  "definitions": definitions_used(registry, requests, on_demand, features)}
    if any(getattr(r, "is_projected", False) for r in requested):  # refs alone cannot say how to rebuild it
        definition["projections"] = [projection_of(r).to_dict() for r in requested]
    if validate:
        check_training_expectations(frame, requested, full_feature_names)
    return RetrievalJob(frame, definition)


ROW_EVENT_TS = "__fs_row_event_ts"  # the winning row's event time, carried as one more feature


def event_time_column(view_name: str) -> str:
    """The column get_historical_features(event_times=True) gives a view's row event time."""
    return f"__fs_event_ts__{view_name}"


def with_event_time(rows: ViewRows) -> ViewRows:
    """The view's rows with their event time as one more feature, so that every join strategy
    carries it from the winning row as it carries the features (null when no row wins)."""
    import dataclasses

    request = dataclasses.replace(rows.request, features=[*rows.request.features, ROW_EVENT_TS])
    return ViewRows(request, rows.frame.withColumn(ROW_EVENT_TS, quoted_column(EVENT_TS)))


def definitions_used(registry: RegistryState, requests, on_demand, features) -> str:
    """The definitions a training set reads (its views with their sources and entities, its on-demand
    views, its feature service), as a Registry message in base64: saved with the set, they rebuild
    it whatever the registry holds later (featurestore.store.FeatureStore.registry_as_built)."""
    import base64

    views = {r.view.name: r.view for r in requests if not isinstance(r, OnDemandRequest)}
    entities = {name: registry.entities[name] for view in views.values() for name in view.entities
                if name in registry.entities}
    used = RegistryState(project=registry.project, version=registry.version, registry_id=registry.registry_id,
                         last_updated=registry.last_updated, entities=entities, feature_views=views,
                         on_demand_feature_views={r.view.name: r.view for r in on_demand},
                         feature_services={features.name: features} if isinstance(features, FeatureService) else {})
    proto = used.to_proto()
    del proto.feature_views[:]  # definitions only: the registry's materialization state is no part of them
    proto.feature_views.extend(view.to_proto(with_intervals=False) for _, view in sorted(views.items()))
    return base64.b64encode(proto.SerializeToString()).decode()


def check_training_expectations(frame, requested, full_feature_names: bool) -> None:
    """The requested views' expectations, on the training set's feature columns (validate=True).

    Rules on features not requested are skipped, and so is unique_keys_per_timestamp: a
    training set may repeat an entity row on purpose. Raises one line per broken rule.
    """
    from featurestore.quality.expectations import UniqueKeysPerTimestamp, evaluate

    lines = []
    for request in requested:
        rules = [e for e in getattr(request.view, "expectations", [])
                 if not isinstance(e, UniqueKeysPerTimestamp) and e.feature in request.features]
        if not rules:
            continue
        keys = [k for k in getattr(request, "key_columns", request.view.join_keys) if k in frame.columns]
        columns = [quoted_column(k) for k in keys] + [
            quoted_column(request.output_name(f, full_feature_names)).alias(f) for f in request.features]
        lines += [v.message for v in evaluate(frame.select(*columns), rules, keys, view=request.name)]
    if lines:
        raise ValidationError(f"the training set breaks {len(lines)} expectation(s):\n" + "\n".join(lines))


def transformation_hashes(requests: list[ViewRequest], on_demand: list[OnDemandRequest]) -> dict[str, str]:
    """{view name: sha256} of every batch transformation and on-demand function a training set used."""
    hashes = {r.view.name: r.view.transformation_code.sha256 for r in requests if r.view.transformation_code}
    hashes.update({r.view.name: r.view.udf_code.sha256 for r in on_demand})
    return dict(sorted(hashes.items()))


def changed_transformations(registry: RegistryState, definition: dict) -> list[str]:
    """'view: sha256 a -> b' for each function a saved training set used that the registry now has
    differently (or no longer has); [] when all are the same."""
    changes = []
    for name, saved in sorted((definition.get("transformations") or {}).items()):
        view = registry.feature_views.get(name) or registry.on_demand_feature_views.get(name)
        code = getattr(view, "udf_code", None) or getattr(view, "transformation_code", None)
        now = code.sha256 if code is not None else None
        if now != saved:
            changes.append(f"{name}: sha256 {saved[:12]} -> {now[:12] if now else 'none'}")
    return changes


def check_rebuild_transformations(registry: RegistryState, definition: dict, table: str,
                                  allow_changed: bool = False) -> None:
    """Refuse to rebuild a training set whose transformations changed since it was built, unless allowed."""
    changes = changed_transformations(registry, definition)
    if changes and not allow_changed:
        raise RetrievalError(f"training set {table} was built with other transformations than the registry now "
                             f"holds ({'; '.join(changes)}); a rebuild would not reproduce it. Pass "
                             f"--allow-changed-transformations (allow_changed_transformations=True) to rebuild "
                             f"with the current ones")


def projection_of(request) -> FeatureViewProjection:
    """The request as the projection that asks for it again (a training set's rebuild)."""
    alias = request.name if request.name != request.view.name else ""
    return FeatureViewProjection(request.view.name, request.features, alias, getattr(request, "join_key_map", {}))


def rebuild_training_set(spark, registry, table: str, repo_path=None) -> RetrievalJob:
    """Recompute a saved training set: its entity rows, the same features, the same Delta source versions."""
    definition = read_definition(spark, table)
    feature_columns = [feature_column(*ref.split(":", 1), definition["full_feature_names"])
                       for ref in definition["features"]]
    saved = spark.table(table)
    entities = saved.select(*[c for c in saved.columns if c not in feature_columns])
    features = [FeatureViewProjection.from_dict(p) for p in definition["projections"]] \
        if definition.get("projections") else definition["features"]  # with_name / with_join_key_map uses
    job = get_historical_features(spark, registry, entities, features,
                                  definition["full_feature_names"],
                                  source_versions={k: int(v) for k, v in definition["source_versions"].items()},
                                  repo_path=repo_path)
    job.definition["entity_source"] = definition["entity_source"]
    return job
