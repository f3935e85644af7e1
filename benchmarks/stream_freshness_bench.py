"""Freshness of a StreamFeatureView: from an event committed to its Delta source until
get_online_features returns it.

A writer appends `events` events at `rate` events/s to a Delta path, in commits every
`commit_ms` milliseconds (delta-rs, the `deltalake` package, writes them: a commit from it
takes milliseconds where one from a Spark job takes most of a second, which would measure
the writer, not the stream). Event i is driver i with value i, so each event is seen
exactly when its value is served. `featurestore stream` (trigger 500 ms) runs in its own
process, writing SQLite; a poller reads the not-yet-seen drivers every 10 ms from the
online store and records when each first appears. Freshness is that moment minus the end
of the commit that carried the event.

    python -m benchmarks.stream_freshness_bench [--events 1000] [--rates 1000,10000]
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, Field, SparkSource, StreamFeatureView
from featurestore.types import Int64

driver = Entity(name="driver", join_keys=["driver_id"])
events = SparkSource(name="events", path="data/events", file_format="delta", timestamp_field="event_timestamp")
live = StreamFeatureView(name="live", entities=[driver], source=events, ttl=timedelta(days=1),
                         schema=[Field(name="driver_id", dtype=Int64), Field(name="value", dtype=Int64)],
                         trigger_interval=timedelta(milliseconds={trigger_ms}))
"""


def _batch(first: int, count: int):
    import pyarrow as pa

    now = datetime.now(UTC)
    ids = list(range(first, first + count))
    return pa.table({"driver_id": pa.array(ids, pa.int64()), "value": pa.array(ids, pa.int64()),
                     "event_timestamp": pa.array([now] * count, pa.timestamp("us", tz="UTC"))})


def run_one(events: int, rate: float, commit_ms: int = 100, trigger_ms: int = 500) -> dict:
    from deltalake import write_deltalake

    from featurestore.store import FeatureStore
    from featurestore.testing.repos import write_repo

    with tempfile.TemporaryDirectory(prefix="fs-freshness-") as tmp:
        repo = write_repo(Path(tmp) / "repo", DEFINITIONS.replace("{trigger_ms}", str(trigger_ms)),
                          project=f"fresh_{uuid.uuid4().hex[:6]}")
        path = str(repo / "data" / "events")
        write_deltalake(path, _batch(0, 1))  # driver 0: the table exists before apply and the stream
        store = FeatureStore(repo)
        store.apply(store.load_repo(), partial=False, validate=False)
        job = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "stream", "--view", "live", "--repo",
                                str(repo)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)
        try:
            for line in job.stdout:  # the stream has written its first batch
                if "micro-batch 0:" in line:
                    break
            batch_seconds = []

            def follow() -> None:
                for output in job.stdout:
                    if "micro-batch" in output and output.rstrip().endswith(" s"):
                        batch_seconds.append(float(output.rsplit(",", 1)[1].split()[0]))

            threading.Thread(target=follow, daemon=True).start()
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
                write_deltalake(path, _batch(sent + 1, count), mode="append")
                moment = time.perf_counter()
                for driver in range(sent + 1, sent + count + 1):
                    committed[driver] = moment
                sent += count
            write_seconds = time.perf_counter() - started
            finished = time.perf_counter()
            done.set()
            poller.join(timeout=90)
        finally:
            os.killpg(job.pid, signal.SIGTERM)
            try:
                job.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(job.pid, signal.SIGKILL)
                job.wait()
    latencies = sorted(seen[d] - committed[d] for d in seen)
    at = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1e3  # noqa: E731
    return {"events": events, "rate": rate, "achieved_rate": events / write_seconds, "seen": len(seen),
            "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": latencies[-1] * 1e3, "trigger_ms": trigger_ms,
            "commit_ms": commit_ms, "batches": len(batch_seconds),
            "batch_seconds": sum(batch_seconds) / max(1, len(batch_seconds))}


def format_table(results: list[dict]) -> str:
    lines = [f"{'events':>7} {'rate/s':>7} {'achieved':>9} {'seen':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
             f"{'batches':>8} {'s/batch':>8}"]
    for r in results:
        lines.append(f"{r['events']:>7} {r['rate']:>7.0f} {r['achieved_rate']:>9.0f} {r['seen']:>6} "
                     f"{r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f} {r['max_ms']:>8.0f} {r['batches']:>8} "
                     f"{r['batch_seconds']:>8.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rates", default="1000,10000")
    args = parser.parse_args()
    print(format_table([run_one(args.events, float(rate)) for rate in args.rates.split(",")]))


if __name__ == "__main__":
    main()
