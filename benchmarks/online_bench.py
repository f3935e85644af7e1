"""Online store benchmark: each store beside the plainest code that could do its job.

For SQLite and Redis it measures
  (a) write throughput of online_write_flat (the one write path, materialization's) for
      N entities x 10 Float64 features of pre-encoded flat rows, beside a raw lower bound
      (SQLite: one executemany of a plain INSERT of the rows already flattened to the same
      table layout, in one transaction; Redis: pipelined HSET of the same fields),
  (b) store-level read latency (p50, p99) for 1 entity x 10 features and 100 entities x 10
      features through online_read (SQLite) and online_read_many (Redis), beside a raw
      bound (a plain SELECT ... WHERE entity_key IN (...); pipelined HMGET), and
  (c) the whole serving call, FeatureStore.get_online_features (entity rows in, decoded
      values and statuses out), for 1 and 100 entities x 3 Float64 features of a view of
      its own (up to GET_ENTITIES entities), beside the raw read of the same stored rows
      with the keys already serialized and nothing decoded (SELECT ... WHERE entity_key IN
      (...) for SQLite; HMGET of one key, a pipeline of HMGETs for several, for Redis).

    python -m benchmarks.online_bench [--sqlite-rows N] [--redis-rows N] [--samples N]

Redis runs in its own redis-server, started and stopped here. The registry is written
directly (no Spark), as benchmarks/load_bench.py does.
"""
from __future__ import annotations

import argparse
import gc
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.online.codec import entity_key_serializer, value_encoder
from featurestore.online.murmur3 import feature_field
from featurestore.online.redis_store import RedisOnlineStore, feast_timestamp_field, hash_key, timestamp_field
from featurestore.online.sqlite import table_name
from featurestore.registry import RegistryFile
from featurestore.store import FeatureStore
from featurestore.types import Float64, Int64

PROJECT = "bench"
FEATURES = 10
GET_FEATURES = 3
GET_ENTITIES = 100_000  # entities of the get_online_features view (at most the store's row count)
TARGETS = {  # (store, measure) -> (target text, check on the measured result)
    ("sqlite", "write"): ("ratio <= 1.5", lambda r: r["ratio"] <= 1.5),
    ("redis", "write"): (">= 50,000 rows/s", lambda r: r["ours"] >= 50_000),
    ("sqlite", "read 1x10 p99"): ("<= 0.2 ms", lambda r: r["ours"] <= 0.2),
    ("redis", "read 1x10 p99"): ("<= 0.4 ms", lambda r: r["ours"] <= 0.4),
    ("sqlite", "read 100x10 p99"): ("<= 3 ms", lambda r: r["ours"] <= 3.0),
    ("redis", "read 100x10 p99"): ("<= 3 ms", lambda r: r["ours"] <= 3.0),
    ("sqlite", "get 100x3 p99"): ("< 1 ms", lambda r: r["ours"] < 1.0),
    ("redis", "get 1x3 p99"): ("< 0.25 ms", lambda r: r["ours"] < 0.25),
}
DRIVER = Entity(name="driver", join_keys=["driver_id"])
SOURCE = SparkSource(name="bench_source", table="default.bench", timestamp_field="event_timestamp")


def make_view(features: int = FEATURES, name: str = "driver_stats") -> FeatureView:
    schema = [Field(name="driver_id", dtype=Int64)]
    schema += [Field(name=f"f{i}", dtype=Float64) for i in range(features)]
    return FeatureView(name=name, entities=[DRIVER], schema=schema, source=SOURCE, ttl=timedelta(days=1))


def make_repo(folder: Path, online_store_yaml: str, views: list[FeatureView]) -> FeatureStore:
    """A feature repo with views registered (RegistryFile directly: no Spark) and their tables made."""
    folder.mkdir(parents=True)
    (folder / "feature_store.yaml").write_text(f"project: {PROJECT}\nregistry: data/registry.db\n{online_store_yaml}")

    def register(state) -> None:
        state.entities[DRIVER.name] = DRIVER
        state.data_sources[SOURCE.name] = SOURCE
        for view in views:
            state.feature_views[view.name] = view

    RegistryFile(folder / "data" / "registry.db", PROJECT).update(register)
    store = FeatureStore(folder)
    store.online_store.update(PROJECT, views, [])
    return store


