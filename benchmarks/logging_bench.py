"""Feature logging's cost to a read: get_online_features of a service with and without logging.

Two services over one SQLite store of 10,000 drivers: 1 entity x 3 features and 100
entities x 50 features (issue #40's shapes). Each is read `calls` times in one process,
with random keys, once as a service that logs nothing and once as the same service logging
every call (rate 1.0) to a folder of parquet files; four rounds each, alternating (off, on, off,
on, ...), and each figure is the median of its rounds' p50 / p99. The logged rows are counted
at the end: every logged call must be in the files.
"""
from __future__ import annotations

import random
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ENTITIES = 10_000
FEATURES = 50
ROUNDS = 8


def _store(folder: Path):
    from featurestore import (
        Entity,
        FeatureService,
        FeatureView,
        Field,
        FileLoggingDestination,
        LoggingConfig,
        PushSource,
        SparkSource,
    )
    from featurestore.online.codec import encode_value, serialize_entity_key
    from featurestore.registry import RegistryState
    from featurestore.store import FeatureStore
    from featurestore.testing.repos import write_repo
    from featurestore.types import Float64, Int64

    write_repo(folder, project="bench_logging")
    store = FeatureStore(folder)
    driver = Entity(name="driver", join_keys=["driver_id"])
    batch = SparkSource(name="src", table="t", timestamp_field="ts")
    source = PushSource(name="push", batch_source=batch)
    names = [f"f{i}" for i in range(FEATURES)]
    view = FeatureView(name="stats", entities=[driver], source=source, ttl=timedelta(days=1),
                       schema=[Field(name="driver_id", dtype=Int64)] + [Field(name=n, dtype=Float64) for n in names])
    logs = LoggingConfig(destination=FileLoggingDestination(path="logs"), sample_rate=1.0)
    services = {(shape, logged): FeatureService(name=f"s{shape}_{'on' if logged else 'off'}",
                                                features=[view[names[:3] if shape == 3 else names]],
                                                logging_config=logs if logged else None)
                for shape in (3, FEATURES) for logged in (False, True)}

    def put(state: RegistryState) -> None:
        state.entities[driver.name] = driver
        state.data_sources[batch.name] = batch
        state.feature_views[view.name] = view
        state.feature_services.update({s.name: s for s in services.values()})

    store.registry_store.update(put)
    store.online_store.update(store.project, [view], [])
    now_us = int(time.time() * 1_000_000)
    rng = random.Random(1)
    rows = [(serialize_entity_key(["driver_id"], [d], [Int64]), now_us, 0,
             *[encode_value(rng.random(), Float64) for _ in names]) for d in range(ENTITIES)]
    store.online_store.online_write_flat(store.project, view, rows)
    return store, {key: store.get_feature_service(s.name) for key, s in services.items()}


def _percentiles(store, service, batches) -> tuple[float, float]:
    timings = []
    for rows in batches:
        start = time.perf_counter_ns()
        store.get_online_features(features=service, entity_rows=rows)
        timings.append(time.perf_counter_ns() - start)
    timings.sort()
    return timings[len(timings) // 2] / 1e6, timings[int(len(timings) * 0.99)] / 1e6


def run(calls_small: int = 20_000, calls_large: int = 2_000) -> list[dict]:
    from featurestore import feature_logging
    from featurestore.feature_logging.destinations import logged_rows_without_spark

    folder = Path(tempfile.mkdtemp(prefix="fs-bench-logging-"))
    results = []
    try:
        store, services = _store(folder / "repo")
        rng = random.Random(2)
        logged_calls = 0
        for shape, entities, calls in ((3, 1, calls_small), (FEATURES, 100, calls_large)):
            batches = [[{"driver_id": rng.randrange(ENTITIES)} for _ in range(entities)] for _ in range(calls)]
            _percentiles(store, services[(shape, False)], batches[:200])  # warm-up: plans, caches, the writer
            _percentiles(store, services[(shape, True)], batches[:200])
            logged_calls += 200 * entities
            figures = {False: [], True: []}
            for _ in range(ROUNDS // 2):
                for logged in (False, True):
                    figures[logged].append(_percentiles(store, services[(shape, logged)], batches))
                    logged_calls += calls * entities if logged else 0
            off_p50, off_p99 = (sorted(f[i] for f in figures[False])[len(figures[False]) // 2] for i in (0, 1))
            on_p50, on_p99 = (sorted(f[i] for f in figures[True])[len(figures[True]) // 2] for i in (0, 1))
            results.append({"shape": f"{entities} x {shape}", "calls": calls, "off_p50": off_p50, "on_p50": on_p50,
                            "off_p99": off_p99, "on_p99": on_p99})
        assert feature_logging.flush(120)
        written = logged_rows_without_spark({"path": str(folder / "repo" / "logs")}).num_rows
        for result in results:
            result["logged_rows"], result["expected_rows"] = written, logged_calls
        feature_logging.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results


def format_table(results: list[dict]) -> str:
    lines = [f"{'read':<10}{'calls':>8}{'p50 off':>10}{'p50 on':>10}{'p99 off':>10}{'p99 on':>10}{'p99 on/off':>12}"
             f"  target"]
    for r in results:
        ratio = r["on_p99"] / r["off_p99"]
        lines.append(f"{r['shape']:<10}{r['calls']:>8}{r['off_p50']:>9.3f}ms{r['on_p50']:>8.3f}ms"
                     f"{r['off_p99']:>8.3f}ms{r['on_p99']:>8.3f}ms{ratio:>11.2f}x  <= 1.10x: "
                     f"{'met' if ratio <= 1.10 else 'not met'}")
    if results:
        lines.append(f"log rows written: {results[0]['logged_rows']:,} of {results[0]['expected_rows']:,} logged")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_table(run()))
