"""KafkaSource and its message formats (Feast's names): a topic a StreamFeatureView follows.

A Kafka source always has a batch source (a Delta table or Delta path): training sets and
batch materialization read that, and the stream job (featurestore.streaming) appends every
decoded message to it, so what was served online is what training sets see. The messages
therefore decode to the batch source's column names: its timestamp column, join keys and
feature columns (before the batch source's field_mapping, which applies to both).

Formats, as in Feast's `feast.data_format` (importable as `featurestore.data_format`):
- JsonFormat(schema_json): each message's value is a JSON object; schema_json is a Spark DDL
  string such as "driver_id long, event_timestamp timestamp, conv_rate double";
- AvroFormat(schema_json): each value is one Avro datum (plain binary encoding, no schema
  registry header) of the record schema schema_json, an Avro schema in JSON.
"""
from __future__ import annotations

import json
from datetime import timedelta

from featurestore.definitions._checks import check_name, check_str, check_tags
from featurestore.definitions.sources import DataSource
from featurestore.errors import DefinitionError
from featurestore.protos import registry_pb2
from featurestore.types import split_top_level


def ddl_column_names(ddl: str) -> list[str]:
    """The column names of a Spark DDL schema ("a long, b struct<x: int, y: string>").
    Commas inside <> or () separate nested fields, not columns."""
    columns = [column.strip() for column in split_top_level(ddl)]
    return [column.split("`")[1] if column.startswith("`") else column.replace(":", " ").split()[0]
            for column in columns if column]


class JsonFormat:
    """Messages whose value is a JSON object of the columns named by a Spark DDL schema."""

    kind = "json"

    def __init__(self, schema_json: str):
        self.schema_json = check_str("JsonFormat", "schema_json", schema_json, allow_empty=False)
        self.columns = ddl_column_names(self.schema_json)
        if not self.columns:
            raise DefinitionError(f"JsonFormat: schema_json {schema_json!r} names no column; give a Spark DDL "
                                  f"string such as 'driver_id long, event_timestamp timestamp, conv_rate double'")

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.schema_json == self.schema_json

    def __repr__(self) -> str:
        return f"{type(self).__name__}(schema_json={self.schema_json!r})"


class AvroFormat(JsonFormat):
    """Messages whose value is one Avro datum of a record schema (JSON)."""

    kind = "avro"

    def __init__(self, schema_json: str):
        self.schema_json = check_str("AvroFormat", "schema_json", schema_json, allow_empty=False)
        try:
            schema = json.loads(self.schema_json)
        except json.JSONDecodeError as error:
            raise DefinitionError(f"AvroFormat: schema_json is not JSON ({error}); give an Avro record schema such "
                                  f"as {{\"type\": \"record\", \"name\": \"stats\", \"fields\": [...]}}") from None
        if not isinstance(schema, dict) or schema.get("type") != "record" or \
                not isinstance(schema.get("fields"), list) or not schema["fields"]:
            raise DefinitionError("AvroFormat: schema_json must be an Avro record schema with fields: "
                                  "{\"type\": \"record\", \"name\": ..., \"fields\": [{\"name\": ..., \"type\": ...}]}")
        self.columns = [f.get("name") for f in schema["fields"] if isinstance(f, dict)]


FORMATS = {cls.kind: cls for cls in (JsonFormat, AvroFormat)}


