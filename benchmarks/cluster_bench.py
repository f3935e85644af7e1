"""The same spark-submit jobs in local[2] and on a 2-worker standalone cluster, side by side.

A training-set build (the largest training benchmark size) and a Redis materialization
(1M entities x 24 hourly rows x 3 features), each run with jobs/*.py under spark-submit: once with
--master local[2], once with --master spark://... against `featurestore.runtime.cluster` (a
master and two 1-core workers on this machine). Wall times include JVM start-up.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import materialize_bench, training_set_bench
from featurestore.testing.repos import redis_online_store, write_repo

TRAINING_DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.types import Float32, Int32, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
driver_hourly_stats = FeatureView(name="driver_hourly_stats", entities=[driver], ttl=timedelta(days=1),
    source=SparkSource(name="stats", path="{path}", file_format="parquet", timestamp_field="event_timestamp",
                       created_timestamp_column="created"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32),
            Field(name="acc_rate", dtype=Float32), Field(name="avg_daily_trips", dtype=Int32)])
"""


def _repo(folder: Path, definitions: str, redis_server) -> Path:
    write_repo(folder, definitions, project="bench", online_store=redis_online_store(redis_server.host, redis_server.port))
    subprocess.run([sys.executable, "-m", "featurestore.cli", "--repo", str(folder), "apply"], check=True,
                   capture_output=True)
    return folder


def _submit(job: str, args: list[str], master: str) -> float:
    from featurestore.runtime.session import spark_submit_command

    conf = {"spark.executor.memory": "1500m", "spark.cores.max": "2"} if master.startswith("spark://") else {}
    root = Path(__file__).resolve().parent.parent
    started = time.perf_counter()
    result = subprocess.run(spark_submit_command(root / "jobs" / job, args, master=master, conf=conf),
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{job} on {master} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def run(spark, redis_server, size: str = "large", entities: int = 1_000_000) -> list[dict]:
    from featurestore.runtime import cluster

    work = Path(tempfile.mkdtemp(prefix="fs-bench-cluster-"))
    results = []
    running = cluster.start(work / "cluster", workers=2, worker_cores=1, worker_memory="2g")
    try:
        n_entities, hours, entity_rows = training_set_bench.SIZES[size]
        training_set_bench.generate(spark, work / "ts", n_entities, hours, entity_rows)
        materialize_bench.generate(spark, work / "driver_hourly.parquet", entities)
        ts_repo = _repo(work / "ts_repo", TRAINING_DEFINITIONS.format(path=work / "ts" / "features.parquet"),
                        redis_server)
        mat_repo = _repo(work / "mat_repo", materialize_bench.DEFINITIONS.format(
            path=work / "driver_hourly.parquet"), redis_server)
        entities_sql = f"SELECT * FROM parquet.`{work / 'ts' / 'entities.parquet'}`"
        refs = "driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate,driver_hourly_stats:avg_daily_trips"
        for name, master in (("local[2]", "local[2]"), ("2-worker cluster", running.master_url)):
            table = "ts_" + name.replace("[", "").replace("]", "").replace("-", "_").replace(" ", "_")
            training = _submit("build_training_set.py", ["--repo", str(ts_repo), "--entities", entities_sql,
                                                         "--features", refs, "--output", table, "--overwrite"], master)
            redis_server.flushall()
            materialize = _submit("materialize.py", ["materialize", "2026-01-01", "2026-01-02",
                                                     "--repo", str(mat_repo)], master)
            results.append({"where": name, "training_s": training, "materialize_s": materialize,
                            "feature_rows": n_entities * hours, "entity_rows": entity_rows, "entities": entities})
    finally:
        running.stop()
        shutil.rmtree(work, ignore_errors=True)
    return results


def print_table(results: list[dict]) -> None:
    first = results[0]
    print(f"\nThe same jobs in local[2] and on a 2-worker standalone cluster (spark-submit wall time, JVM start "
          f"included)\n  training set: {first['feature_rows']:,} feature rows x {first['entity_rows']:,} entity rows; "
          f"materialization: {first['entities']:,} entities (x 24 hourly rows) x 3 features into Redis")
    print(f"{'where':<18}{'training set s':>16}{'materialize s':>15}{'materialize rows/s':>20}")
    for r in results:
        print(f"{r['where']:<18}{r['training_s']:>16.1f}{r['materialize_s']:>15.1f}"
              f"{r['entities'] / r['materialize_s']:>20,.0f}")
