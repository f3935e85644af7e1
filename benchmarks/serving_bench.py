"""HTTP feature serving: `featurestore serve` beside Feast's own `feast serve`, same data, same requests.

Both serve one feature view of `entities` drivers x 3 features from a SQLite online store
on 127.0.0.1. `clients` client processes each keep one HTTP/1.1 connection and send
`requests` POST /get-online-features calls of `rows` random entities (Feast's JSON in
both cases); the table gives requests per second across clients, p50 and p99 latency of
a call, and the errors (a non-200 answer or a value not PRESENT: there must be none).

Feast is installed from PyPI (FEAST_VERSION) into its own virtualenv under the per-user
cache, once, by this benchmark; its repo is applied and materialized with Feast's own CLI.
Each server runs its default: featurestore's threaded server, Feast's one uvicorn worker
(`feast serve`), and Feast's 2-worker gunicorn (`--workers 2`, one per core here).

    python -m benchmarks.serving_bench [--clients 4] [--requests 2000] [--rows 1,10] [--no-feast]
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

FEAST_VERSION = "0.67.0"
SPAWN = multiprocessing.get_context("spawn")
FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]

FEAST_REPO = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource
from feast.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
source = FileSource(name="stats_source", path="data/stats.parquet", timestamp_field="event_timestamp")
driver_hourly_stats = FeatureView(name="driver_hourly_stats", entities=[driver], ttl=timedelta(days=1),
    schema=[Field(name="conv_rate", dtype=Float64), Field(name="acc_rate", dtype=Float64),
            Field(name="avg_daily_trips", dtype=Int64)], source=source, online=True)
"""
FEAST_YAML = """project: bench
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online_store.db
entity_key_serialization_version: 3
"""


