"""Training-set benchmark: our as-of join against the range-join formulation and DuckDB.

Generated hourly feature rows (entities x hours) and random entity rows, as parquet, read
by all three. Spark results are computed in full and discarded (the `noop` sink); DuckDB
materializes its result into a temporary table. Prints wall time, rows/s and ratios.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.offline.retrieval import get_historical_features
from featurestore.registry import RegistryState
from featurestore.types import Float32, Int32, Int64

SIZES = {"small": (1_000, 72, 100_000), "medium": (10_000, 72, 100_000), "large": (10_000, 720, 1_000_000)}
BASE = "2026-01-01 00:00:00"


def generate(spark, folder: Path, entities: int, hours: int, entity_rows: int, skewed: bool = False):
    """Write features.parquet and entities.parquet; with skewed, driver 0 holds half the feature rows."""
    from pyspark.sql import functions as F

    total = entities * hours
    ids = spark.range(total)
    if skewed:
        half = total // 2
        driver = F.when(F.col("id") < half, F.lit(0)).otherwise(1 + F.col("id") % (entities - 1))
        seconds = F.when(F.col("id") < half, (F.col("id") * (hours * 3600) / half).cast("long")) \
            .otherwise(((F.col("id") - half) / (entities - 1)).cast("long") * 7200)
    else:
        driver = F.col("id") % entities
        seconds = (F.col("id") / entities).cast("long") * 3600
    event_ts = F.timestamp_seconds(F.unix_timestamp(F.lit(BASE)) + seconds)
    features = ids.select(driver.cast("long").alias("driver_id"), event_ts.alias("event_timestamp"),
                          (event_ts + F.expr("INTERVAL 1 MINUTE")).alias("created"),
                          F.rand(1).cast("float").alias("conv_rate"), F.rand(2).cast("float").alias("acc_rate"),
                          (F.rand(3) * 1000).cast("int").alias("avg_daily_trips"))
    features.write.mode("overwrite").parquet(str(folder / "features.parquet"))
    rows = spark.range(entity_rows).select(
        (F.abs(F.hash("id")) % entities).cast("long").alias("driver_id"),
        F.timestamp_seconds(F.unix_timestamp(F.lit(BASE)) + (F.rand(4) * hours * 3600).cast("long"))
        .alias("event_timestamp"),
        F.col("id").alias("row_id"))
    rows.write.mode("overwrite").parquet(str(folder / "entities.parquet"))
    return total


def feature_view(folder: Path) -> FeatureView:
    driver = Entity(name="driver", join_keys=["driver_id"])
    source = SparkSource(name="bench_source", path=str(folder / "features.parquet"), file_format="parquet",
                         timestamp_field="event_timestamp", created_timestamp_column="created")
    return FeatureView(name="driver_hourly_stats", entities=[driver], source=source, ttl=timedelta(days=1),
                       schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32),
                               Field(name="acc_rate", dtype=Float32), Field(name="avg_daily_trips", dtype=Int32)])


def time_spark(spark, folder: Path, strategy: str) -> float:
    registry = RegistryState(project="bench", feature_views={"driver_hourly_stats": feature_view(folder)})
    entity_df = spark.read.parquet(str(folder / "entities.parquet"))
    refs = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips"]
    start = time.perf_counter()
    job = get_historical_features(spark, registry, entity_df, refs, strategy=strategy)
    job.to_spark_df().write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start


def time_duckdb(folder: Path) -> float | None:
    try:
        import duckdb
    except ImportError:
        return None
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    start = time.perf_counter()
    con.execute(f"""
        CREATE TEMP TABLE result AS
        WITH f AS (
            SELECT driver_id, event_timestamp AS fts, conv_rate, acc_rate, avg_daily_trips
            FROM (SELECT *, row_number() OVER (PARTITION BY driver_id, event_timestamp ORDER BY created DESC) AS rn
                  FROM read_parquet('{folder / "features.parquet"}/*.parquet')) WHERE rn = 1)
        SELECT e.*, CASE WHEN f.fts >= e.event_timestamp - INTERVAL 1 DAY THEN f.conv_rate END AS conv_rate,
               CASE WHEN f.fts >= e.event_timestamp - INTERVAL 1 DAY THEN f.acc_rate END AS acc_rate,
               CASE WHEN f.fts >= e.event_timestamp - INTERVAL 1 DAY THEN f.avg_daily_trips END AS avg_daily_trips
        FROM read_parquet('{folder / "entities.parquet"}/*.parquet') e
        ASOF LEFT JOIN f ON e.driver_id = f.driver_id AND e.event_timestamp >= f.fts""")
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def run(spark, sizes=("small", "medium", "large"), skew: bool = True, with_range_join: bool = True) -> list[dict]:
    results = []
    work = Path(tempfile.mkdtemp(prefix="fs-bench-ts-"))
    try:
        cases = [(name, False) for name in sizes]
        if skew:
            cases.append((sizes[-1], True))
        for name, skewed in cases:
            entities, hours, entity_rows = SIZES[name]
            folder = work / f"{name}{'_skewed' if skewed else ''}"
            feature_rows = generate(spark, folder, entities, hours, entity_rows, skewed)
            ours = time_spark(spark, folder, "window")
            ranged = time_spark(spark, folder, "range_join") if with_range_join else None
            duck = time_duckdb(folder) if not skewed else None
            results.append({"case": f"{name}{' (skewed)' if skewed else ''}", "feature_rows": feature_rows,
                            "entity_rows": entity_rows, "ours_s": ours, "range_join_s": ranged, "duckdb_s": duck})
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def print_table(results: list[dict]) -> None:
    print("\nTraining set (point-in-time join), Spark local[2] vs references")
    print(f"{'case':<16}{'feature rows':>14}{'entity rows':>13}{'ours s':>9}{'rows/s':>12}{'range s':>9}"
          f"{'range/ours':>11}{'duckdb s':>10}{'ours/duck':>10}")
    for r in results:
        rate = r["entity_rows"] / r["ours_s"]
        ranged = f"{r['range_join_s']:.2f}" if r["range_join_s"] else "-"
        speedup = f"{r['range_join_s'] / r['ours_s']:.1f}x" if r["range_join_s"] else "-"
        duck = f"{r['duckdb_s']:.2f}" if r["duckdb_s"] else "-"
        ratio = f"{r['ours_s'] / r['duckdb_s']:.1f}x" if r["duckdb_s"] else "-"
        print(f"{r['case']:<16}{r['feature_rows']:>14,}{r['entity_rows']:>13,}{r['ours_s']:>9.2f}{rate:>12,.0f}"
              f"{ranged:>9}{speedup:>11}{duck:>10}{ratio:>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="small,medium,large")
    parser.add_argument("--no-range-join", action="store_true")
    args = parser.parse_args()
    from featurestore.spark import get_spark

    spark = get_spark(None, app_name="bench-training-set", master="local[2]",
                      overrides={"spark.sql.shuffle.partitions": "4"})
    print_table(run(spark, tuple(args.sizes.split(",")), with_range_join=not args.no_range_join))


if __name__ == "__main__":
    main()
