"""Online load test: model-server clients reading while materialization writes, per store.

For SQLite and Redis: `entities` entities x 10 Float64 features are materialized, then
`clients` processes each make `calls` FeatureStore.get_online_features calls (1 entity x
10 features, random keys) while a writer process keeps writing newer rows for all
entities (online_write_flat in a loop, as a materialization job writes). It
reports, per store, the calls made, the errors (a raised error or a feature not
PRESENT; there must be none), throughput across clients, and p50/p99 latency of a call.

    python -m benchmarks.load_bench [--calls N] [--clients N] [--entities N] [--stores sqlite,redis]

Redis runs in its own redis-server, started and stopped here. Clients are separate
processes (spawned), as model-server workers would be; on a small machine they share its
cores with the writer and Redis, which the throughput reflects.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import random
import sys
import tempfile
import time
import traceback
from datetime import timedelta
from pathlib import Path

from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.online.codec import entity_key_serializer, value_encoder
from featurestore.registry import RegistryFile, RegistryState
from featurestore.store import FeatureStore
from featurestore.types import Float64, Int64

SPAWN = multiprocessing.get_context("spawn")
PROJECT = "load"
FEATURES = [f"f{i}" for i in range(10)]
DRIVER = Entity(name="driver", join_keys=["driver_id"])
SOURCE = SparkSource(name="load_source", table="default.load", timestamp_field="event_timestamp")
VIEW = FeatureView(name="driver_stats", entities=[DRIVER], source=SOURCE, ttl=timedelta(days=1),
                   schema=[Field(name="driver_id", dtype=Int64),
                           *(Field(name=name, dtype=Float64) for name in FEATURES)])
REFS = [f"{VIEW.name}:{name}" for name in FEATURES]
WARM_UP_CALLS = 50
TIMEOUT_SECONDS = 600  # only reached when a process hangs


def version_rows(entities: int, version: int, now_us: int):
    """Lazily, every entity's flat row of one materialization run; newer runs have a greater event_ts."""
    serialize = entity_key_serializer(["driver_id"], [Int64])
    encode = value_encoder(Float64)
    for driver_id in range(entities):
        yield (serialize((driver_id,)), now_us + version, 0,
               *[encode(driver_id + version + j / 16) for j in range(len(FEATURES))])


def make_repo(folder: Path, online_store_yaml: str, entities: int, now_us: int) -> Path:
    """A repo with the view registered (no Spark: RegistryFile directly) and its first run materialized."""
    folder.mkdir(parents=True)
    (folder / "feature_store.yaml").write_text(
        f"project: {PROJECT}\nregistry: data/registry.db\n{online_store_yaml}")

    def register(state: RegistryState) -> None:
        state.entities[DRIVER.name] = DRIVER
        state.data_sources[SOURCE.name] = SOURCE
        state.feature_views[VIEW.name] = VIEW

    RegistryFile(folder / "data" / "registry.db", PROJECT).update(register)
    online_store = FeatureStore(folder).online_store
    online_store.update(PROJECT, [VIEW], [])
    online_store.online_write_flat(PROJECT, VIEW, version_rows(entities, 0, now_us))
    online_store.close()
    return folder


# --- the processes ----------------------------------------------------------------------------

def client(repo: Path, seed: int, calls: int, entities: int, ready, go, results) -> None:
    """A model-server worker: `calls` single-entity reads, each timed; failures are counted, not raised.

    An error is a raised exception or a feature that is not PRESENT (every entity is
    materialized); the first one's text goes into the report.
    """
    store = FeatureStore(repo)
    chooser = random.Random(seed)
    rows = [[{"driver_id": chooser.randrange(entities)}] for _ in range(calls + WARM_UP_CALLS)]
    for entity_rows in rows[:WARM_UP_CALLS]:  # imports, connections, statement caches
        store.get_online_features(REFS, entity_rows)
    ready.put(seed)
    go.wait()
    errors, first_error = 0, None
    latencies_ns = []
    began = time.monotonic()
    for entity_rows in rows[WARM_UP_CALLS:]:
        start = time.perf_counter_ns()
        try:
            response = store.get_online_features(REFS, entity_rows)
        except Exception:
            latencies_ns.append(time.perf_counter_ns() - start)
            errors += 1
            first_error = first_error or traceback.format_exc()
            continue
        latencies_ns.append(time.perf_counter_ns() - start)
        statuses = response.statuses()
        if any(statuses[name][0] != "PRESENT" for name in FEATURES):
            errors += 1
            first_error = first_error or f"not PRESENT for {entity_rows}: {statuses}"
    results.put({"began": began, "ended": time.monotonic(), "latencies_ns": latencies_ns,
                 "errors": errors, "first_error": first_error})


def writer(repo: Path, entities: int, now_us: int, started, stop, results) -> None:
    """Materialization in a loop: all entities, newer each run, until told to stop."""
    online_store = FeatureStore(repo).online_store
    runs = rows = 0
    began = time.monotonic()
    while not stop.is_set():
        runs += 1
        online_store.online_write_flat(PROJECT, VIEW, version_rows(entities, runs, now_us))
        rows += entities
        started.set()
    results.put({"runs": runs, "rows": rows, "seconds": time.monotonic() - began})


