"""StreamFeatureView's and KafkaSource's definitions: Feast's names and arguments, what they
refuse and why, and what the registry keeps (the stream jobs: tests/spark/test_stream.py and
tests/spark/test_stream_kafka.py)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from featurestore import Entity, FeatureView, Field, KafkaSource, SparkSource, StreamFeatureView
from featurestore.data_format import AvroFormat, JsonFormat
from featurestore.definitions.aggregation import Aggregation
from featurestore.definitions.kafka import ddl_column_names
from featurestore.errors import DefinitionError
from featurestore.types import Float64, Int64

DRIVER = Entity(name="driver", join_keys=["driver_id"])
SOURCE = SparkSource(name="events", table="default.events", timestamp_field="event_timestamp")
SCHEMA = [Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)]


def stream_view(**arguments) -> StreamFeatureView:
    return StreamFeatureView(**{"name": "live", "entities": [DRIVER], "source": SOURCE, "schema": SCHEMA,
                                **arguments})


def test_a_stream_view_is_a_feature_view_and_the_registry_keeps_its_trigger():
    view = stream_view(trigger_interval=timedelta(milliseconds=500), timestamp_field="event_timestamp")
    assert isinstance(view, FeatureView) and view.stream_trigger == timedelta(milliseconds=500)
    again = FeatureView.from_proto(view.to_proto())
    assert type(again) is StreamFeatureView and again == view and again.stream_trigger == view.stream_trigger
    batch = FeatureView(name="live", entities=[DRIVER], source=SOURCE, schema=SCHEMA)
    assert batch.stream_trigger is None and batch != view  # turning a view into a stream view is a change
    assert stream_view().stream_trigger == timedelta(seconds=1)
    counting = stream_view(aggregations=[Aggregation(column="rate", function="sum", time_window=timedelta(hours=1))])
    again = FeatureView.from_proto(counting.to_proto())
    assert type(again) is StreamFeatureView and again.is_aggregating and again == counting


@pytest.mark.parametrize("arguments, message", [
    ({"udf": lambda inputs: inputs}, "udf= and mode= (Feast's stream transformation) are not taken; give the "
                                     "function as transformation="),
    ({"mode": "spark"}, "udf= and mode="),
    ({"trigger_interval": timedelta(0)}, "trigger_interval must be a positive timedelta"),
    ({"trigger_interval": 5}, "trigger_interval must be a positive timedelta"),
    ({"timestamp_field": "ts"}, "timestamp_field 'ts' differs from its source's 'event_timestamp'"),
])
def test_what_a_stream_view_refuses_is_named_with_the_way_around(arguments, message):
    with pytest.raises(DefinitionError, match=f"^StreamFeatureView .live.: {re.escape(message)}"):
        stream_view(**arguments)


# --- KafkaSource (the stream job over a real broker: tests/spark/test_stream_kafka.py) ---------

def kafka_source(**arguments) -> KafkaSource:
    return KafkaSource(**{"name": "events_stream", "bootstrap_servers": "127.0.0.1:9092", "topic": "events",
                          "timestamp_field": "event_timestamp", "batch_source": SOURCE,
                          "message_format": JsonFormat("driver_id long, rate double, event_timestamp timestamp"),
                          **arguments})


def test_a_kafka_source_stands_for_its_batch_source_offline_and_the_registry_keeps_it():
    avro = AvroFormat('{"type": "record", "name": "e", "fields": [{"name": "driver_id", "type": "long"}, '
                      '{"name": "rate", "type": "double"}, {"name": "event_timestamp", "type": "long"}]}')
    for message_format in (JsonFormat("driver_id long, rate double, event_timestamp timestamp"), avro):
        kafka = kafka_source(message_format=message_format, watermark_delay_threshold=timedelta(minutes=5),
                             kafka_bootstrap_servers=None, owner="ml@example.com")
        view = stream_view(source=kafka)
        assert view.source == SOURCE and view.stream_source is kafka  # training sets read the batch source
        again = FeatureView.from_proto(view.to_proto())
        assert again == view and again.stream_source == kafka and again.source == SOURCE
        assert again.stream_source.message_format == message_format
        assert again.stream_source.watermark_delay_threshold == timedelta(minutes=5)
    assert kafka_source(bootstrap_servers=None, kafka_bootstrap_servers="h:1").bootstrap_servers == "h:1"  # Feast's


def test_a_ddl_schema_names_its_top_level_columns():
    assert ddl_column_names("driver_id long, `odd name` string, loc struct<lat: double, lon: double>, "
                            "amount decimal(10, 2), tags map<string,int>, at: timestamp") == \
        ["driver_id", "odd name", "loc", "amount", "tags", "at"]


@pytest.mark.parametrize("arguments, message", [
    ({"batch_source": None}, "KafkaSource 'events_stream': batch_source= is required, a SparkSource or FileSource "
                             "over a Delta table or Delta path"),
    ({"bootstrap_servers": ""}, "bootstrap_servers= is required, such as '127.0.0.1:9092'"),
    ({"message_format": "json"}, "message_format must be JsonFormat(schema_json=...) or AvroFormat(schema_json=...)"),
    ({"timestamp_field": "ts"}, "timestamp_field 'ts' differs from its batch source's 'event_timestamp'; messages "
                                "are appended to the batch source"),
    ({"message_format": JsonFormat("driver_id long, rate double")},
     "its message schema lacks the timestamp column 'event_timestamp'; its columns are driver_id, rate"),
    ({"field_mapping": {"r": "rate"}}, "field_mapping differs from its batch source's"),
    ({"watermark_delay_threshold": 5}, "watermark_delay_threshold must be a timedelta of zero or more, got 5"),
])
def test_what_a_kafka_source_refuses_is_named_with_the_way_around(arguments, message):
    with pytest.raises(DefinitionError, match=re.escape(message)):
        kafka_source(**arguments)


@pytest.mark.parametrize("schema_json, message", [
    ("{not json", "AvroFormat: schema_json is not JSON"),
    ('{"type": "string"}', "AvroFormat: schema_json must be an Avro record schema with fields"),
])
def test_an_avro_format_needs_a_record_schema(schema_json, message):
    with pytest.raises(DefinitionError, match=re.escape(message)):
        AvroFormat(schema_json)
