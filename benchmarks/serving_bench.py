"""HTTP feature serving: `featurestore serve` beside Feast's `feast serve` and the store alone, in one run.

The matrix: SQLite and Redis x request shapes (entities x features) 1x3, 1x50, 50x10 and
100x50 x concurrency 1, 8 and 32 x servers: featurestore serve and feast serve (FEAST_VERSION,
installed from PyPI into its own virtualenv under the per-user cache by this benchmark), each
at 1 and 2 workers. Both read the same values of one feature view of `entities` drivers x 50
Float64 features, from the same Redis server and from a SQLite file each; Feast's repo is
applied and materialized with Feast's own CLI.

Load generator: wrk, Debian's compiled C one (scripts/debian_install.sh installs it). It is a
closed loop: each of C keep-alive connections sends its next request when the answer to the
previous one arrives, for --seconds per cell, cycling through 256 prepared bodies of random
entities. Its Lua script reports requests, p50/p99/p999 and errors (a non-200 answer or a
socket error). Before the load, one request per server and shape is checked: every status
PRESENT, every value the one written.

In process, no HTTP: featurestore's get_online_features p50/p99/p999, and the part of it
spent in the online store (the raw store read), so the server's own cost is the difference.

    python -m benchmarks.serving_bench [--seconds 3] [--stores sqlite,redis] [--no-feast]
"""
from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from featurestore.runtime.processes import free_port, stop_group
from featurestore.testing.feast import FEAST_VERSION, feast_env, feast_python

FEATURES = [f"f{i:02d}" for i in range(50)]
VIEW = "driver_stats"
SHAPES = ((1, 3), (1, 50), (50, 10), (100, 50))
CONCURRENCY = (1, 8, 32)
WORKERS = (1, 2)
BODIES = 256

FEAST_YAML = """project: feastbench
registry: data/registry.db
provider: local
online_store:
{online}
entity_key_serialization_version: 3
"""


def value(driver: int, feature: int) -> float:
    """The value every store holds for a driver's feature: readable back exactly."""
    return driver + feature / 100


def write_ours(folder: Path, entities: int, online_section: str) -> Path:
    """A featurestore repo whose online store holds `entities` drivers (written directly, no Spark)."""
    from featurestore import Entity, FeatureView, Field, SparkSource
    from featurestore.online.codec import entity_key_serializer, value_encoder
    from featurestore.registry import RegistryState
    from featurestore.store import FeatureStore
    from featurestore.testing.repos import write_repo
    from featurestore.types import Float64, Int64

    repo = write_repo(folder, project="bench", online_store=online_section)
    driver = Entity(name="driver", join_keys=["driver_id"])
    source = SparkSource(name="stats_source", table="default.stats", timestamp_field="event_timestamp")
    view = FeatureView(name=VIEW, entities=[driver], source=source, ttl=timedelta(days=1),
                       schema=[Field(name="driver_id", dtype=Int64)] + [Field(name=f, dtype=Float64) for f in FEATURES])
    store = FeatureStore(repo)

    def put(state: RegistryState) -> None:
        state.entities["driver"], state.data_sources["stats_source"] = driver, source
        state.feature_views[view.name] = view

    store.registry_store.update(put)
    store.online_store.update("bench", [view], [])
    now_us = int(time.time() * 1e6)
    key, f64 = entity_key_serializer(["driver_id"], [Int64]), value_encoder(Float64)
    store.online_store.online_write_flat("bench", view, (
        (key([d]), now_us, 0, *(f64(value(d, i)) for i in range(len(FEATURES)))) for d in range(1, entities + 1)))
    store.online_store.close()
    return repo


def write_feast(folder: Path, entities: int, python: Path, online_section: str) -> Path:
    """Feast's repo with the same values, applied and materialized with Feast's CLI."""
    import pandas as pd

    (folder / "data").mkdir(parents=True)
    (folder / "feature_store.yaml").write_text(FEAST_YAML.format(online=online_section))
    fields = ", ".join(f"Field(name={f!r}, dtype=Float64)" for f in FEATURES)
    (folder / "features.py").write_text(
        "from datetime import timedelta\n"
        "from feast import Entity, FeatureView, Field, FileSource\n"
        "from feast.types import Float64\n"
        "driver = Entity(name='driver', join_keys=['driver_id'])\n"
        "source = FileSource(name='stats_source', path='data/stats.parquet', timestamp_field='event_timestamp')\n"
        f"{VIEW} = FeatureView(name={VIEW!r}, entities=[driver], ttl=timedelta(days=1), schema=[{fields}],\n"
        "    source=source, online=True)\n")
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    drivers = range(1, entities + 1)
    frame = {"driver_id": drivers, "event_timestamp": [now] * entities}
    frame.update({f: [value(d, i) for d in drivers] for i, f in enumerate(FEATURES)})
    pd.DataFrame(frame).to_parquet(folder / "data" / "stats.parquet")
    feast = [str(python), "-m", "feast.cli.cli"]
    for command in (["apply"], ["materialize-incremental", datetime.now(UTC).isoformat(timespec="seconds")]):
        subprocess.run([*feast, *command], cwd=folder, env=feast_env(), check=True, capture_output=True, text=True)
    return folder


