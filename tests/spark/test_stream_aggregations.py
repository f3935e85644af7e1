"""StreamFeatureView with windowed aggregations: after each micro-batch, the entities it
touched hold their windows as of the batch's time, equal to the plain-Python reference and to
get_historical_features at that time, on SQLite and Redis; an entity the batch did not touch
keeps its last written windows; late events (beyond a Kafka source's watermark) are counted
and reported, and kept as training sets read them."""
from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

from featurestore import Aggregation, streaming
from featurestore.store import FeatureStore
from tests.kafka_server import produce
from tests.reference_aggregate import reference_aggregate
from tests.spark.test_stream_kafka import as_json, kafka_repo

DEFINITIONS = """
from datetime import timedelta
from featurestore import Aggregation, Entity, Field, SparkSource, StreamFeatureView
from featurestore.types import Float64, Int64

driver = Entity(name="driver", join_keys=["driver_id"])
source = SparkSource(name="trips", path="data/trips", file_format="delta", timestamp_field="event_timestamp")
driver_trips = StreamFeatureView(
    name="driver_trips", entities=[driver], source=source, ttl=timedelta(days=7),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="fare", dtype=Float64)],
    aggregations=[Aggregation(function="count", time_window=timedelta(hours=1)),
                  Aggregation(column="fare", function="sum", time_window=timedelta(hours=6)),
                  Aggregation(column="fare", function="max", time_window=timedelta(days=1)),
                  Aggregation(column="fare", function="mean", time_window=timedelta(days=1))],
    trigger_interval=timedelta(milliseconds=500))
"""
AGGREGATIONS = [Aggregation(function="count", time_window=timedelta(hours=1)),
                Aggregation(column="fare", function="sum", time_window=timedelta(hours=6)),
                Aggregation(column="fare", function="max", time_window=timedelta(days=1)),
                Aggregation(column="fare", function="mean", time_window=timedelta(days=1))]
FEATURES = [f"driver_trips:{a.name}" for a in AGGREGATIONS]
SCHEMA = "driver_id bigint, fare double, event_timestamp timestamp"


def append(spark, path, events):
    spark.createDataFrame([(e["driver_id"], e["fare"], e["event_ts"]) for e in events], SCHEMA) \
        .write.format("delta").mode("append").save(str(path))


def served(store, drivers):
    """{driver: (the values, the time they are as of)} of the drivers stored online."""
    response = store.get_online_features(FEATURES, [{"driver_id": d} for d in drivers])
    values, micros = response.to_dict(), response.event_micros()
    name = AGGREGATIONS[0].name
    return {d: (tuple(values[a.name][i] for a in AGGREGATIONS),
                datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros[name][i]))
            for i, d in enumerate(drivers) if micros[name][i] is not None}


def expected_at(events, driver, at):
    [row] = reference_aggregate([{"driver_id": driver, "ts": at}], ["driver_id"], events, AGGREGATIONS)
    return tuple(row[a.name] for a in AGGREGATIONS)


def same(actual, expected):
    return all((a is None and e is None) or (a is not None and e is not None and math.isclose(a, e, rel_tol=1e-9))
               for a, e in zip(actual, expected))


def trained(spark, store, rows):
    """get_historical_features at (driver, at) for each row, by driver."""
    entity = spark.createDataFrame(rows, "driver_id bigint, event_timestamp timestamp")
    return {r.driver_id: tuple(r[a.name] for a in AGGREGATIONS)
            for r in store.get_historical_features(entity, FEATURES).to_spark_df().collect()}


def stream_repo(spark, repo_factory, online_config=None):
    kwargs = {"online_store": online_config} if online_config else {}
    repo = repo_factory(DEFINITIONS, project=f"a_{uuid.uuid4().hex[:6]}", **kwargs)
    return FeatureStore(repo), repo / "data" / "trips"


