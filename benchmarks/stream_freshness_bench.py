"""Freshness of a StreamFeatureView: from an event committed to its source until
get_online_features returns it, for a Delta source and a Kafka source.

A writer sends `events` events at `rate` events/s, in groups every `commit_ms` milliseconds:
- delta: each group is one commit to a Delta path, written by delta-rs (the `deltalake`
  package: a commit from it takes milliseconds where one from a Spark job takes most of a
  second, which would measure the writer, not the stream);
- kafka: each group is produced as JSON messages to a topic of a local KRaft broker
  (featurestore.runtime.kafka) and flushed: the group counts as committed when the broker
  has acknowledged it. The stream also appends every message to the batch Delta path.
Event i is driver i with value i, so each event is seen exactly when its value is served.
`featurestore stream` (trigger 500 ms) runs in its own process, writing SQLite; a poller
reads the not-yet-seen drivers every 10 ms from the online store and records when each
first appears. Freshness is that moment minus the moment the group was committed.

    python -m benchmarks.stream_freshness_bench [--events 1000] [--rates 1000,10000] [--sources delta,kafka]
"""
from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.stream_job import stream_job

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, Field, KafkaSource, SparkSource, StreamFeatureView
from featurestore.data_format import JsonFormat
from featurestore.types import Int64

driver = Entity(name="driver", join_keys=["driver_id"])
events = SparkSource(name="events", path="data/events", file_format="delta", timestamp_field="event_timestamp")
kafka = KafkaSource(name="events_stream", bootstrap_servers="{servers}", topic="events", batch_source=events,
                    timestamp_field="event_timestamp",
                    message_format=JsonFormat("driver_id long, value long, event_timestamp timestamp"))
live = StreamFeatureView(name="live", entities=[driver], source={source}, ttl=timedelta(days=1),
                         schema=[Field(name="driver_id", dtype=Int64), Field(name="value", dtype=Int64)],
                         trigger_interval=timedelta(milliseconds={trigger_ms}))
"""


def _batch(first: int, count: int):
    import pyarrow as pa

    now = datetime.now(UTC)
    ids = list(range(first, first + count))
    return pa.table({"driver_id": pa.array(ids, pa.int64()), "value": pa.array(ids, pa.int64()),
                     "event_timestamp": pa.array([now] * count, pa.timestamp("us", tz="UTC"))})


class KafkaFeed:
    """Sends groups of events to a topic as JSON and waits until the broker has them."""

    def __init__(self, broker):
        from confluent_kafka import Producer

        self.producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 1})

    def send(self, first: int, count: int) -> None:
        import json

        at = datetime.now(UTC).isoformat()
        for driver in range(first, first + count):
            self.producer.produce("events", value=json.dumps({"driver_id": driver, "value": driver,
                                                              "event_timestamp": at}).encode())
        self.producer.flush(30)


def run_one(events: int, rate: float, source: str = "delta", commit_ms: int = 100, trigger_ms: int = 500,
            checkpoint_interval: int | None = None) -> dict:
    """checkpoint_interval: the Delta table's delta.checkpointInterval (Delta's default: 10)."""
    from deltalake import write_deltalake

    from featurestore.runtime.kafka import start_kafka
    from featurestore.store import FeatureStore
    from featurestore.testing.repos import write_repo

    with tempfile.TemporaryDirectory(prefix="fs-freshness-") as tmp:
        broker = start_kafka(Path(tmp) / "kafka") if source == "kafka" else None
        definitions = DEFINITIONS.replace("{trigger_ms}", str(trigger_ms)).replace(
            "{source}", "kafka" if broker else "events").replace("{servers}", broker.bootstrap if broker else "-")
        repo = write_repo(Path(tmp) / "repo", definitions, project=f"fresh_{uuid.uuid4().hex[:6]}")
        path = str(repo / "data" / "events")
        configuration = {"delta.checkpointInterval": str(checkpoint_interval)} if checkpoint_interval else None
        write_deltalake(path, _batch(0, 1), configuration=configuration)  # driver 0: before apply and the stream
        if broker:
            feed = KafkaFeed(broker)
            feed.send(0, 1)
            send = feed.send
        else:
            def send(first: int, count: int) -> None:
                write_deltalake(path, _batch(first, count), mode="append")
        store = FeatureStore(repo)
        store.apply(store.load_repo(), partial=False, validate=False)
        try:
            with stream_job(repo, "live") as batch_seconds:
                committed: dict[int, float] = {}
                seen: dict[int, float] = {}
                done = threading.Event()

                def poll() -> None:
                    online = store.online_store
                    from featurestore.online.read import get_online_features

                    registry = store.registry
                    while not done.is_set() or len(seen) < len(committed):
                        pending = [d for d in committed if d not in seen][:500]
                        if pending:
                            values = get_online_features(registry, online, store.project, ["live:value"],
                                                         [{"driver_id": d} for d in pending]).to_dict()["value"]
                            moment = time.perf_counter()
                            for driver, value in zip(pending, values):
                                if value == driver:
                                    seen[driver] = moment
                        if done.is_set() and time.perf_counter() - finished > 60:
                            break
                        time.sleep(0.01)

                finished = float("inf")
                poller = threading.Thread(target=poll, daemon=True)
                poller.start()
                per_commit = max(1, round(rate * commit_ms / 1000))
                started = time.perf_counter()
                sent = 0
                while sent < events:
                    due = started + sent / rate
                    pause = due - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                    count = min(per_commit, events - sent)
                    send(sent + 1, count)
                    moment = time.perf_counter()
                    for driver in range(sent + 1, sent + count + 1):
                        committed[driver] = moment
                    sent += count
                write_seconds = time.perf_counter() - started
                finished = time.perf_counter()
                done.set()
                poller.join(timeout=90)
        finally:
            if broker:
                broker.stop()
    latencies = sorted(seen[d] - committed[d] for d in seen)
    at = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1e3  # noqa: E731
    return {"source": source, "checkpoint_interval": checkpoint_interval or 10, "events": events, "rate": rate,
            "achieved_rate": events / write_seconds, "seen": len(seen),
            "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": latencies[-1] * 1e3, "trigger_ms": trigger_ms,
            "commit_ms": commit_ms, "batches": len(batch_seconds),
            "batch_seconds": sum(batch_seconds) / max(1, len(batch_seconds))}


def format_table(results: list[dict]) -> str:
    lines = [f"{'source':<6} {'ckpt':>5} {'events':>7} {'rate/s':>7} {'achieved':>9} {'seen':>6} {'p50 ms':>8} "
             f"{'p99 ms':>8} {'max ms':>8} {'batches':>8} {'s/batch':>8}"]
    for r in results:
        lines.append(f"{r['source']:<6} {r['checkpoint_interval']:>5} {r['events']:>7} {r['rate']:>7.0f} "
                     f"{r['achieved_rate']:>9.0f} {r['seen']:>6} {r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f} "
                     f"{r['max_ms']:>8.0f} {r['batches']:>8} {r['batch_seconds']:>8.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rates", default="1000,10000")
    parser.add_argument("--sources", default="delta,kafka")
    parser.add_argument("--checkpoint-intervals", default="10",
                        help="the Delta table's delta.checkpointInterval, comma-separated (10 is Delta's default)")
    args = parser.parse_args()
    print(format_table([run_one(args.events, float(rate), source, checkpoint_interval=int(interval))
                        for source in args.sources.split(",") for interval in args.checkpoint_intervals.split(",")
                        for rate in args.rates.split(",")]))


if __name__ == "__main__":
    main()
