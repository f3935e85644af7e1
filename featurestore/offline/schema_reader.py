"""A source's columns and Spark types, read without Spark, so that `plan` and `apply` need no JVM.

Spark would answer `spark.table(t).schema`; this module answers the same question from the
files Spark itself reads, and answers it only where the answer is certain:

- a Delta table or Delta path: the schema of the table's newest metaData action, read from
  its `_delta_log` (catalog.delta_log), which is the schema Spark reads too;
- a parquet path: the footers of its data files (pyarrow), typed as Spark's parquet reader
  types them (featurestore's spark-defaults: nanosecond timestamps read as longs, which
  offline.sources makes timestamps again);
- a table= source resolves to a folder of the repo's warehouse only while the catalog is
  the repo's own Derby catalog (no metastore_url, no JDO or thrift URL in spark_conf), where
  Spark keeps a managed table: `default`'s tables at the warehouse's root, another
  database's under `<database>.db/`.

Everything else is NeedsSpark, with the reason `apply` prints before it starts Spark: a SQL
query, a Hive (non-Delta) table, a table elsewhere or missing (Spark's error names it),
partition folders, files that disagree on their schema, parquet
types whose Spark reading depends on settings (unsigned integers, nested timestamps,
dictionaries). tests/spark/test_schema_reader.py compares every answer with Spark's own.

This module never imports pyspark.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from featurestore.catalog.delta_log import is_delta_table, latest_metadata
from featurestore.offline.sources import source_path

# Spark's JSON type names (a Delta log's schemaString) -> their simpleString, as a schema shows them
JSON_TYPE_NAMES = {"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint"}


@dataclass(frozen=True)
class NeedsSpark:
    """Why a source's columns can only be known by asking Spark."""
    reason: str


def source_columns(config, source) -> dict[str, str] | NeedsSpark:
    """{column: Spark simpleString} of the source as stored (before field_mapping), or NeedsSpark."""
    if source.query:
        return NeedsSpark(f"source {source.name!r} is a SQL query")
    if source.table:
        folder = table_folder(config, source.table)
        if isinstance(folder, NeedsSpark):
            return folder
        return delta_columns(folder)
    path = Path(source_path(source, config.repo_path))
    if "://" in source.path and not source.path.startswith("file://"):
        return NeedsSpark(f"source {source.name!r} reads {source.path}, not a local path")
    path = Path(str(path).removeprefix("file://"))
    if source.file_format == "delta":
        return delta_columns(path) if is_delta_table(path) else NeedsSpark(f"{path} is not a Delta table")
    return parquet_columns(path)


def table_folder(config, table: str) -> Path | NeedsSpark:
    """Where the repo's own catalog keeps a managed table, or why only Spark knows."""
    configured = catalog_configured_elsewhere(config)
    if configured:
        return NeedsSpark(f"the Hive catalog is {configured}")
    parts = table.split(".")
    if len(parts) > 2 or not all(p.isidentifier() for p in parts):
        return NeedsSpark(f"table {table} is not a plain [database.]table name")
    database, name = (["default"] + parts)[-2:]
    warehouse = config.warehouse_dir
    folder = warehouse / name.lower() if database.lower() == "default" else warehouse / f"{database.lower()}.db" / name.lower()
    if not is_delta_table(folder):
        return NeedsSpark(f"table {table} is not a Delta table in the warehouse {warehouse}")
    return folder


def catalog_configured_elsewhere(config) -> str:
    """The catalog the user named instead of the repo's Derby database ('' when there is none)."""
    from featurestore.runtime.jars import read_spark_defaults
    from featurestore.runtime.metastore import ENV_URL, URIS_KEY, URL_KEY

    settings = {**read_spark_defaults(), **{str(k): str(v) for k, v in config.offline_store.spark_conf.items()}}
    for named in (os.environ.get(ENV_URL), config.offline_store.metastore_url, settings.get(URL_KEY),
                  settings.get(URIS_KEY)):
        if named:
            return named.split("?")[0]
    return ""


def delta_columns(folder: Path) -> dict[str, str] | NeedsSpark:
    metadata = latest_metadata(folder)
    if not metadata.get("schemaString"):
        return NeedsSpark(f"the Delta log of {folder} holds no schema")
    fields = json.loads(metadata["schemaString"])["fields"]
    return {f["name"]: simple_string(f["type"]) for f in fields}


def simple_string(json_type) -> str:
    """A Spark JSON type (str or dict) as Spark's DataType.simpleString() writes it.

    >>> simple_string("long"), simple_string({"type": "array", "elementType": "integer", "containsNull": True})
    ('bigint', 'array<int>')
    >>> simple_string({"type": "struct", "fields": [{"name": "a", "type": "decimal(10,2)"}]})
    'struct<a:decimal(10,2)>'
    """
    if isinstance(json_type, str):
        return JSON_TYPE_NAMES.get(json_type, json_type)
    kind = json_type["type"]
    if kind == "array":
        return f"array<{simple_string(json_type['elementType'])}>"
    if kind == "map":
        return f"map<{simple_string(json_type['keyType'])},{simple_string(json_type['valueType'])}>"
    if kind == "struct":
        return "struct<" + ",".join(f"{f['name']}:{simple_string(f['type'])}" for f in json_type["fields"]) + ">"
    return str(kind)