def _get(results, processes: list, what: str) -> dict:
    """The next report, failing early (with exit codes) when a process died before reporting."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        try:
            return results.get(timeout=0.5)
        except queue.Empty:
            failed = {process.pid: process.exitcode for process in processes if process.exitcode not in (None, 0)}
            if failed:
                raise RuntimeError(f"{what} process(es) failed, exit codes {failed}; see their stderr above") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"no report from the {what} processes within {TIMEOUT_SECONDS} s") from None


def bench_store(store: str, repo: Path, calls: int, clients: int, entities: int, now_us: int) -> dict:
    """Start the writer, wait for its first run, then let the clients loose; one result dict."""
    started, stop, go = SPAWN.Event(), SPAWN.Event(), SPAWN.Event()
    ready, client_results, writer_results = SPAWN.Queue(), SPAWN.Queue(), SPAWN.Queue()
    processes = [SPAWN.Process(target=writer, args=(repo, entities, now_us, started, stop, writer_results))]
    processes += [SPAWN.Process(target=client, args=(repo, seed, calls, entities, ready, go, client_results))
                  for seed in range(clients)]
    for process in processes:
        process.start()
    try:
        for _ in range(clients):
            _get(ready, processes, "client")
        if not started.wait(timeout=TIMEOUT_SECONDS):
            raise TimeoutError("the writer finished no run")
        go.set()
        reports = [_get(client_results, processes, "client") for _ in range(clients)]
        stop.set()
        written = _get(writer_results, processes, "writer")
        for process in processes:
            process.join(timeout=TIMEOUT_SECONDS)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    latencies = sorted(ns for report in reports for ns in report["latencies_ns"])
    seconds = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
    errors = [r["first_error"] for r in reports if r["first_error"]]
    return {"store": store, "clients": clients, "entities": entities, "calls": len(latencies),
            "errors": sum(r["errors"] for r in reports), "first_error": errors[0] if errors else None,
            "seconds": seconds, "calls_per_s": len(latencies) / seconds,
            "p50_ms": latencies[len(latencies) // 2] / 1e6,
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1e6,
            "writer_runs": written["runs"], "writer_rows_per_s": written["rows"] / written["seconds"]}


# --- driver -----------------------------------------------------------------------------------

def run(calls: int = 10_000, clients: int = 4, entities: int = 10_000,
        stores: tuple[str, ...] = ("sqlite", "redis")) -> list[dict]:
    """Load-test each store; one dict per store (see format_table for the fields)."""
    for name, value in (("calls", calls), ("clients", clients), ("entities", entities)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    unknown = set(stores) - {"sqlite", "redis"}
    if unknown:
        raise ValueError(f"unknown stores {sorted(unknown)}; choose from sqlite, redis")
    now_us = time.time_ns() // 1_000  # event times near now, so the view's 1-day ttl keeps them PRESENT
    results = []
    with tempfile.TemporaryDirectory(prefix="featurestore-load-") as folder:
        if "sqlite" in stores:
            yaml = "online_store:\n  type: sqlite\n  path: data/online_store.db\n"
            repo = make_repo(Path(folder) / "sqlite_repo", yaml, entities, now_us)
            results.append(bench_store("sqlite", repo, calls, clients, entities, now_us))
        if "redis" in stores:
            from featurestore.testing.redis import start_redis_server

            server = start_redis_server(Path(folder) / "redis")
            try:
                yaml = f"online_store:\n  type: redis\n  host: {server.host}\n  port: {server.port}\n"
                repo = make_repo(Path(folder) / "redis_repo", yaml, entities, now_us)
                results.append(bench_store("redis", repo, calls, clients, entities, now_us))
            finally:
                server.stop()
    return results


def format_table(results: list[dict]) -> str:
    header = (f"{'store':<7} {'clients':>7} {'calls':>8} {'errors':>6} {'calls/s':>9} {'p50 ms':>7} "
              f"{'p99 ms':>7} {'seconds':>7}  writer during the test")
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(f"{r['store']:<7} {r['clients']:>7} {r['calls']:>8,} {r['errors']:>6} "
                     f"{r['calls_per_s']:>9,.0f} {r['p50_ms']:>7.3f} {r['p99_ms']:>7.3f} {r['seconds']:>7.1f}  "
                     f"{r['writer_runs']} runs of {r['entities']:,} rows, {r['writer_rows_per_s']:,.0f} rows/s")
    lines.append(f"1 entity x {len(FEATURES)} features per call; {os.cpu_count()} CPU(s) shared by the "
                 f"clients, the writer and Redis.")
    for r in results:
        if r["first_error"]:
            lines.append(f"first error ({r['store']}):\n{r['first_error']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000, help="calls per client")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--entities", type=int, default=10_000, help="materialized entities")
    parser.add_argument("--stores", default="sqlite,redis", help="comma-separated: sqlite, redis")
    arguments = parser.parse_args(argv)
    results = run(arguments.calls, arguments.clients, arguments.entities, tuple(arguments.stores.split(",")))
    print(format_table(results))
    if any(r["errors"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
