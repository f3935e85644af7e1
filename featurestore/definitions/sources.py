"""Data sources: where a feature view's rows live (a warehouse table, a query or a path).

Sources are descriptions only; reading them with Spark happens in featurestore.offline.
"""
from __future__ import annotations

import warnings

from featurestore.definitions._checks import check_name, check_str, check_table_name, check_tags
from featurestore.errors import DefinitionError
from featurestore.protos import registry_pb2

FILE_FORMATS = ("parquet", "delta")


def _resolve_timestamp_field(kind: str, timestamp_field, event_timestamp_column) -> str:
    """Accept Feast's older `event_timestamp_column` as an alias, with a deprecation warning."""
    if event_timestamp_column is not None:
        warnings.warn(f"{kind}: 'event_timestamp_column' is deprecated, use 'timestamp_field'",
                      DeprecationWarning, stacklevel=4)
        if timestamp_field and timestamp_field != event_timestamp_column:
            raise DefinitionError(f"{kind}: give either timestamp_field or event_timestamp_column, not both")
        timestamp_field = event_timestamp_column
    if not timestamp_field:
        raise DefinitionError(f"{kind}: timestamp_field is required: the column holding each row's event time")
    return check_name(kind, timestamp_field, "timestamp_field")


class DataSource:
    """Base of SparkSource and FileSource: the columns and mapping every source has."""

    _kind_enum = registry_pb2.DataSource.SPARK

    def __init__(self, *, name, table=None, query=None, path=None, file_format=None,
                 timestamp_field=None, created_timestamp_column="", field_mapping=None,
                 description="", tags=None, event_timestamp_column=None):
        kind = f"{type(self).__name__} {name!r}"
        self.name = check_name(type(self).__name__, name)
        given = [arg for arg, value in (("table", table), ("query", query), ("path", path)) if value]
        if len(given) != 1:
            raise DefinitionError(f"{kind}: give exactly one of table=, query= or path=, got "
                                  f"{', '.join(given) or 'none'}")
        self.table = check_table_name(kind, table) if table else None
        self.query = check_str(kind, "query", query, allow_empty=False) if query else None
        self.path = check_str(kind, "path", path, allow_empty=False) if path else None
        if self.path:
            file_format = file_format or "parquet"
            if file_format not in FILE_FORMATS:
                raise DefinitionError(f"{kind}: file_format must be one of {', '.join(FILE_FORMATS)}, "
                                      f"got {file_format!r}")
        elif file_format:
            raise DefinitionError(f"{kind}: file_format applies to path= sources only")
        self.file_format = file_format or ""
        self.timestamp_field = _resolve_timestamp_field(kind, timestamp_field, event_timestamp_column)
        created = check_str(kind, "created_timestamp_column", created_timestamp_column)
        self.created_timestamp_column = check_name(kind, created, "created_timestamp_column") if created else ""
        field_mapping = field_mapping or {}
        if not isinstance(field_mapping, dict):
            raise DefinitionError(f"{kind}: field_mapping must be a dict of source column to field name")
        for column, field in field_mapping.items():
            check_name(kind, column, "field_mapping column")
            check_name(kind, field, "field_mapping target")
        self.field_mapping = dict(field_mapping)
        self.description = check_str(kind, "description", description)
        self.tags = check_tags(kind, tags)

    def source_column(self, field_name: str) -> str:
        """The source column that holds a schema field (inverse of field_mapping)."""
        for column, field in self.field_mapping.items():
            if field == field_name:
                return column
        return field_name

    def describe_location(self) -> str:
        if self.table:
            return f"table {self.table}"
        if self.path:
            return f"{self.file_format} path {self.path}"
        return f"query {self.query!r}"

    def to_proto(self) -> registry_pb2.DataSource:
        proto = registry_pb2.DataSource(
            name=self.name, kind=self._kind_enum, file_format=self.file_format,
            timestamp_field=self.timestamp_field, created_timestamp_column=self.created_timestamp_column,
            field_mapping=self.field_mapping, description=self.description, tags=self.tags)
        if self.table:
            proto.table = self.table
        elif self.query:
            proto.query = self.query
        else:
            proto.path = self.path
        return proto

    @staticmethod
    def from_proto(proto: registry_pb2.DataSource) -> DataSource:
        cls = FileSource if proto.kind == registry_pb2.DataSource.FILE else SparkSource
        location = proto.WhichOneof("location")
        kwargs = {location: getattr(proto, location)}
        if cls is SparkSource and location == "path":
            kwargs["file_format"] = proto.file_format
        return cls(name=proto.name, timestamp_field=proto.timestamp_field,
                   created_timestamp_column=proto.created_timestamp_column,
                   field_mapping=dict(proto.field_mapping), description=proto.description,
                   tags=dict(proto.tags), **kwargs)

    def __eq__(self, other) -> bool:
        return isinstance(other, DataSource) and self.to_proto() == other.to_proto()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.name))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, {self.describe_location()})"