def test_each_micro_batch_serves_the_windows_training_reads_for_the_entities_it_touched(spark, repo_factory,
                                                                                        online_config):
    now = datetime.now(UTC).replace(microsecond=0)
    store, path = stream_repo(spark, repo_factory, online_config)
    first = [{"driver_id": 1, "fare": 10.0, "event_ts": now - timedelta(minutes=30)},
             {"driver_id": 1, "fare": 4.0, "event_ts": now - timedelta(hours=3)},
             {"driver_id": 1, "fare": 7.0, "event_ts": now - timedelta(days=2)},  # outside every window
             {"driver_id": 2, "fare": None, "event_ts": now - timedelta(minutes=5)}]
    append(spark, path, first)
    store.apply(store.load_repo(), partial=False)
    store.stream("driver_trips", available_now=True, log=lambda _: None)
    after_first = served(store, [1, 2, 3])
    assert sorted(after_first) == [1, 2]
    at = after_first[1][1]
    assert after_first[2][1] == at and now <= at <= datetime.now(UTC)  # one time for the batch: when it ran
    assert after_first[1][0] == expected_at(first, 1, at) == (1, 14.0, 10.0, 7.0)
    assert after_first[2][0] == expected_at(first, 2, at) == (1, None, None, None)
    assert trained(spark, store, [(1, at), (2, at)]) == {1: after_first[1][0], 2: after_first[2][0]}

    second = [{"driver_id": 2, "fare": 3.0, "event_ts": now - timedelta(hours=2)},  # late, still inside 6 h
              {"driver_id": 3, "fare": 8.0, "event_ts": now}]
    append(spark, path, second)
    store.stream("driver_trips", available_now=True, log=lambda _: None)
    after_second = served(store, [1, 2, 3])
    later = after_second[2][1]
    assert later > at and after_second[3][1] == later
    assert after_second[1] == after_first[1]  # untouched: its windows as of the first batch
    events = first + second
    assert after_second[2][0] == expected_at(events, 2, later) == (1, 3.0, 3.0, 3.0)
    assert after_second[3][0] == expected_at(events, 3, later) == (1, 8.0, 8.0, 8.0)
    assert trained(spark, store, [(2, later), (3, later)]) == {2: after_second[2][0], 3: after_second[3][0]}


def test_random_micro_batches_agree_with_the_reference_and_with_training(spark, repo_factory):
    store, path = stream_repo(spark, repo_factory)
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(7)
    events = []
    for batch in range(3):
        new = [{"driver_id": rng.randint(1, 8), "fare": rng.choice([None, round(rng.uniform(0, 50), 2)]),
                "event_ts": now - timedelta(minutes=rng.randint(0, 2 * 24 * 60))} for _ in range(rng.randint(5, 40))]
        events += new
        append(spark, path, new)
        if batch == 0:
            store.apply(store.load_repo(), partial=False)
        store.stream("driver_trips", available_now=True, log=lambda _: None)
        stored = served(store, list(range(1, 9)))
        touched = {e["driver_id"] for e in new}
        at = max(stored[d][1] for d in touched)
        assert {stored[d][1] for d in touched} == {at}, batch
        for driver in touched:
            assert same(stored[driver][0], expected_at(events, driver, at)), (batch, driver)
        offline = trained(spark, store, [(d, at) for d in sorted(touched)])
        for driver in touched:
            assert same(offline[driver], stored[driver][0]), (batch, driver)


def test_events_beyond_a_kafka_watermark_are_counted_reported_and_kept(spark, repo_factory, kafka_broker,
                                                                       monkeypatch):
    store, rows, topic = kafka_repo(spark, repo_factory, kafka_broker, aggregations=True,
                                    watermark="timedelta(minutes=5)")
    monkeypatch.setattr(streaming, "BATCH_MESSAGES", 2)  # two messages a micro-batch: the groups below
    now = datetime.now(UTC).replace(microsecond=0)
    produce(kafka_broker, topic, [as_json(1, 0.5, 1, now - timedelta(minutes=10)), as_json(2, 0.2, 4, now),
                                  as_json(1, 0.7, 2, now - timedelta(minutes=20)),  # beyond now - 5 min: late
                                  as_json(2, 0.1, 3, now - timedelta(minutes=2))])  # within the watermark
    lines = []
    totals = store.stream("stream_stats", available_now=True, log=lines.append)
    assert (totals["batches"], totals["late"]) == (2, 1)
    assert any(line.startswith("stream_stats: micro-batch 1: 1 events older than the watermark "
                               f"{(now - timedelta(minutes=5)).isoformat()} (the newest event seen, less "
                               "watermark_delay_threshold 0:05:00); kept, as training sets read them")
               for line in lines), lines
    assert rows().count() == 4  # the late event is in the batch table, as training reads it
    response = store.get_online_features(["stream_stats:trips_sum_1h", "stream_stats:events_count_1h"],
                                         [{"driver_id": 1}, {"driver_id": 2}])
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=response.event_micros()["trips_sum_1h"][0])
    assert response.to_dict()["trips_sum_1h"] == [3, 7] and response.to_dict()["events_count_1h"] == [2, 2]
    entity = spark.createDataFrame([(1, at), (2, at)], "driver_id bigint, event_timestamp timestamp")
    offline = store.get_historical_features(entity, ["stream_stats:trips_sum_1h", "stream_stats:events_count_1h"])
    assert sorted((r.driver_id, r.trips_sum_1h, r.events_count_1h) for r in offline.to_spark_df().collect()) == \
        [(1, 3, 2), (2, 7, 2)]
