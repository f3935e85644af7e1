"""Throughput of a StreamFeatureView with 3 windowed aggregations: the event rate it sustains
without a growing lag.

The Delta source first holds a day of history (`history` events of `drivers` drivers). Then a
writer (delta-rs, as in stream_freshness_bench) appends events at `rate` events/s for
`seconds` seconds, in commits every 100 ms, while `featurestore stream` (trigger 500 ms,
SQLite) recomputes, every micro-batch, the windows (count 1 h, sum of fare 1 h, mean of fare
1 day) of the drivers the batch touched. The last commit carries a driver of its own;
catch-up is the time from that commit until the driver is served. A rate is sustained when
the stream processes events at least as fast as they come (events per batch / seconds per
batch >= the rate) and catch-up stays within two micro-batches: the lag does not grow with
every second of input.

    python -m benchmarks.stream_throughput_bench [--rates 1000,5000,20000] [--seconds 20]
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.stream_job import stream_job

DEFINITIONS = """
from datetime import timedelta
from featurestore import Aggregation, Entity, Field, SparkSource, StreamFeatureView
from featurestore.types import Float64, Int64

driver = Entity(name="driver", join_keys=["driver_id"])
trips = SparkSource(name="trips", path="data/trips", file_format="delta", timestamp_field="event_timestamp")
driver_trips = StreamFeatureView(
    name="driver_trips", entities=[driver], source=trips, ttl=timedelta(days=7),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="fare", dtype=Float64)],
    aggregations=[Aggregation(function="count", time_window=timedelta(hours=1)),
                  Aggregation(column="fare", function="sum", time_window=timedelta(hours=1)),
                  Aggregation(column="fare", function="mean", time_window=timedelta(days=1))],
    trigger_interval=timedelta(milliseconds=500))
"""
LAST_DRIVER = 10_000_000


def _events(drivers: list[int], times: list[datetime], rng: random.Random):
    import pyarrow as pa

    return pa.table({"driver_id": pa.array(drivers, pa.int64()),
                     "fare": pa.array([round(rng.uniform(3, 60), 2) for _ in drivers], pa.float64()),
                     "event_timestamp": pa.array(times, pa.timestamp("us", tz="UTC"))})


def run_one(rate: float, seconds: float = 20, drivers: int = 10_000, history: int = 200_000) -> dict:
    from deltalake import write_deltalake

    from featurestore.online.read import get_online_features
    from featurestore.store import FeatureStore
    from featurestore.testing.repos import write_repo

    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="fs-stream-throughput-") as tmp:
        repo = write_repo(Path(tmp) / "repo", DEFINITIONS, project=f"thr_{uuid.uuid4().hex[:6]}")
        path = str(repo / "data" / "trips")
        now = datetime.now(UTC)
        past = sorted(now - timedelta(seconds=rng.uniform(0, 86_400)) for _ in range(history))
        write_deltalake(path, _events([rng.randint(1, drivers) for _ in past], past, rng))  # time-ordered
        store = FeatureStore(repo)
        store.apply(store.load_repo(), partial=False, validate=False)
        with stream_job(repo, "driver_trips") as batch_seconds:
            per_commit = max(1, round(rate / 10))
            started = time.perf_counter()
            sent = 0
            while sent < rate * seconds:
                pause = started + sent / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                at = datetime.now(UTC)
                write_deltalake(path, _events([rng.randint(1, drivers) for _ in range(per_commit)], [at] * per_commit,
                                              rng), mode="append")
                sent += per_commit
            write_seconds = time.perf_counter() - started
            write_deltalake(path, _events([LAST_DRIVER], [datetime.now(UTC)], rng), mode="append")
            last_commit = time.perf_counter()
            registry, online = store.registry, store.online_store
            caught_up = None
            while time.perf_counter() - last_commit < 120:
                count = get_online_features(registry, online, store.project, ["driver_trips:events_count_1h"],
                                            [{"driver_id": LAST_DRIVER}]).to_dict()["events_count_1h"][0]
                if count:
                    caught_up = time.perf_counter() - last_commit
                    break
                time.sleep(0.02)
    return {"rate": rate, "achieved": sent / write_seconds, "seconds": seconds, "history": history,
            "batches": len(batch_seconds), "batch_seconds": sum(batch_seconds) / max(1, len(batch_seconds)),
            "events_per_batch": sent / max(1, len(batch_seconds)), "catch_up": caught_up,
            "processed": sent / max(1e-9, sum(batch_seconds)),
            "sustained": caught_up is not None and sent / max(1e-9, sum(batch_seconds)) >= 0.98 * rate
            and caught_up <= 2 * sum(batch_seconds) / max(1, len(batch_seconds)) + 0.5}


def format_table(results: list[dict]) -> str:
    lines = [f"{'rate/s':>7} {'achieved':>9} {'history':>8} {'batches':>8} {'s/batch':>8} {'events/batch':>13} "
             f"{'processed/s':>12} {'catch-up s':>11} {'sustained':>10}"]
    for r in results:
        catch_up = f"{r['catch_up']:.2f}" if r["catch_up"] is not None else "> 120"
        lines.append(f"{r['rate']:>7.0f} {r['achieved']:>9.0f} {r['history']:>8} {r['batches']:>8} "
                     f"{r['batch_seconds']:>8.2f} {r['events_per_batch']:>13.0f} {r['processed']:>12.0f} {catch_up:>11} "
                     f"{'yes' if r['sustained'] else 'no':>10}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="1000,5000,20000")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    print(format_table([run_one(float(rate), args.seconds) for rate in args.rates.split(",")]))


if __name__ == "__main__":
    main()
