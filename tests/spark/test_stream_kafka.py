"""StreamFeatureView over a KafkaSource, against a real broker (tests/kafka_server.py): JSON
and Avro messages decoded to the batch source's columns, appended offline once and written
online newest-wins; malformed messages counted, never written; a job killed with SIGKILL
after its offline append and restarted appends nothing twice and ends as an uninterrupted run."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from chispa import assert_df_equality

from featurestore.errors import FeatureStoreError
from featurestore.store import FeatureStore
from tests.kafka_server import produce
from tests.spark.test_stream import served_and_trained

DEFINITIONS = """
from datetime import timedelta
from featurestore import Aggregation, Entity, Field, KafkaSource, SparkSource, StreamFeatureView
from featurestore.data_format import AvroFormat, JsonFormat
from featurestore.types import Float64, Int64

driver = Entity(name="driver", join_keys=["driver_id"])
batch = SparkSource(name="events", {where}, timestamp_field="event_timestamp")
kafka = KafkaSource(name="events_stream", bootstrap_servers="{servers}", topic="{topic}",
                    timestamp_field="event_timestamp", batch_source=batch, message_format={message_format},
                    watermark_delay_threshold={watermark})
stream_stats = StreamFeatureView(name="stream_stats", entities=[driver], source=kafka, ttl=timedelta(days=1),
                                 schema=[Field(name="driver_id", dtype=Int64), {conv_rate}Field(name="trips", dtype=Int64)],
                                 trigger_interval=timedelta(milliseconds=500), aggregations={aggregations})