def body(entity_ids: list[int], features: int) -> dict:
    return {"entities": {"driver_id": entity_ids}, "features": [f"{VIEW}:{f}" for f in FEATURES[:features]]}


def start(command: list[str], cwd: Path, port: int, env: dict | None = None) -> subprocess.Popen:
    """A server in its own process group, once it answers a request."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if post(port, body([1], 3))[0] == 200:
                return process
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"{command[:4]} exited: {process.stderr.read()[-2000:]}")
        time.sleep(0.3)
    stop_group(process)  # the whole group: a server's workers too
    raise RuntimeError(f"{command[:4]} did not answer 200 within 120 s")


def post(port: int, payload: dict) -> tuple[int, dict | None]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/get-online-features", body=json.dumps(payload).encode(),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if response.status == 200 else None)
    finally:
        connection.close()


def check_answer(port: int, entities: int, shape: tuple[int, int], server: str) -> None:
    """One request of `shape`: every status PRESENT and every value the one written."""
    rows, features = shape
    ids = random.Random(7).sample(range(1, entities + 1), rows)
    status, answer = post(port, body(ids, features))
    if status != 200:
        raise RuntimeError(f"{server}: {shape} answered {status}")
    by_name = dict(zip(answer["metadata"]["feature_names"], answer["results"]))
    for i, feature in enumerate(FEATURES[:features]):
        result = by_name[feature]
        if result["statuses"] != ["PRESENT"] * rows or result["values"] != [value(d, i) for d in ids]:
            raise RuntimeError(f"{server}: {feature} of {shape} is not what was written: {result}")


LUA = """
local bodies = {%s}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "/get-online-features", {["Content-Type"] = "application/json"}, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d\\n", summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9)))
end
"""


def wrk_script(folder: Path, entities: int, shape: tuple[int, int]) -> Path:
    rows, features = shape
    rng = random.Random(rows * 100 + features)
    bodies = [json.dumps(body([rng.randint(1, entities) for _ in range(rows)], features)) for _ in range(BODIES)]
    path = folder / f"load_{rows}x{features}.lua"
    path.write_text(LUA % ",".join(f"[[{b}]]" for b in bodies))
    return path


def wrk(port: int, script: Path, connections: int, seconds: float) -> dict:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: scripts/debian_install.sh wrk wrk (Debian's package)")
    out = subprocess.run(["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                          "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}"],
                         capture_output=True, text=True, check=True).stdout
    line = next(li for li in out.splitlines() if li.startswith("RESULT "))
    requests, bad_status, socket_errors, duration_us, p50, p99, p999 = (int(x) for x in line.split()[1:])
    return {"requests": requests, "errors": bad_status + socket_errors, "per_second": requests / (duration_us / 1e6),
            "p50_ms": p50 / 1e3, "p99_ms": p99 / 1e3, "p999_ms": p999 / 1e3}


class _TimedReads:
    """An online store whose reads are timed: the raw store read inside get_online_features."""

    def __init__(self, store):
        self._store, self.seconds = store, []

    def online_read_many(self, project, requests):
        started = time.perf_counter()
        try:
            return self._store.online_read_many(project, requests)
        finally:
            self.seconds.append(time.perf_counter() - started)

    def __getattr__(self, name):
        return getattr(self._store, name)


def in_process(repo: Path, entities: int, shape: tuple[int, int], calls: int) -> dict:
    """get_online_features in this process, and the store's part of it, in ms."""
    from featurestore.online.read import get_online_features
    from featurestore.store import FeatureStore

    store = FeatureStore(repo)
    timed = _TimedReads(store.online_store)
    rows, features = shape
    refs = [f"{VIEW}:{f}" for f in FEATURES[:features]]
    rng = random.Random(3)
    whole = []
    for call in range(calls + 50):
        entity_rows = [{"driver_id": rng.randint(1, entities)} for _ in range(rows)]
        started = time.perf_counter()
        get_online_features(store.registry, timed, "bench", refs, entity_rows)
        if call >= 50:  # the first calls warm the caches
            whole.append(time.perf_counter() - started)
    store.online_store.close()
    return {"read": percentiles(whole), "store_read": percentiles(timed.seconds[50:])}


