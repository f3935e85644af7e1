"""Reading a data source with Spark, and checking a feature view against what it reads.

read_source() returns the source's rows with columns renamed by field_mapping, so the
rest of the code only sees schema field names. A relative `path=` is relative to the
feature repo (as in Feast), never to the current folder, so a job started elsewhere
reads the same files. validate_feature_view() is what apply runs before writing
anything, and what training sets and materialization run before reading: the source
exists, every field exists with a compatible type, and the timestamp columns are
timestamps. A source that changed after apply therefore fails with one line, not with
a query plan or, worse, values of the wrong type.
"""
from __future__ import annotations

from pathlib import Path

from featurestore.definitions import DataSource, FeatureView
from featurestore.errors import ValidationError, did_you_mean

TIMESTAMP_TYPES = ("timestamp", "timestamp_ntz")


def source_path(source: DataSource, repo_path: str | Path | None) -> str:
    """Where a path= source lives: URLs and absolute paths as given, relative ones under the repo."""
    if "://" in source.path or Path(source.path).is_absolute() or repo_path is None:
        return source.path
    return str(Path(repo_path).resolve() / source.path)


def read_source(spark, source: DataSource, repo_path: str | Path | None = None, version: int | None = None):
    """The source as a Spark DataFrame, its mapped columns renamed to field names.

    `version` reads a Delta table as of that version (time travel, for rebuilds).
    """
    if source.table:
        frame = spark.table(source.table) if version is None else \
            spark.read.format("delta").option("versionAsOf", version).table(source.table)
    elif source.query:
        frame = spark.sql(source.query)
    else:
        frame = _read_path(spark, source, source_path(source, repo_path))
    return with_field_names(frame, source)


def with_field_names(frame, source: DataSource):
    """`frame` with the source's mapped columns renamed to their field names (field_mapping);
    a batch read and a stream read (featurestore.streaming) both go through here."""
    for column, field in source.field_mapping.items():
        if column in frame.columns:
            frame = frame.withColumnRenamed(column, field)
    return frame


def _read_path(spark, source: DataSource, path: str):
    from pyspark.errors import AnalysisException

    try:
        frame = spark.read.format(source.file_format).load(path)
    except AnalysisException as error:
        if "PARQUET_TYPE_ILLEGAL" in str(error) or "NANOS" in str(error):
            raise ValidationError(
                f"source {source.name!r}: parquet path {path} holds nanosecond timestamps (pandas' default), "
                f"which this Spark session reads only with spark.sql.legacy.parquet.nanosAsLong=true (featurestore's "
                f"spark-defaults.conf sets it); start the session with featurestore's settings, or write the file "
                f"with df.to_parquet(path, coerce_timestamps='us')") from None
        raise
    if source.file_format == "parquet":
        for column in nanosecond_columns(path):
            if column in frame.columns and frame.schema[column].dataType.simpleString() == "bigint":
                frame = frame.withColumn(column, nanos_as_timestamp(column, source.name, path))
    return frame


def nanosecond_columns(path: str) -> list[str]:
    """The columns a local parquet file or folder stores as nanosecond timestamps (pandas'
    default), which Spark reads as longs (spark.sql.legacy.parquet.nanosAsLong). Read from
    the parquet schema with pyarrow, on the driver, without reading any data."""
    if "://" in path and not path.startswith("file://"):
        return []
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        schema = ds.dataset(path.removeprefix("file://"), format="parquet").schema
    except (OSError, ValueError, pa.ArrowException):
        return []
    return [field.name for field in schema if pa.types.is_timestamp(field.type) and field.type.unit == "ns"]


def nanos_as_timestamp(column: str, source_name: str, path: str):
    """Nanoseconds since the epoch as the exact microsecond timestamp, or, for a value with a
    sub-microsecond part (which no Spark timestamp holds), a failure saying so and how to fix it."""
    from pyspark.sql import functions as F

    nanos = F.col(f"`{column}`")
    message = F.concat(F.lit(f"source '{source_name}': column '{column}' of parquet path {path} holds a time with "
                             f"nanoseconds ("), nanos.cast("string"),
                       F.lit(f" ns since the epoch), which Spark's microsecond timestamps cannot hold exactly; round "
                             f"it before writing: df['{column}'] = df['{column}'].dt.floor('us')"))
    return F.when(nanos.isNotNull() & (nanos % 1000 != 0), F.raise_error(message)) \
        .otherwise(F.timestamp_micros(F.expr(f"`{column}` div 1000")))