"""
AGGREGATIONS = ('[Aggregation(column="trips", function="sum", time_window=timedelta(hours=1)), '
                'Aggregation(function="count", time_window=timedelta(hours=1))]')
JSON_FORMAT = 'JsonFormat(schema_json="driver_id long, conv_rate double, trips long, event_timestamp timestamp")'
AVRO_SCHEMA = {"type": "record", "name": "driver_event", "fields": [
    {"name": "driver_id", "type": "long"}, {"name": "conv_rate", "type": ["null", "double"]},
    {"name": "trips", "type": ["null", "long"]},
    {"name": "event_timestamp", "type": {"type": "long", "logicalType": "timestamp-micros"}}]}
TABLE_SCHEMA = "driver_id bigint, conv_rate double, trips bigint, event_timestamp timestamp"
NOW = datetime.now(UTC).replace(microsecond=0)


def as_json(driver_id, conv_rate, trips, at: datetime) -> bytes:
    return json.dumps({"driver_id": driver_id, "conv_rate": conv_rate, "trips": trips,
                       "event_timestamp": at.isoformat()}).encode()


def as_avro(driver_id, conv_rate, trips, at: datetime) -> bytes:
    from fastavro import parse_schema, schemaless_writer

    out = io.BytesIO()
    schemaless_writer(out, parse_schema(AVRO_SCHEMA), {"driver_id": driver_id, "conv_rate": conv_rate,
                                                       "trips": trips, "event_timestamp": at})
    return out.getvalue()


def kafka_repo(spark, repo_factory, broker, online_config=None, message_format=JSON_FORMAT, path=False,
               aggregations=False, watermark="None"):
    """(store, the batch source read as a function, topic): a Delta table in the session's
    warehouse, or (path=True, for a stream job in another process) a Delta path in the repo."""
    suffix = uuid.uuid4().hex[:8]
    table, topic = f"kafka_events_{suffix}", f"events_{suffix}"
    where = 'path="data/events", file_format="delta"' if path else f'table="{table}"'
    definitions = DEFINITIONS.format(where=where, servers=broker.bootstrap, topic=topic, watermark=watermark,
                                     message_format=message_format, aggregations=AGGREGATIONS if aggregations else None,
                                     conv_rate="" if aggregations else 'Field(name="conv_rate", dtype=Float64), ')
    kwargs = {"online_store": online_config} if online_config else {}
    repo = repo_factory(definitions, project=f"k_{suffix}", **kwargs)
    empty = spark.createDataFrame([], TABLE_SCHEMA).write.format("delta")
    empty.save(str(repo / "data" / "events")) if path else empty.saveAsTable(table)
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    rows = (lambda: spark.read.format("delta").load(str(repo / "data" / "events"))) if path else \
        (lambda: spark.table(table))
    return store, rows, topic


def test_json_messages_are_appended_offline_and_served_newest_wins(spark, repo_factory, kafka_broker,
                                                                   online_config):
    store, rows, topic = kafka_repo(spark, repo_factory, kafka_broker, online_config)
    produce(kafka_broker, topic, [as_json(1, 0.5, 5, NOW - timedelta(hours=2)),
                                  as_json(2, 0.25, 2, NOW - timedelta(hours=2)),
                                  b"{not json",  # does not decode
                                  json.dumps({"conv_rate": 0.9, "event_timestamp": NOW.isoformat()}).encode()])
    lines = []
    first = store.stream("stream_stats", available_now=True, log=lines.append)
    assert (first["rows_selected"], first["rows_written"], first["malformed"]) == (2, 2, 2)
    assert any("2 of 4 messages dropped: they do not decode as JsonFormat" in line for line in lines), lines
    produce(kafka_broker, topic, [as_json(1, 0.75, 6, NOW - timedelta(hours=1)),  # newer: replaces
                                  as_json(2, 0.99, 9, NOW - timedelta(hours=3)),  # older than stored: kept offline only
                                  as_json(3, 0.1, None, NOW - timedelta(minutes=5))])
    second = store.stream("stream_stats", available_now=True, log=lines.append)
    assert (second["rows_selected"], second["rows_written"], second["malformed"]) == (3, 2, 0)
    expected = spark.createDataFrame([(1, 0.5, 5, NOW - timedelta(hours=2)), (2, 0.25, 2, NOW - timedelta(hours=2)),
                                      (1, 0.75, 6, NOW - timedelta(hours=1)), (2, 0.99, 9, NOW - timedelta(hours=3)),
                                      (3, 0.1, None, NOW - timedelta(minutes=5))], TABLE_SCHEMA)
    assert_df_equality(rows(), expected, ignore_row_order=True)
    online, offline = served_and_trained(spark, store, [1, 2, 3, 4])
    assert online == {1: (0.75, 6), 2: (0.25, 2), 3: (0.1, None), 4: (None, None)}
    assert online == offline


def test_avro_messages_decode_to_the_same_rows(spark, repo_factory, kafka_broker):
    store, rows, topic = kafka_repo(spark, repo_factory, kafka_broker,
                                    message_format=f"AvroFormat(schema_json={json.dumps(AVRO_SCHEMA)!r})")
    produce(kafka_broker, topic, [as_avro(7, 0.5, 3, NOW - timedelta(hours=1)), b"\x00\x01garbage",
                                  as_avro(8, None, 4, NOW - timedelta(minutes=30))])
    totals = store.stream("stream_stats", available_now=True, log=lambda _: None)
    assert (totals["rows_written"], totals["malformed"]) == (2, 1)
    expected = spark.createDataFrame([(7, 0.5, 3, NOW - timedelta(hours=1)),
                                      (8, None, 4, NOW - timedelta(minutes=30))], TABLE_SCHEMA)
    assert_df_equality(rows(), expected, ignore_row_order=True)
    online, offline = served_and_trained(spark, store, [7, 8])
    assert online == offline == {7: (0.5, 3), 8: (None, 4)}


def test_a_message_schema_without_a_feature_is_refused_before_the_stream_starts(spark, repo_factory, kafka_broker):
    store, _, _ = kafka_repo(spark, repo_factory, kafka_broker,
                             message_format='JsonFormat(schema_json="driver_id long, conv_rate double, '
                                            'event_timestamp timestamp")')
    with pytest.raises(FeatureStoreError, match="StreamFeatureView 'stream_stats': KafkaSource 'events_stream': its "
                                                "message schema lacks trips, which the view reads; its columns are "
                                                "driver_id, conv_rate, event_timestamp"):
        store.stream("stream_stats", available_now=True, log=lambda _: None)


def test_a_job_killed_after_its_offline_append_appends_nothing_twice(spark, repo_factory, kafka_broker):
    store, rows, topic = kafka_repo(spark, repo_factory, kafka_broker, path=True)
    produce(kafka_broker, topic, [as_json(d, d / 100, d, NOW - timedelta(hours=3)) for d in range(1, 101)])
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    job = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "stream", "--view", "stream_stats", "--repo",
                            str(store.repo_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=env, start_new_session=True)
    try:
        seen = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # batch 0 written; more messages; killed once batch 1 is offline
            line = job.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "micro-batch 0:" in line and "written" in line:
                produce(kafka_broker, topic, [as_json(d, d / 10, 10 * d, NOW - timedelta(hours=1))
                                              for d in range(1, 101, 2)])
            if "micro-batch 1:" in line and "appended to" in line:
                os.killpg(job.pid, signal.SIGKILL)
                break
        if not seen or "micro-batch 1:" not in seen[-1]:
            raise AssertionError("the stream job did not append its second micro-batch:\n" + "".join(seen[-30:]))
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
        job.wait()
    assert rows().count() == 150  # batch 1 is in the table: the kill came after its Delta commit,
    commits = store.repo_path / "data" / "checkpoints" / store.project / "stream_stats" / "commits"
    assert (commits / "0").is_file() and not (commits / "1").exists()  # and before Spark's: batch 1 is replayed
    produce(kafka_broker, topic, [as_json(d, -1.0, -1, NOW - timedelta(hours=5)) for d in range(1, 101, 3)])
    lines = []
    assert store.stream("stream_stats", available_now=True, log=lines.append)["batches"] >= 1
    assert "stream_stats: micro-batch 1: already in delta path data/events (a replay): not appended again" in lines
    assert rows().count() == 150 + 34  # the replayed batch 1 was not appended again
    online, offline = served_and_trained(spark, store, list(range(1, 102)))
    expected = {d: ((d / 10, 10 * d) if d % 2 else (d / 100, d)) for d in range(1, 101)} | {101: (None, None)}
    assert online == expected
    assert online == offline