def percentiles(seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    at = lambda q: ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1e3  # noqa: E731
    return {"p50_ms": at(0.5), "p99_ms": at(0.99), "p999_ms": at(0.999)}


def run(seconds: float = 3, stores=("sqlite", "redis"), entities: int = 10_000, with_feast: bool = True,
        calls: int = 2000) -> dict:
    from featurestore.testing.redis import start_redis_server
    from featurestore.testing.repos import redis_online_store

    results = {"http": [], "in_process": []}
    with tempfile.TemporaryDirectory(prefix="fs-serving-bench-") as tmp:
        folder = Path(tmp)
        redis = start_redis_server(folder / "redis") if "redis" in stores else None
        python = feast_python() if with_feast else None
        try:
            scripts = {shape: wrk_script(folder, entities, shape) for shape in SHAPES}
            for store_kind in stores:
                ours_online = "" if store_kind == "sqlite" else redis_online_store(redis.host, redis.port)
                ours = write_ours(folder / f"ours_{store_kind}", entities, ours_online)
                for shape in SHAPES:
                    results["in_process"].append({"store": store_kind, "shape": shape,
                                                  **in_process(ours, entities, shape, calls)})
                servers = [(f"featurestore serve -w {w}", w, [sys.executable, "-m", "featurestore.cli", "serve",
                                                              "--repo", str(ours), "--workers", str(w),
                                                              "--port", "{port}"], ours, None) for w in WORKERS]
                if with_feast:
                    feast_online = ("  type: sqlite\n  path: data/online_store.db" if store_kind == "sqlite" else
                                    f"  type: redis\n  connection_string: \"{redis.host}:{redis.port}\"")
                    theirs = write_feast(folder / f"feast_{store_kind}", entities, python, feast_online)
                    feast = [str(python), "-m", "feast.cli.cli", "serve", "--host", "127.0.0.1", "--port", "{port}",
                             "--no-access-log"]
                    servers += [(f"feast {FEAST_VERSION} serve -w {w}", w,
                                 feast + (["--workers", str(w)] if w > 1 else []), theirs, feast_env())
                                for w in WORKERS]
                for name, workers, command, cwd, env in servers:
                    port = free_port()
                    process = start([part.replace("{port}", str(port)) for part in command], cwd, port, env)
                    try:
                        for shape in SHAPES:
                            check_answer(port, entities, shape, name)
                        wrk(port, scripts[(1, 3)], 8, 1)  # warm-up
                        for shape in SHAPES:
                            for connections in CONCURRENCY:
                                results["http"].append({"store": store_kind, "shape": shape, "server": name,
                                                        "workers": workers, "connections": connections,
                                                        **wrk(port, scripts[shape], connections, seconds)})
                    finally:
                        stop_group(process)
        finally:
            if redis is not None:
                redis.stop()
    return results


def shape_text(shape: tuple[int, int]) -> str:
    return f"{shape[0]}x{shape[1]}"


def format_table(results: dict) -> str:
    feast_rate = {(r["store"], r["shape"], r["workers"], r["connections"]): r["per_second"]
                  for r in results["http"] if r["server"].startswith("feast")}
    lines = ["HTTP, load from wrk (closed loop, keep-alive); x feast: requests/s over Feast's at the same workers",
             f"{'store':<7} {'shape':>6} {'conn':>4} {'server':<26} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'p999 ms':>8} {'errors':>6} {'x feast':>7}"]
    for r in results["http"]:
        theirs = feast_rate.get((r["store"], r["shape"], r["workers"], r["connections"]))
        ratio = f"{r['per_second'] / theirs:.1f}" if theirs and not r["server"].startswith("feast") else ""
        lines.append(f"{r['store']:<7} {shape_text(r['shape']):>6} {r['connections']:>4} {r['server']:<26} "
                     f"{r['per_second']:>8.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['p999_ms']:>8.2f} "
                     f"{r['errors']:>6} {ratio:>7}")
    ours_c1 = {(r["store"], r["shape"]): r["p50_ms"] for r in results["http"]
               if r["server"] == "featurestore serve -w 1" and r["connections"] == 1}
    lines += ["", "In process (no HTTP): get_online_features and the store's part of it (the raw store read); "
                  "server adds: HTTP p50 at 1 connection minus in-process p50",
              f"{'store':<7} {'shape':>6} {'read p50':>9} {'p99':>7} {'p999':>7} {'store p50':>10} {'p99':>7} "
              f"{'p999':>7} {'server adds':>12}"]
    for r in results["in_process"]:
        read, store = r["read"], r["store_read"]
        http_p50 = ours_c1.get((r["store"], r["shape"]))
        adds = f"{http_p50 - read['p50_ms']:.2f} ms" if http_p50 is not None else ""
        lines.append(f"{r['store']:<7} {shape_text(r['shape']):>6} {read['p50_ms']:>9.3f} {read['p99_ms']:>7.3f} "
                     f"{read['p999_ms']:>7.3f} {store['p50_ms']:>10.3f} {store['p99_ms']:>7.3f} "
                     f"{store['p999_ms']:>7.3f} {adds:>12}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3, help="wrk's duration per cell")
    parser.add_argument("--stores", default="sqlite,redis")
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--no-feast", action="store_true")
    args = parser.parse_args()
    print(format_table(run(args.seconds, tuple(args.stores.split(",")), args.entities, not args.no_feast)))


if __name__ == "__main__":
    main()