def source_frame(spark, source: DataSource, where: str, repo_path: str | Path | None = None,
                 version: int | None = None):
    """The source read lazily, or a ValidationError saying why it cannot be."""
    from pyspark.errors import AnalysisException

    check_path_exists(source, where, repo_path)
    try:
        frame = read_source(spark, source, repo_path, version)
        frame.schema  # noqa: B018 - resolves the plan, so a broken query or path fails here
        return frame
    except AnalysisException as error:
        # asked after the fact, not before with tableExists: one round trip less over Spark Connect
        if source.table and error.getCondition() == "TABLE_OR_VIEW_NOT_FOUND" and \
                not spark.catalog.tableExists(source.table):
            warehouse = spark.conf.get("spark.sql.warehouse.dir")
            raise ValidationError(f"{where}: source {source.name!r} reads table {source.table}, which does not "
                                  f"exist in the warehouse {warehouse}; create the table or fix table=") from None
        first_line = str(error).strip().splitlines()[0]
        raise ValidationError(f"{where}: source {source.name!r} ({source.describe_location()}) cannot be read: "
                              f"{first_line}") from None


def check_path_exists(source: DataSource, where: str, repo_path: str | Path | None) -> None:
    """A ValidationError when a local path= source names nothing."""
    if source.path and "://" not in source.path and not Path(source_path(source, repo_path)).exists():
        raise ValidationError(f"{where}: source {source.name!r} reads {source.file_format} path "
                              f"{source_path(source, repo_path)}, which does not exist; fix path= (a relative "
                              f"path is relative to the feature repo)")


def view_where(where: str, view: FeatureView) -> str:
    """How an error names the view: its file (when known), then the view."""
    return f"{where + ': ' if where else ''}FeatureView {view.name!r}".lstrip()


def transform(spark, view: FeatureView, frame, where: str, repo_path: str | Path | None = None):
    """`frame` (the source after field_mapping) through the view's batch transformation, if it has one.

    The function is the live one (apply) or the repo's, checked against the registered hash.
    What it raises, or returning something other than a DataFrame, is a ValidationError
    naming the view and the function.
    """
    from pyspark.errors import AnalysisException
    from pyspark.sql import DataFrame

    fn = view.transformation_function(repo_path)
    if fn is None:
        return frame
    name = view.transformation_code.qualified_name
    try:
        result = fn(frame)
        if isinstance(result, DataFrame):
            result.schema  # noqa: B018 - resolves the plan: a bad column reference fails here
    except AnalysisException as error:
        first_line = str(error).strip().splitlines()[0]
        raise ValidationError(f"{where}: transformation {name} failed on the source's rows: {first_line}; fix the "
                              f"function") from None
    except Exception as error:
        raise ValidationError(f"{where}: transformation {name} raised {type(error).__name__}: {error}; fix the "
                              f"function") from None
    if not isinstance(result, DataFrame):
        raise ValidationError(f"{where}: transformation {name} returned {type(result).__name__}, not a Spark "
                              f"DataFrame; return the transformed DataFrame")
    from featurestore.offline import transformation_schemas

    transformation_schemas.remember(view, repo_path, spark_columns(frame), spark_columns(result))
    return result


def spark_columns(frame) -> dict[str, str]:
    """{column: Spark type's simpleString} of a DataFrame."""
    return {f.name: f.dataType.simpleString() for f in frame.schema.fields}


def validate_feature_view(spark, view: FeatureView, where: str = "", repo_path: str | Path | None = None,
                          version: int | None = None):
    """The view's rows as a lazy DataFrame (its source, transformed when it has a transformation);
    a ValidationError unless they match the view's schema."""
    source = view.source
    where = view_where(where, view)
    frame = source_frame(spark, source, where, repo_path, version)
    location = source.describe_location()
    transformed = view.transformation_code is not None
    if transformed:
        frame = transform(spark, view, frame, where, repo_path)
        location = f"the output of transformation {view.transformation_code.qualified_name}"
    check_columns(view, spark_columns(frame), where, location)
    return frame


