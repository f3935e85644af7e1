"""Profiling cost: what `save_as_table`'s stored profile adds to the training-set job it rides on.

The training-set benchmark's data (hourly feature rows, random entity rows, ttl 1 day,
three features): the training set is built and saved as a Delta table with
`save_as_table(profile=False)` and with `save_as_table()` (which also profiles every column
and stores the profile), alternately, each the best of REPEAT. Prints both times and what
the profile adds.
"""
from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.training_set_bench import SIZES, feature_view, generate
from featurestore.offline.retrieval import get_historical_features
from featurestore.registry import RegistryState

REPEAT = 3


def run(spark, size: str = "large") -> dict:
    work = Path(tempfile.mkdtemp(prefix="fs-bench-quality-"))
    table = f"bench_training_{uuid.uuid4().hex[:8]}"
    try:
        entities, hours, entity_rows = SIZES[size]
        feature_rows = generate(spark, work, entities, hours, entity_rows)
        registry = RegistryState(project="bench", feature_views={"driver_hourly_stats": feature_view(work)})
        refs = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips"]
        saved = profiled = float("inf")
        for _ in range(REPEAT):  # alternately, so that both see the same machine
            for profile in (False, True):
                started = time.perf_counter()
                job = get_historical_features(spark, registry, spark.read.parquet(str(work / "entities.parquet")), refs)
                job.save_as_table(table, mode="overwrite", profile=profile)
                elapsed = time.perf_counter() - started
                if profile:
                    profiled = min(profiled, elapsed)
                else:
                    saved = min(saved, elapsed)
        return {"size": size, "feature_rows": feature_rows, "entity_rows": entity_rows, "save_s": saved,
                "profiled_s": profiled}
    finally:
        spark.sql(f"DROP TABLE IF EXISTS {table}")
        shutil.rmtree(work, ignore_errors=True)


def print_table(result: dict) -> None:
    print("\nProfiling cost: training set saved as Delta without and with its profile (save_as_table)")
    print(f"{'case':<8}{'feature rows':>14}{'entity rows':>13}{'save s':>9}{'with profile s':>16}{'extra':>8}")
    print(f"{result['size']:<8}{result['feature_rows']:>14,}{result['entity_rows']:>13,}{result['save_s']:>9.2f}"
          f"{result['profiled_s']:>16.2f}{result['profiled_s'] / result['save_s'] - 1:>8.0%}")
