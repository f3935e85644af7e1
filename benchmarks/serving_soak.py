"""Soak of the feature server: a fixed request rate for minutes while materialization rewrites every entity.

A feature repo with one Delta source of `entities` drivers and one view of three Int64
features a, b, c. Generation g of the source holds, for driver d, a = g * 1,000,000 + d,
b = 2a and c = 3a, at event time T0 + g seconds. The main process (Spark, local[2]) keeps
overwriting the source with the next generation and materializing it: every entity is
rewritten online, again and again. Meanwhile `featurestore serve --workers W` answers a
load process: an open-loop Python generator (4 threads with keep-alive connections, each
sending on a fixed schedule, so a slow answer delays no later request's send time; latency
is counted from when a request was due), 5 random drivers x 3 features a request.

Every answer is checked: HTTP 200, every status PRESENT, and no torn value: a row's a, b
and c come from one write (b = 2a, c = 3a, a's driver is the row's). The server's memory
(the RSS of its processes, summed) is taken after the warm-up and at the end. It passes
with zero errors, zero torn rows and memory growth within 10 %; the exit status says so.

    python -m benchmarks.serving_soak [--minutes 10] [--rate 200] [--entities 10000] [--store sqlite|redis]
                                      [--workers 2]
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

SPAWN = multiprocessing.get_context("spawn")
GENERATION = 1_000_000
THREADS = 4
ROWS = 5

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.types import Int64

driver = Entity(name="driver", join_keys=["driver_id"])
source = SparkSource(name="soak_source", path="data/soak_source", file_format="delta",
                     timestamp_field="event_timestamp")
soak = FeatureView(name="soak", entities=[driver], source=source, ttl=timedelta(days=30),
                   schema=[Field(name="driver_id", dtype=Int64), Field(name="a", dtype=Int64),
                           Field(name="b", dtype=Int64), Field(name="c", dtype=Int64)])
"""


def write_generation(spark, repo: Path, entities: int, generation: int, t0: datetime) -> None:
    from pyspark.sql import functions as F

    a = F.lit(generation * GENERATION) + F.col("id")
    (spark.range(1, entities + 1)
     .select(F.col("id").alias("driver_id"), F.lit(t0 + timedelta(seconds=generation)).alias("event_timestamp"),
             a.alias("a"), (a * 2).alias("b"), (a * 3).alias("c"))
     .write.format("delta").mode("overwrite").save(str(repo / "data" / "soak_source")))