def feast_python() -> Path:
    """Feast's virtualenv's python, created and filled from PyPI once (the per-user cache)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "featurestore" / "bench"
    venv = base / f"feast-{FEAST_VERSION}"
    python = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        print(f"installing feast=={FEAST_VERSION} into {venv} (once)", file=sys.stderr)
        base.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"feast=={FEAST_VERSION}"], check=True)
        (venv / ".installed").touch()
    return python


def write_ours(folder: Path, entities: int) -> Path:
    """A featurestore repo whose online store holds `entities` drivers (written directly, no Spark)."""
    from featurestore import Entity, FeatureView, Field, SparkSource
    from featurestore.online.codec import entity_key_serializer, value_encoder
    from featurestore.registry import RegistryState
    from featurestore.store import FeatureStore
    from featurestore.testing.repos import write_repo
    from featurestore.types import Float64, Int64

    repo = write_repo(folder / "ours", project="bench")
    driver = Entity(name="driver", join_keys=["driver_id"])
    source = SparkSource(name="stats_source", table="default.stats", timestamp_field="event_timestamp")
    view = FeatureView(name="driver_hourly_stats", entities=[driver], source=source, ttl=timedelta(days=1),
                       schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float64),
                               Field(name="acc_rate", dtype=Float64), Field(name="avg_daily_trips", dtype=Int64)])
    store = FeatureStore(repo)

    def put(state: RegistryState) -> None:
        state.entities["driver"], state.data_sources["stats_source"] = driver, source
        state.feature_views[view.name] = view

    store.registry_store.update(put)
    store.online_store.update("bench", [view], [])
    now_us = int(time.time() * 1e6)
    key = entity_key_serializer(["driver_id"], [Int64])
    f64, i64 = value_encoder(Float64), value_encoder(Int64)
    store.online_store.online_write_flat("bench", view, ((key([d]), now_us, 0, f64(d / 1e4), f64(0.5), i64(d))
                                                         for d in range(1, entities + 1)))
    return repo


def write_feast(folder: Path, entities: int, python: Path) -> Path:
    """Feast's repo with the same values, applied and materialized with Feast's CLI."""
    import pandas as pd

    repo = folder / "feast_repo"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(FEAST_YAML)
    (repo / "features.py").write_text(FEAST_REPO)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    pd.DataFrame({"driver_id": range(1, entities + 1), "event_timestamp": [now] * entities,
                  "conv_rate": [d / 1e4 for d in range(1, entities + 1)], "acc_rate": [0.5] * entities,
                  "avg_daily_trips": range(1, entities + 1)}).to_parquet(repo / "data" / "stats.parquet")
    feast = [str(python), "-m", "feast.cli.cli"]
    env = dict(os.environ, FEAST_USAGE="False", PYTHONPATH="")
    for command in (["apply"], ["materialize-incremental", datetime.now(UTC).isoformat(timespec="seconds")]):
        subprocess.run([*feast, *command], cwd=repo, env=env, check=True, capture_output=True, text=True)
    return repo


def free_port() -> int:
    from featurestore.runtime.processes import free_port as free

    return free()


def start(command: list[str], cwd: Path, port: int, env: dict | None = None) -> subprocess.Popen:
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("POST", "/get-online-features", body=json.dumps(body(1, 1)),
                               headers={"Content-Type": "application/json"})
            if connection.getresponse().status == 200:
                return process
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"{command[:3]} exited: {process.stderr.read()[-2000:]}")
        time.sleep(0.5)
    stop(process)  # the whole process group: a gunicorn master's workers too
    raise RuntimeError(f"{command[:3]} did not answer 200 within 120 s")


def stop(process: subprocess.Popen) -> None:
    import signal

    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def body(rows: int, entities: int, rng=random) -> dict:
    return {"entities": {"driver_id": [rng.randint(1, entities) for _ in range(rows)]},
            "features": [f"driver_hourly_stats:{f}" for f in FEATURES]}


def client(port: int, requests: int, rows: int, entities: int, seed: int, results) -> None:
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, errors = [], 0
    for _ in range(requests):
        data = json.dumps(body(rows, entities, rng)).encode()
        started = time.perf_counter()
        for attempt in (1, 2):  # a server may close a keep-alive connection (gunicorn recycles workers)
            try:
                connection.request("POST", "/get-online-features", body=data,
                                   headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                if attempt == 2:
                    raise
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            errors += 1
        else:
            answer = json.loads(payload)
            if any(s != "PRESENT" for result in answer["results"] for s in result["statuses"]):
                errors += 1
    connection.close()
    results.put((latencies, errors))


def load(port: int, clients: int, requests: int, rows: int, entities: int) -> dict:
    results = SPAWN.Queue()
    workers = [SPAWN.Process(target=client, args=(port, requests, rows, entities, i, results)) for i in range(clients)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    collected = [results.get(timeout=600) for _ in workers]
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
    latencies = sorted(t for lat, _ in collected for t in lat)
    return {"requests": len(latencies), "errors": sum(e for _, e in collected),
            "per_second": len(latencies) / elapsed, "p50_ms": latencies[len(latencies) // 2] * 1e3,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1e3}


def run(clients: int = 4, requests: int = 2000, rows_list=(1, 10), entities: int = 10_000,
        with_feast: bool = True) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory(prefix="fs-serving-bench-") as tmp:
        folder = Path(tmp)
        servers = []
        ours = write_ours(folder, entities)
        servers.append(("featurestore serve", [sys.executable, "-m", "featurestore.cli", "serve", "--repo",
                                               str(ours), "--port", "{port}"], ours, None))
        if with_feast:
            python = feast_python()
            theirs = write_feast(folder, entities, python)
            env = dict(os.environ, FEAST_USAGE="False", PYTHONPATH="")
            feast = [str(python), "-m", "feast.cli.cli", "serve", "--host", "127.0.0.1", "--port", "{port}",
                     "--no-access-log"]
            servers.append((f"feast {FEAST_VERSION} serve", feast, theirs, env))
            servers.append((f"feast {FEAST_VERSION} serve -w 2", [*feast, "--workers", "2"], theirs, env))
        for name, command, cwd, env in servers:
            port = free_port()
            process = start([part.replace("{port}", str(port)) for part in command], cwd, port, env)
            try:
                load(port, 1, 50, 1, entities)  # warm-up
                for rows in rows_list:
                    results.append({"server": name, "rows": rows, **load(port, clients, requests, rows, entities)})
            finally:
                stop(process)
    return results


def format_table(results: list[dict]) -> str:
    lines = [f"{'server':<26} {'rows':>5} {'requests':>9} {'errors':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"]
    for r in results:
        lines.append(f"{r['server']:<26} {r['rows']:>5} {r['requests']:>9} {r['errors']:>7} {r['per_second']:>8.0f} "
                     f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rows", default="1,10")
    parser.add_argument("--no-feast", action="store_true")
    args = parser.parse_args()
    print(format_table(run(args.clients, args.requests, tuple(int(r) for r in args.rows.split(",")),
                           with_feast=not args.no_feast)))


if __name__ == "__main__":
    main()