class KafkaSource:
    """A Kafka topic read as a stream, with the batch source it lands in.

    >>> from featurestore import SparkSource
    >>> stats = SparkSource(name="stats", table="default.driver_stats", timestamp_field="event_timestamp")
    >>> KafkaSource(name="stats_stream", bootstrap_servers="127.0.0.1:9092", topic="driver_stats",
    ...             timestamp_field="event_timestamp", batch_source=stats,
    ...             message_format=JsonFormat("driver_id long, event_timestamp timestamp, conv_rate double"))
    KafkaSource(name='stats_stream', topic='driver_stats', batch_source='stats')
    """

    def __init__(self, *, name: str, timestamp_field: str, message_format: JsonFormat, topic: str,
                 bootstrap_servers: str | None = None, kafka_bootstrap_servers: str | None = None,
                 batch_source: DataSource | None = None, created_timestamp_column: str = "",
                 field_mapping: dict[str, str] | None = None, watermark_delay_threshold: timedelta | None = None,
                 description: str = "", tags: dict[str, str] | None = None, owner: str = ""):
        kind = f"KafkaSource {name!r}"
        self.name = check_name("KafkaSource", name)
        if not isinstance(batch_source, DataSource):
            raise DefinitionError(f"{kind}: batch_source= is required, a SparkSource or FileSource over a Delta table "
                                  f"or Delta path: training sets read it and the stream appends its messages there")
        self.batch_source = batch_source
        servers = bootstrap_servers or kafka_bootstrap_servers
        self.bootstrap_servers = check_str(kind, "bootstrap_servers", servers, allow_empty=False) if servers else ""
        if not self.bootstrap_servers:
            raise DefinitionError(f"{kind}: bootstrap_servers= is required, such as '127.0.0.1:9092'")
        self.topic = check_str(kind, "topic", topic, allow_empty=False)
        if not isinstance(message_format, JsonFormat):
            raise DefinitionError(f"{kind}: message_format must be JsonFormat(schema_json=...) or "
                                  f"AvroFormat(schema_json=...) (from featurestore.data_format), got {message_format!r}")
        self.message_format = message_format
        if timestamp_field != batch_source.timestamp_field:
            raise DefinitionError(f"{kind}: timestamp_field {timestamp_field!r} differs from its batch source's "
                                  f"{batch_source.timestamp_field!r}; messages are appended to the batch source, so "
                                  f"they carry its timestamp column")
        if created_timestamp_column and created_timestamp_column != batch_source.created_timestamp_column:
            raise DefinitionError(f"{kind}: created_timestamp_column {created_timestamp_column!r} differs from its "
                                  f"batch source's; set it on the batch source")
        if field_mapping and field_mapping != batch_source.field_mapping:
            raise DefinitionError(f"{kind}: field_mapping differs from its batch source's; messages carry the batch "
                                  f"source's column names, so set field_mapping on the batch source only")
        if timestamp_field not in message_format.columns:
            raise DefinitionError(f"{kind}: its message schema lacks the timestamp column {timestamp_field!r}; its "
                                  f"columns are {', '.join(message_format.columns)}")
        if watermark_delay_threshold is not None and (not isinstance(watermark_delay_threshold, timedelta)
                                                      or watermark_delay_threshold < timedelta(0)):
            raise DefinitionError(f"{kind}: watermark_delay_threshold must be a timedelta of zero or more, got "
                                  f"{watermark_delay_threshold!r}")
        self.watermark_delay_threshold = watermark_delay_threshold
        self.description = check_str(kind, "description", description)
        self.tags = check_tags(kind, tags)
        self.owner = check_str(kind, "owner", owner)

    @property
    def timestamp_field(self) -> str:
        return self.batch_source.timestamp_field

    def to_proto(self) -> registry_pb2.KafkaSource:
        proto = registry_pb2.KafkaSource(
            name=self.name, bootstrap_servers=self.bootstrap_servers, topic=self.topic,
            message_format=self.message_format.kind, schema_json=self.message_format.schema_json,
            description=self.description, tags=self.tags, owner=self.owner)
        if self.watermark_delay_threshold is not None:
            proto.watermark_delay_threshold.FromTimedelta(self.watermark_delay_threshold)
        return proto

    @classmethod
    def from_proto(cls, proto: registry_pb2.KafkaSource, batch_source: DataSource) -> KafkaSource:
        watermark = proto.watermark_delay_threshold.ToTimedelta() \
            if proto.HasField("watermark_delay_threshold") else None
        return cls(name=proto.name, bootstrap_servers=proto.bootstrap_servers, topic=proto.topic,
                   message_format=FORMATS[proto.message_format](proto.schema_json), batch_source=batch_source,
                   timestamp_field=batch_source.timestamp_field, watermark_delay_threshold=watermark,
                   description=proto.description, tags=dict(proto.tags), owner=proto.owner)

    def __eq__(self, other) -> bool:
        return isinstance(other, KafkaSource) and self.to_proto() == other.to_proto() and \
            self.batch_source == other.batch_source

    def __hash__(self) -> int:
        return hash(("KafkaSource", self.name))

    def __repr__(self) -> str:
        return f"KafkaSource(name={self.name!r}, topic={self.topic!r}, batch_source={self.batch_source.name!r})"