def check(answer: dict, drivers: list[int]) -> tuple[int, int]:
    """(torn rows, the newest generation seen) of one answer."""
    columns = dict(zip(answer["metadata"]["feature_names"], answer["results"]))
    for name in ("a", "b", "c"):
        if columns[name]["statuses"] != ["PRESENT"] * len(drivers):
            raise ValueError(f"{name} statuses {columns[name]['statuses']}")
    torn, newest = 0, 0
    for driver, a, b, c in zip(drivers, columns["a"]["values"], columns["b"]["values"], columns["c"]["values"]):
        if a % GENERATION != driver or b != 2 * a or c != 3 * a:
            torn += 1
        newest = max(newest, a // GENERATION)
    return torn, newest


def load(port: int, rate: float, seconds: float, entities: int, results) -> None:
    """The open-loop generator (its own process): THREADS keep-alive connections on fixed schedules."""
    features = [f"soak:{name}" for name in ("a", "b", "c")]
    started = time.perf_counter() + 0.5
    interval = THREADS / rate
    lock = threading.Lock()
    totals = {"requests": 0, "errors": 0, "torn": 0, "newest": 0, "latencies": [], "first_error": ""}

    def run(thread: int) -> None:
        rng = random.Random(thread)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies, errors, torn, newest, first_error = [], 0, 0, 0, ""
        due = started + thread * interval / THREADS
        while due < started + seconds:
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            drivers = [rng.randint(1, entities) for _ in range(ROWS)]
            try:
                connection.request("POST", "/get-online-features", body=json.dumps(
                    {"entities": {"driver_id": drivers}, "features": features}).encode(),
                    headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
                if response.status != 200:
                    raise ValueError(f"HTTP {response.status}: {payload[:200]!r}")
                row_torn, row_newest = check(json.loads(payload), drivers)
                torn, newest = torn + row_torn, max(newest, row_newest)
            except (OSError, ValueError, http.client.HTTPException) as error:
                errors += 1
                first_error = first_error or f"{type(error).__name__}: {error}"
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            latencies.append(time.perf_counter() - due)  # from when it was due: no coordinated omission
            due += interval
        connection.close()
        with lock:
            totals["requests"] += len(latencies)
            totals["errors"] += errors
            totals["torn"] += torn
            totals["newest"] = max(totals["newest"], newest)
            totals["latencies"] += latencies
            totals["first_error"] = totals["first_error"] or first_error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(totals)


def rss_bytes(pid: int) -> int:
    """The resident memory of a process and its children (a server's workers), summed."""
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def run(minutes: float = 10, rate: float = 200, entities: int = 10_000, store: str = "sqlite",
        workers: int = 2) -> dict:
    from featurestore.runtime.processes import free_port
    from featurestore.store import FeatureStore
    from featurestore.testing.redis import start_redis_server
    from featurestore.testing.repos import offline_store, redis_online_store, write_repo

    seconds = minutes * 60
    warm_up = min(60.0, seconds / 4)
    with tempfile.TemporaryDirectory(prefix="fs-soak-") as tmp:
        folder = Path(tmp)
        redis = start_redis_server(folder / "redis") if store == "redis" else None
        server = None
        try:
            online = redis_online_store(redis.host, redis.port) if redis else ""
            repo = write_repo(folder / "repo", DEFINITIONS, project="soak", online_store=online,
                              offline=offline_store(metastore="embedded"))
            feature_store = FeatureStore(repo)
            spark = feature_store.spark
            t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
            write_generation(spark, repo, entities, 0, t0)
            feature_store.apply(None, partial=False, validate=False)
            feature_store.materialize(t0 - timedelta(days=1), t0 + timedelta(seconds=1), log=lambda line: None)
            port = free_port()
            server = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "serve", "--repo", str(repo),
                                       "--port", str(port), "--workers", str(workers)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if " at http://" not in server.stdout.readline():
                raise RuntimeError(f"the server did not start: {server.stderr.read()}")
            results = SPAWN.Queue()
            loader = SPAWN.Process(target=load, args=(port, rate, seconds, entities, results))
            started = time.monotonic()
            loader.start()
            generation, rewrite_seconds, memory = 0, [], {}
            while time.monotonic() - started < seconds:
                if "start" not in memory and time.monotonic() - started >= warm_up:
                    memory["start"] = rss_bytes(server.pid)
                generation += 1
                began = time.monotonic()
                write_generation(spark, repo, entities, generation, t0)
                feature_store.materialize(t0 - timedelta(days=1), t0 + timedelta(seconds=generation + 1),
                                          log=lambda line: None)
                rewrite_seconds.append(time.monotonic() - began)
            totals = results.get(timeout=seconds + 120)
            loader.join()
            memory.setdefault("start", rss_bytes(server.pid))
            memory["end"] = rss_bytes(server.pid)
        finally:
            if server is not None:
                server.terminate()
                server.communicate(timeout=60)
            if redis is not None:
                redis.stop()
    latencies = sorted(totals.pop("latencies"))
    at = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1e3  # noqa: E731
    return {"store": store, "workers": workers, "seconds": seconds, "rate": rate, **totals,
            "per_second": len(latencies) / seconds, "p50_ms": at(0.5), "p99_ms": at(0.99), "p999_ms": at(0.999),
            "max_ms": latencies[-1] * 1e3, "rewrites": generation, "entities": entities,
            "rewrite_seconds": sum(rewrite_seconds) / max(1, len(rewrite_seconds)),
            "rss_start_mb": memory["start"] / 2**20, "rss_end_mb": memory["end"] / 2**20}


def passed(result: dict) -> bool:
    return result["errors"] == 0 and result["torn"] == 0 and result["rss_end_mb"] <= 1.10 * result["rss_start_mb"]


def format_result(r: dict) -> str:
    growth = (r["rss_end_mb"] / r["rss_start_mb"] - 1) * 100
    return "\n".join([
        f"{r['store']}, {r['workers']} workers, {r['seconds'] / 60:g} min at {r['rate']:g} requests/s "
        f"({ROWS} drivers x 3 features each), load from an open-loop Python generator ({THREADS} keep-alive "
        f"connections)",
        f"  requests {r['requests']:,} ({r['per_second']:.0f}/s), errors {r['errors']}, torn rows {r['torn']}"
        + (f" (first error: {r['first_error']})" if r["first_error"] else ""),
        f"  latency from when due: p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, p999 {r['p999_ms']:.2f} ms, "
        f"max {r['max_ms']:.1f} ms",
        f"  materialization rewrote all {r['entities']:,} entities {r['rewrites']} times "
        f"({r['rewrite_seconds']:.1f} s each); the newest generation served: {r['newest']}",
        f"  server memory (RSS of its processes): {r['rss_start_mb']:.1f} MiB after warm-up, "
        f"{r['rss_end_mb']:.1f} MiB at the end ({growth:+.1f} %)",
        f"  {'PASSED' if passed(r) else 'FAILED'}: zero errors, zero torn rows, memory growth within 10 %"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=200, help="requests per second")
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--store", choices=("sqlite", "redis"), default="sqlite")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    result = run(args.minutes, args.rate, args.entities, args.store, args.workers)
    print(format_result(result))
    return 0 if passed(result) else 1


if __name__ == "__main__":
    sys.exit(main())