def make_rows(count: int, features: int = FEATURES, event_ts: int = 1_700_000_000_000_000) -> list[tuple]:
    """count entities with distinct Float64 values, as materialization hands them over: flat rows of
    (entity key, event_ts, created_ts, encoded value of each feature)."""
    encode = value_encoder(Float64)
    serialize = entity_key_serializer(["driver_id"], [Int64])
    return [(serialize((driver_id,)), event_ts + driver_id, 0,
             *[encode(driver_id + j / 16) for j in range(features)])
            for driver_id in range(count)]


def sample_keys(count: int, batch: int, samples: int) -> list[list[bytes]]:
    serialize = entity_key_serializer(["driver_id"], [Int64])
    chooser = random.Random(42)
    return [[serialize((chooser.randrange(count),)) for _ in range(batch)] for _ in range(samples)]


def latencies_ms(read: Callable[[list[bytes]], object],
                 key_batches: list[list[bytes]]) -> tuple[float, float]:
    """p50 and p99 of read(keys) in milliseconds, after a short warm-up."""
    for keys in key_batches[:50]:
        read(keys)
    timings = []
    for keys in key_batches:
        start = time.perf_counter_ns()
        read(keys)
        timings.append(time.perf_counter_ns() - start)
    timings.sort()
    return timings[len(timings) // 2] / 1e6, timings[min(len(timings) - 1, int(len(timings) * 0.99))] / 1e6


def _result(store: str, measure: str, unit: str, ours: float, raw: float, ratio: float) -> dict:
    target, check = TARGETS.get((store, measure), ("", None))
    result = {"store": store, "measure": measure, "unit": unit, "ours": ours, "raw": raw, "ratio": ratio,
              "target": target}
    result["meets_target"] = check(result) if check else None
    return result


def _read_results(store: str, read, raw_read, count: int, samples: int) -> list[dict]:
    results = []
    for batch, batch_samples in ((1, samples), (100, max(200, samples // 4))):
        key_batches = sample_keys(count, batch, batch_samples)
        ours_p50, ours_p99 = latencies_ms(read, key_batches)
        raw_p50, raw_p99 = latencies_ms(raw_read, key_batches)
        for label, ours, raw in (("p50", ours_p50, raw_p50), ("p99", ours_p99, raw_p99)):
            results.append(_result(store, f"read {batch}x{FEATURES} {label}", "ms", ours, raw, ours / raw))
    return results


def _get_results(store_name: str, store: FeatureStore, view: FeatureView, raw_read, count: int,
                 samples: int) -> list[dict]:
    """get_online_features of GET_FEATURES features for 1 and 100 entity rows, beside raw_read(keys)."""
    refs = [f"{view.name}:{feature.name}" for feature in view.features]
    serialize = entity_key_serializer(["driver_id"], [Int64])
    chooser = random.Random(7)
    results = []
    for batch, batch_samples in ((1, samples), (100, max(200, samples // 2))):
        id_batches = [[chooser.randrange(count) for _ in range(batch)] for _ in range(batch_samples)]
        entity_rows = [[{"driver_id": driver_id} for driver_id in ids] for ids in id_batches]
        key_batches = [[serialize((driver_id,)) for driver_id in ids] for ids in id_batches]
        response = store.get_online_features(refs, entity_rows[0])
        if any(status != "PRESENT" for column in response.statuses().values() for status in column):
            raise RuntimeError(f"{store_name}: get_online_features did not find every value: {response!r}")
        ours_p50, ours_p99 = latencies_ms(lambda rows: store.get_online_features(refs, rows), entity_rows)
        raw_p50, raw_p99 = latencies_ms(raw_read, key_batches)
        for label, ours, raw in (("p50", ours_p50, raw_p50), ("p99", ours_p99, raw_p99)):
            results.append(dict(_result(store_name, f"get {batch}x{len(refs)} {label}", "ms", ours, raw, ours / raw),
                                rows=count))
    return results


# --- SQLite ---

def _sqlite_connection(path: Path) -> sqlite3.Connection:
    """A connection set up as the store sets up its own (WAL, synchronous=NORMAL)."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    return connection


def _raw_select(connection: sqlite3.Connection, table: str) -> Callable[[list[bytes]], list]:
    """The raw read: SELECT ... WHERE entity_key IN (...), statements cached per key count."""
    selects = {}

    def raw_read(keys: list[bytes]):
        sql = selects.get(len(keys))
        if sql is None:
            marks = ", ".join(["?"] * len(keys))
            sql = selects[len(keys)] = (f'SELECT entity_key, feature_name, value, event_micros FROM "{table}" '
                                        f"WHERE entity_key IN ({marks})")
        return connection.execute(sql, keys).fetchall()

    return raw_read


def bench_sqlite(rows: list[tuple], directory: Path, samples: int) -> list[dict]:
    view = make_view()
    get_view = make_view(GET_FEATURES, "driver_get")
    table = table_name(PROJECT, view.name)
    names = [f.name for f in view.features]

    raw_path = directory / "raw.db"
    raw = _sqlite_connection(raw_path)
    raw.execute(f'CREATE TABLE "{table}" (entity_key BLOB, feature_name TEXT, value BLOB, value_text TEXT, '
                f"vector_value BLOB, event_ts timestamp, created_ts timestamp, event_micros INTEGER, "
                f"created_micros INTEGER, PRIMARY KEY (entity_key, feature_name)) WITHOUT ROWID")  # the store's layout
    flat = [(row[0], name, value, row[1] // 1_000_000, row[2] // 1_000_000, row[1], row[2])
            for row in rows for name, value in zip(names, row[3:])]
    start = time.perf_counter()
    raw.execute("BEGIN")
    raw.executemany(f'INSERT INTO "{table}" (entity_key, feature_name, value, event_ts, created_ts, event_micros, '
                    f"created_micros) VALUES (?, ?, ?, ?, ?, ?, ?)", flat)
    raw.execute("COMMIT")
    raw_seconds = time.perf_counter() - start
    del flat

    feature_store = make_repo(directory / "sqlite_repo", "", [view, get_view])
    store = feature_store.online_store
    start = time.perf_counter()
    written = store.online_write_flat(PROJECT, view, iter(rows))
    ours_seconds = time.perf_counter() - start
    if written != len(rows):
        raise RuntimeError(f"SQLite store wrote {written} rows, expected {len(rows)}")
    results = [_result("sqlite", "write", "rows/s", len(rows) / ours_seconds, len(rows) / raw_seconds,
                       ours_seconds / raw_seconds)]
    results += _read_results("sqlite", lambda keys: store.online_read(PROJECT, view, keys, names),
                             _raw_select(raw, table), len(rows), samples)
    raw.close()

    get_count = min(len(rows), GET_ENTITIES)
    store.online_write_flat(PROJECT, get_view, make_rows(get_count, GET_FEATURES, int(time.time() * 1e6)))
    reader = _sqlite_connection(store.path)  # the raw bound reads the very rows the store holds
    results += _get_results("sqlite", feature_store, get_view, _raw_select(reader, table_name(PROJECT, get_view.name)),
                            get_count, samples)
    reader.close()
    store.close()
    return results


# --- Redis ---

def bench_redis(rows: list[tuple], directory: Path, samples: int) -> list[dict]:
    import redis

    from featurestore.testing.redis import start_redis_server

    view = make_view()
    get_view = make_view(GET_FEATURES, "driver_get")
    server = start_redis_server(directory / "redis")
    try:
        client = redis.Redis(host=server.host, port=server.port)
        names = [f.name for f in view.features]
        fields = [feature_field(view.name, name) for name in names]
        ts_fields = [timestamp_field(view.name), feast_timestamp_field(view.name)]

        start = time.perf_counter()
        for chunk_start in range(0, len(rows), 10_000):
            pipeline = client.pipeline(transaction=False)
            for row in rows[chunk_start:chunk_start + 10_000]:
                mapping = dict(zip(fields, row[3:]))
                mapping[ts_fields[0]] = row[1].to_bytes(8, "big") + row[2].to_bytes(8, "big")
                mapping[ts_fields[1]] = b""  # Feast's Timestamp, as long as an empty one: a lower bound
                pipeline.hset(hash_key(PROJECT, row[0]), mapping=mapping)
            pipeline.execute()
        raw_seconds = time.perf_counter() - start
        server.flushall()

        store = RedisOnlineStore(server.config())
        start = time.perf_counter()
        written = store.online_write_flat(PROJECT, view, iter(rows))
        ours_seconds = time.perf_counter() - start
        if written != len(rows):
            raise RuntimeError(f"Redis store wrote {written} rows, expected {len(rows)}")
        results = [_result("redis", "write", "rows/s", len(rows) / ours_seconds, len(rows) / raw_seconds,
                           ours_seconds / raw_seconds)]

        def raw_hmget(read_fields: list[bytes]) -> Callable[[list[bytes]], list]:
            def raw_read(keys: list[bytes]):
                if len(keys) == 1:
                    return client.hmget(hash_key(PROJECT, keys[0]), read_fields)
                pipeline = client.pipeline(transaction=False)
                for key in keys:
                    pipeline.hmget(hash_key(PROJECT, key), read_fields)
                return pipeline.execute()
            return raw_read

        results += _read_results("redis", lambda keys: store.online_read_many(PROJECT, [(view, keys, names)]),
                                 raw_hmget([*ts_fields, *fields]), len(rows), samples)
        store.close()

        config = server.config()
        feature_store = make_repo(directory / "redis_repo", f"online_store:\n  type: redis\n  host: {config.host}\n"
                                                           f"  port: {config.port}\n", [get_view])
        get_count = min(len(rows), GET_ENTITIES)
        feature_store.online_store.online_write_flat(PROJECT, get_view,
                                                     make_rows(get_count, GET_FEATURES, int(time.time() * 1e6)))
        get_fields = [timestamp_field(get_view.name), feast_timestamp_field(get_view.name)] + [
            feature_field(get_view.name, f.name) for f in get_view.features]
        results += _get_results("redis", feature_store, get_view, raw_hmget(get_fields), get_count, samples)
        feature_store.online_store.close()
        client.close()
        return results
    finally:
        server.stop()


def run(sqlite_rows: int = 1_000_000, redis_rows: int = 200_000, samples: int = 2_000,
        stores: tuple[str, ...] = ("sqlite", "redis")) -> list[dict]:
    """Benchmark the stores; one dict per measure with ours, raw, ratio (ours/raw time), target."""
    results = []
    with tempfile.TemporaryDirectory(prefix="featurestore-bench-") as folder:
        benches = (("sqlite", sqlite_rows, bench_sqlite), ("redis", redis_rows, bench_redis))
        for store, count, bench in benches:
            if store not in stores:
                continue
            rows = make_rows(count)
            gc.collect()
            gc.freeze()  # millions of long-lived row tuples would make every GC pass slow, for both sides
            try:
                results += [{"rows": count, **result} for result in bench(rows, Path(folder), samples)]
            finally:
                del rows
                gc.unfreeze()
                gc.collect()
    return results


def format_table(results: list[dict]) -> str:
    header = (f"{'store':<7} {'rows':>9}  {'measure':<17} {'ours':>12} {'raw':>12} {'unit':<7} "
              f"{'ratio':>6}  target")
    lines = [header, "-" * len(header)]
    for r in results:
        number = "{:>12,.0f}" if r["unit"] == "rows/s" else "{:>12.3f}"
        verdict = "" if r["meets_target"] is None else (" ok" if r["meets_target"] else " MISSED")
        lines.append(f"{r['store']:<7} {r['rows']:>9,}  {r['measure']:<17} {number.format(r['ours'])} "
                     f"{number.format(r['raw'])} {r['unit']:<7} {r['ratio']:>6.2f}  {r['target']}{verdict}")
    lines.append("ratio: our time / raw time (writes: raw rows/s / our rows/s); below 1 is faster than raw.")
    lines.append(f"get: FeatureStore.get_online_features over a view of {GET_FEATURES} features and up to "
                 f"{GET_ENTITIES:,} entities; raw: the same stored rows read with serialized keys, nothing decoded.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite-rows", type=int, default=1_000_000)
    parser.add_argument("--redis-rows", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=2_000, help="reads per latency measure")
    parser.add_argument("--stores", default="sqlite,redis", help="comma-separated: sqlite, redis")
    arguments = parser.parse_args(argv)
    results = run(arguments.sqlite_rows, arguments.redis_rows, arguments.samples,
                  tuple(arguments.stores.split(",")))
    print(format_table(results))


if __name__ == "__main__":
    main()