def parquet_columns(path: Path) -> dict[str, str] | NeedsSpark:
    """The columns of a parquet file or folder of files as Spark reads them (mergeSchema off)."""
    import pyarrow.parquet as pq

    if not path.exists():
        return NeedsSpark(f"{path} does not exist")
    if path.is_dir():
        if any(p.is_dir() and "=" in p.name for p in path.iterdir()):
            return NeedsSpark(f"{path} is partitioned into folders")
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(("_", ".")))
    else:
        files = [path]
    if not files:
        return NeedsSpark(f"{path} holds no data file")
    answers = []
    for file in files:
        try:
            answers.append(file_columns(pq.ParquetFile(file)))
        except Exception as error:  # any unreadable footer: Spark gives its own error
            return NeedsSpark(f"{file} cannot be read without Spark ({type(error).__name__})")
        if answers[-1] != answers[0]:
            return NeedsSpark(f"the files of {path} differ in their schemas")
    return answers[0]


def file_columns(parquet_file) -> dict[str, str] | NeedsSpark:
    schema = parquet_file.schema_arrow
    physical = {parquet_file.schema.column(i).path: parquet_file.schema.column(i).physical_type
                for i in range(len(parquet_file.schema))}
    columns = {}
    for field in schema:
        spark_type = arrow_type(field.type, physical.get(field.name, ""))
        if spark_type is None:
            return NeedsSpark(f"column {field.name!r} has parquet type {field.type}")
        columns[field.name] = spark_type
    return columns


def arrow_type(arrow, physical: str = "", nested: bool = False) -> str | None:
    """The Spark type Spark's parquet reader gives a column pyarrow reads as `arrow` (None: unsure)."""
    import pyarrow as pa

    simple = {pa.int8(): "tinyint", pa.int16(): "smallint", pa.int32(): "int", pa.int64(): "bigint",
              pa.float32(): "float", pa.float64(): "double", pa.bool_(): "boolean", pa.string(): "string",
              pa.large_string(): "string", pa.binary(): "binary", pa.large_binary(): "binary", pa.date32(): "date"}
    if arrow in simple:
        return simple[arrow]
    if pa.types.is_decimal(arrow) and arrow.precision <= 38:
        return f"decimal({arrow.precision},{arrow.scale})"
    if pa.types.is_timestamp(arrow):
        if nested:
            return None
        if physical == "INT96" or arrow.unit == "ns":  # INT96: Spark's legacy timestamps; ns: long, made a time again
            return "timestamp"
        return "timestamp" if arrow.tz is not None else "timestamp_ntz"
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        element = arrow_type(arrow.value_type, nested=True)
        return None if element is None else f"array<{element}>"
    if pa.types.is_map(arrow):
        key, value = arrow_type(arrow.key_type, nested=True), arrow_type(arrow.item_type, nested=True)
        return None if key is None or value is None else f"map<{key},{value}>"
    if pa.types.is_struct(arrow):
        fields = [(arrow.field(i).name, arrow_type(arrow.field(i).type, nested=True)) for i in range(arrow.num_fields)]
        return None if any(t is None for _, t in fields) else "struct<" + ",".join(f"{n}:{t}" for n, t in fields) + ">"
    return None


@dataclass(frozen=True)
class ViewColumns:
    """A view's rows as its checks see them: {column: Spark type} and where they come from."""
    columns: dict[str, str]
    location: str


def view_columns(config, view, where: str) -> ViewColumns | NeedsSpark:
    """What offline.sources.validate_feature_view resolves in Spark (the source after its
    field_mapping, through the view's transformation), read without Spark, or NeedsSpark.
    A local path that does not exist fails here, with Spark's check's own message."""
    from featurestore.offline import transformation_schemas

    columns = mapped_source_columns(config, view.source, where)
    if isinstance(columns, NeedsSpark):
        return columns
    code = view.transformation_code
    if code is None:
        return ViewColumns(columns, view.source.describe_location())
    output = transformation_schemas.recall(view, config.repo_path, columns)
    if output is None:
        return NeedsSpark(f"transformation {code.qualified_name} has not run on these columns yet")
    return ViewColumns(output, f"the output of transformation {code.qualified_name}")


def mapped_source_columns(config, source, where: str) -> dict[str, str] | NeedsSpark:
    """The source's columns after its field_mapping (what a transformation is given), or NeedsSpark."""
    from featurestore.offline.sources import check_path_exists

    check_path_exists(source, where, config.repo_path)
    stored = source_columns(config, source)
    if isinstance(stored, NeedsSpark):
        return stored
    columns = dict(stored)
    for column, field in source.field_mapping.items():
        if column in columns:
            if field in columns:
                return NeedsSpark(f"field_mapping renames {column!r} to {field!r}, a column it already has")
            columns = {field if name == column else name: kind for name, kind in columns.items()}
    return columns