def check_columns(view: FeatureView, columns: dict[str, str], where: str, location: str) -> None:
    """A ValidationError unless the view's rows, with these {column: Spark type}, match its schema.

    `columns` are the source's after field_mapping, or the transformation's output: what
    Spark resolved, or what offline.schema_reader read without it; both give the same errors."""
    source = view.source
    transformed = view.transformation_code is not None
    for field in view.schema:
        column = field.name if transformed else source.source_column(field.name)
        if column not in columns and field.name not in columns:
            raise ValidationError(f"{where}: column {column!r} (field {field.name!r}) is not in {location}; "
                                  f"its columns are {', '.join(columns)}")
        actual = columns.get(field.name, columns.get(column))
        if not field.dtype.accepts_spark_type(actual):
            fix = "cast the column in the transformation" if transformed else "cast the column in a query source"
            raise ValidationError(
                f"{where}: column {column!r} of {location} has Spark type {actual}, which does not fit "
                f"{field.dtype!r} (expected {' or '.join(field.dtype.spark_types) or 'an array'}); change the "
                f"field's dtype or {fix}")
    for role, column in (("timestamp_field", source.timestamp_field),
                         ("created_timestamp_column", source.created_timestamp_column)):
        if not column:
            continue
        if column not in columns:
            fix = "; keep it in the transformation's output" if transformed else ""
            raise ValidationError(f"{where}: {role} {column!r} is not a column of {location}; its columns are "
                                  f"{', '.join(columns)}{fix}")
        if columns[column] not in TIMESTAMP_TYPES and transformed:
            raise ValidationError(f"{where}: {role} {column!r} of {location} has Spark type {columns[column]}, not "
                                  f"timestamp; convert it in the transformation, e.g. F.to_timestamp({column!r})")
        if columns[column] not in TIMESTAMP_TYPES:
            raise ValidationError(
                f"{where}: {role} {column!r} of {location} has Spark type {columns[column]}, not timestamp; "
                f"convert it in a query source, e.g. query=\"SELECT *, to_timestamp({column}) AS "
                f"{column}_ts FROM ...\" (epoch seconds: timestamp_seconds({column}))")


def infer_schema(spark, view: FeatureView, where: str = "", repo_path: str | Path | None = None) -> FeatureView:
    """A pending view (schema= left out, or without its join keys) completed from its source, as
    Feast infers it at apply: join keys and, without schema=, every other column but the
    timestamps as a feature (an aggregating view: the aggregated columns), typed by
    featurestore.types.from_spark_type. Columns no feature type holds are left out and named
    in the note `plan` shows; a join key of such a type is an error."""
    where = view_where(where, view)
    frame = transform(spark, view, source_frame(spark, view.source, where, repo_path), where, repo_path)
    return with_inferred_schema(view, spark_columns(frame), where)


def with_inferred_schema(view: FeatureView, types: dict[str, str], where: str) -> FeatureView:
    """infer_schema's answer from the view's columns {name: Spark type} (after its transformation),
    however they were read."""
    from featurestore.definitions import Field
    from featurestore.types import from_spark_type

    given = {f.name: f for f in view.schema}
    if view.pending_inference == "schema":
        timestamps = {view.source.timestamp_field, view.source.created_timestamp_column}
        wanted = list(view.join_keys) + ([a.column for a in view.aggregations] if view.aggregations else
                                         [c for c in types if c not in timestamps and c not in view.join_keys])
    else:
        wanted = list(view.join_keys) + [f.name for f in view.schema if f.name not in view.join_keys]
    schema, inferred, skipped = [], [], []
    for name in dict.fromkeys(wanted):
        if name in given:
            schema.append(given[name])
            continue
        if name not in types:
            hint = ""
            if name in view.join_keys and name in view.entities:  # Entity(name=...) without join_keys=
                column = next((c for c in (f"{name}_id", f"{name}_key") if c in types), "KEY_COLUMN")
                hint = (f". Entity {name!r} has no join_keys=, so (as in Feast) its join key is its name; name the "
                        f"source's key column: Entity(name={name!r}, join_keys=[{column!r}])")
            elif name in view.join_keys:
                owner = " or ".join(f"Entity {e!r}" for e in view.entities)
                hint = (f". {name!r} is a join key of {owner}: every join key must be a column of the source; "
                        f"correct the Entity's join_keys=.{did_you_mean(name, types)}")
            raise ValidationError(f"{where}: column {name!r} is not in its source ({view.source.describe_location()}), "
                                  f"so its type cannot be inferred; columns: {', '.join(types)}{hint}")
        dtype = from_spark_type(types[name])
        if dtype is None:
            if name in view.join_keys or view.aggregations:
                raise ValidationError(f"{where}: column {name!r} has Spark type {types[name]}, which no feature type "
                                      f"holds; cast it in a query= source or declare the schema")
            skipped.append(f"{name} ({types[name]})")
            continue
        schema.append(Field(name=name, dtype=dtype))
        inferred.append(f"{name} {dtype!r}{' (join key)' if name in view.join_keys else ''}")
    note = f"inferred from the source: {', '.join(inferred)}"
    if skipped:
        note += f"; left out, no feature type holds them: {', '.join(skipped)}"
    return view.with_schema(schema, note)