class SparkSource(DataSource):
    """A source Spark reads: a Hive or Delta table (`db.table`), a SQL query, or a path.

    >>> SparkSource(name="driver_stats", table="default.driver_hourly_stats",
    ...             timestamp_field="event_timestamp", created_timestamp_column="created")
    SparkSource(name='driver_stats', table default.driver_hourly_stats)
    """

    def __init__(self, *, name: str, table: str | None = None, query: str | None = None,
                 path: str | None = None, file_format: str | None = None, timestamp_field: str | None = None,
                 created_timestamp_column: str = "", field_mapping: dict[str, str] | None = None,
                 description: str = "", tags: dict[str, str] | None = None,
                 event_timestamp_column: str | None = None):
        super().__init__(name=name, table=table, query=query, path=path, file_format=file_format,
                         timestamp_field=timestamp_field, created_timestamp_column=created_timestamp_column,
                         field_mapping=field_mapping, description=description, tags=tags,
                         event_timestamp_column=event_timestamp_column)


class FileSource(DataSource):
    """A parquet file or folder, as in Feast's FileSource."""

    _kind_enum = registry_pb2.DataSource.FILE

    def __init__(self, *, name: str, path: str, timestamp_field: str | None = None,
                 created_timestamp_column: str = "", field_mapping: dict[str, str] | None = None,
                 description: str = "", tags: dict[str, str] | None = None,
                 event_timestamp_column: str | None = None):
        super().__init__(name=name, path=path, file_format="parquet", timestamp_field=timestamp_field,
                         created_timestamp_column=created_timestamp_column, field_mapping=field_mapping,
                         description=description, tags=tags, event_timestamp_column=event_timestamp_column)


class PushSource:
    """Rows pushed by callers (`FeatureStore.push`), as in Feast: a view whose source is a
    PushSource reads its batch_source offline (training sets, materialization) and takes
    pushed rows online, in its batch source, or both.

    >>> stats = FileSource(name="stats", path="data/driver_stats.parquet", timestamp_field="event_timestamp")
    >>> PushSource(name="driver_stats_push", batch_source=stats)
    PushSource(name='driver_stats_push', batch_source='stats')
    """

    def __init__(self, *, name: str, batch_source: DataSource, description: str = "",
                 tags: dict[str, str] | None = None):
        kind = f"PushSource {name!r}"
        self.name = check_name("PushSource", name)
        if not isinstance(batch_source, DataSource):
            raise DefinitionError(f"{kind}: batch_source must be a SparkSource or FileSource (where pushed rows "
                                  f"are kept offline and training sets read them), got {batch_source!r}")
        self.batch_source = batch_source
        self.description = check_str(kind, "description", description)
        self.tags = check_tags(kind, tags)

    def __eq__(self, other) -> bool:
        return isinstance(other, PushSource) and (self.name, self.batch_source) == (other.name, other.batch_source)

    def __hash__(self) -> int:
        return hash(("PushSource", self.name))

    def __repr__(self) -> str:
        return f"PushSource(name={self.name!r}, batch_source={self.batch_source.name!r})"


def BigQuerySource(*, table_ref: str | None = None, table: str | None = None, query: str | None = None, **_options):
    """Feast's BigQuery source, refused with the fix: featurestore reads tables through Spark."""
    name = table or table_ref or ""
    spark_name = ".".join(name.split(".")[-2:]) if name else "db.table"
    location = f"table={spark_name!r}" if name or not query else "query=..."
    raise DefinitionError(f"BigQuerySource({'table_ref=' + repr(name) if name else 'query=...'}): featurestore reads "
                          f"no BigQuery; load the data into the Spark warehouse and read it there: "
                          f"SparkSource(name=..., {location}, timestamp_field=..., created_timestamp_column=...)")
