"""Windowed-aggregation benchmark: ours against the range-join formulation and DuckDB.

Generated events (entities x hourly rows, a fare each) and random entity rows, as
parquet, read by all three. Cases: 9 aggregations (count, sum, mean over 1h, 1d, 7d),
1 aggregation, and one sum over 1h and over 7d alone (window length must not matter).
Spark results are computed in full and discarded (`noop` sink); DuckDB materializes
its result into a temporary table. DuckDB's formulation is its fastest we know for this
query: one window pass over entity rows unioned with events, with RANGE frames
(segment trees), the frame's old end moved in by 1 us so that it is open as ours is.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from featurestore import Aggregation, Entity, FeatureView, Field, SparkSource
from featurestore.offline.retrieval import get_historical_features
from featurestore.registry import RegistryState
from featurestore.types import Float64, Int64

BASE = "2026-01-01 00:00:00"
WINDOWS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}
CASES = {
    "9 aggs (count,sum,mean x 1h,1d,7d)": [(f, w) for w in WINDOWS for f in ("count", "sum", "mean")],
    "1 agg (sum 1h)": [("sum", "1h")],
    "1 agg (sum 7d)": [("sum", "7d")],
}


def generate(spark, folder: Path, entities: int, hours: int, entity_rows: int) -> int:
    from pyspark.sql import functions as F

    total = entities * hours
    event_ts = F.timestamp_seconds(F.unix_timestamp(F.lit(BASE)) + (F.col("id") / entities).cast("long") * 3600)
    spark.range(total).select((F.col("id") % entities).alias("driver_id"), event_ts.alias("event_ts"),
                              F.round(F.rand(1) * 50, 2).alias("fare")) \
        .write.mode("overwrite").parquet(str(folder / "events.parquet"))
    spark.range(entity_rows).select(
        (F.abs(F.hash("id")) % entities).cast("long").alias("driver_id"),
        F.timestamp_seconds(F.unix_timestamp(F.lit(BASE)) + (F.rand(4) * hours * 3600).cast("long"))
        .alias("event_timestamp"), F.col("id").alias("row_id")) \
        .write.mode("overwrite").parquet(str(folder / "entities.parquet"))
    return total


def view(folder: Path, aggregations: list[tuple[str, str]]) -> FeatureView:
    return FeatureView(
        name="trips", entities=[Entity(name="driver", join_keys=["driver_id"])],
        source=SparkSource(name="trips_src", path=str(folder / "events.parquet"), timestamp_field="event_ts"),
        schema=[Field(name="driver_id", dtype=Int64), Field(name="fare", dtype=Float64)],
        aggregations=[Aggregation(column="fare", function=f, time_window=WINDOWS[w]) for f, w in aggregations])


def time_ours(spark, folder: Path, aggregations) -> float:
    trips = view(folder, aggregations)
    registry = RegistryState(project="bench", feature_views={"trips": trips})
    entity_df = spark.read.parquet(str(folder / "entities.parquet"))
    start = time.perf_counter()
    job = get_historical_features(spark, registry, entity_df, [f"trips:{f.name}" for f in trips.features])
    job.to_spark_df().write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start


def time_range_join(spark, folder: Path, aggregations) -> float:
    """Entity rows joined to every event of their key in the longest window, then grouped."""
    from pyspark.sql import functions as F

    entities = spark.read.parquet(str(folder / "entities.parquet"))
    events = spark.read.parquet(str(folder / "events.parquet")).select(
        F.col("driver_id").alias("e_driver"), F.col("event_ts").alias("e_ts"), "fare")
    longest = max(WINDOWS[w] for _, w in aggregations)
    start = time.perf_counter()
    joined = entities.join(events, (F.col("driver_id") == F.col("e_driver")) & (F.col("e_ts") <= F.col("event_timestamp"))
                           & (F.col("e_ts") > F.col("event_timestamp") - F.expr(f"INTERVAL {longest.days} DAYS"
                                                                                  if longest.days else "INTERVAL 1 HOUR")),
                           "left")
    outputs = []
    for function, window in aggregations:
        inside = F.col("e_ts") > F.col("event_timestamp") - F.lit(WINDOWS[window])
        value = F.when(inside, F.col("fare"))
        outputs.append({"count": F.count(value), "sum": F.sum(value), "mean": F.avg(value)}[function]
                       .alias(f"fare_{function}_{window}"))
    joined.groupBy("row_id", "driver_id", "event_timestamp").agg(*outputs) \
        .write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start


def time_duckdb(folder: Path, aggregations) -> float | None:
    try:
        import duckdb
    except ImportError:
        return None
    frames = []
    for function, window in aggregations:
        micros = WINDOWS[window] // timedelta(microseconds=1) - 1
        sql = {"count": "count(fare)", "sum": "sum(fare)", "mean": "avg(fare)"}[function]
        frames.append(f"{sql} OVER (PARTITION BY driver_id ORDER BY ts RANGE BETWEEN INTERVAL {micros} MICROSECONDS "
                      f"PRECEDING AND CURRENT ROW) AS fare_{function}_{window}")
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    start = time.perf_counter()
    con.execute(f"""
        CREATE TEMP TABLE result AS
        SELECT * EXCLUDE (is_entity) FROM (
            SELECT driver_id, ts, row_id, is_entity, {', '.join(frames)}
            FROM (SELECT driver_id, event_timestamp AS ts, row_id, 1 AS is_entity, NULL::DOUBLE AS fare
                  FROM read_parquet('{folder / "entities.parquet"}/*.parquet')
                  UNION ALL
                  SELECT driver_id, event_ts, NULL, 0, fare FROM read_parquet('{folder / "events.parquet"}/*.parquet')))
        WHERE is_entity = 1""")
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def run(spark, entities: int = 10_000, hours: int = 720, entity_rows: int = 1_000_000,
        with_range_join: bool = True) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="fs-bench-agg-"))
    results = []
    try:
        events = generate(spark, work, entities, hours, entity_rows)
        time_ours(spark, work, CASES["1 agg (sum 1h)"])  # warm-up
        for case, aggregations in CASES.items():
            results.append({"case": case, "events": events, "entity_rows": entity_rows,
                            "ours_s": time_ours(spark, work, aggregations),
                            "range_join_s": time_range_join(spark, work, aggregations) if with_range_join else None,
                            "duckdb_s": time_duckdb(work, aggregations)})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def print_table(results: list[dict]) -> None:
    print("\nWindowed aggregations (training set), Spark local[2] vs references")
    print(f"{'case':<36}{'events':>12}{'entity rows':>13}{'ours s':>9}{'range s':>9}{'range/ours':>11}"
          f"{'duckdb s':>10}{'ours/duck':>10}")
    for r in results:
        ranged = f"{r['range_join_s']:.2f}" if r["range_join_s"] else "-"
        speedup = f"{r['range_join_s'] / r['ours_s']:.1f}x" if r["range_join_s"] else "-"
        duck = f"{r['duckdb_s']:.2f}" if r["duckdb_s"] else "-"
        ratio = f"{r['ours_s'] / r['duckdb_s']:.1f}x" if r["duckdb_s"] else "-"
        print(f"{r['case']:<36}{r['events']:>12,}{r['entity_rows']:>13,}{r['ours_s']:>9.2f}{ranged:>9}{speedup:>11}"
              f"{duck:>10}{ratio:>10}")
    by_case = {r["case"]: r["ours_s"] for r in results}
    print(f"  7d window / 1h window: {by_case['1 agg (sum 7d)'] / by_case['1 agg (sum 1h)']:.2f}x; "
          f"9 aggregations / 1: {by_case['9 aggs (count,sum,mean x 1h,1d,7d)'] / by_case['1 agg (sum 1h)']:.2f}x")


if __name__ == "__main__":
    from featurestore.runtime.session import get_spark

    print_table(run(get_spark(None, app_name="bench-aggregations", master="local[2]",
                              overrides={"spark.sql.shuffle.partitions": "4"})))
