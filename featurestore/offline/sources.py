"""Reading a data source with Spark, and checking a feature view against what it reads.

read_source() returns the source's rows with columns renamed by field_mapping, so the
rest of the code only sees schema field names. validate_feature_view() is what apply runs
before writing anything: the source exists, every field exists with a compatible type,
and the timestamp columns are timestamps.
"""
from __future__ import annotations

from pathlib import Path

from featurestore.definitions import DataSource, FeatureView
from featurestore.errors import ValidationError

TIMESTAMP_TYPES = ("timestamp", "timestamp_ntz")


def read_source(spark, source: DataSource):
    """The source as a Spark DataFrame, its mapped columns renamed to field names."""
    if source.table:
        frame = spark.table(source.table)
    elif source.query:
        frame = spark.sql(source.query)
    else:
        frame = spark.read.format(source.file_format).load(source.path)
    for column, field in source.field_mapping.items():
        if column in frame.columns:
            frame = frame.withColumnRenamed(column, field)
    return frame


def source_schema(spark, source: DataSource, where: str) -> dict[str, str]:
    """{column: spark simpleString type} of the source, or a ValidationError saying why not."""
    from pyspark.errors import AnalysisException

    if source.table and not spark.catalog.tableExists(source.table):
        warehouse = spark.conf.get("spark.sql.warehouse.dir")
        raise ValidationError(f"{where}: source {source.name!r} reads table {source.table}, which does not exist "
                              f"in the warehouse {warehouse}; create the table or fix table=")
    if source.path and "://" not in source.path and not Path(source.path).exists():
        raise ValidationError(f"{where}: source {source.name!r} reads {source.file_format} path {source.path}, "
                              f"which does not exist; fix path=")
    try:
        frame = read_source(spark, source)
        return {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    except AnalysisException as error:
        first_line = str(error).strip().splitlines()[0]
        raise ValidationError(f"{where}: source {source.name!r} ({source.describe_location()}) cannot be read: "
                              f"{first_line}") from None


def validate_feature_view(spark, view: FeatureView, where: str = "") -> None:
    """Raise ValidationError unless the view's source matches its schema."""
    source = view.source
    where = f"{where + ': ' if where else ''}FeatureView {view.name!r}".lstrip()
    columns = source_schema(spark, source, where)
    location = source.describe_location()
    for field in view.schema:
        column = source.source_column(field.name)
        if column not in columns and field.name not in columns:
            raise ValidationError(f"{where}: column {column!r} (field {field.name!r}) is not in {location}; "
                                  f"its columns are {', '.join(columns)}")
        actual = columns.get(field.name, columns.get(column))
        if not field.dtype.accepts_spark_type(actual):
            raise ValidationError(
                f"{where}: column {column!r} of {location} has Spark type {actual}, which does not fit "
                f"{field.dtype!r} (expected {' or '.join(field.dtype.spark_types) or 'an array'}); change the "
                f"field's dtype or cast the column in a query source")
    for role, column in (("timestamp_field", source.timestamp_field),
                         ("created_timestamp_column", source.created_timestamp_column)):
        if not column:
            continue
        if column not in columns:
            raise ValidationError(f"{where}: {role} {column!r} is not a column of {location}; its columns are "
                                  f"{', '.join(columns)}")
        if columns[column] not in TIMESTAMP_TYPES:
            raise ValidationError(
                f"{where}: {role} {column!r} of {location} has Spark type {columns[column]}, not timestamp; "
                f"convert it in a query source, e.g. query=\"SELECT *, to_timestamp({column}) AS "
                f"{column}_ts FROM ...\" (epoch seconds: timestamp_seconds({column}))")
