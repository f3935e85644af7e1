"""Training-set benchmark: our point-in-time join beside the formulations users would write.

Generated hourly feature rows (entities x hours, ttl 1 day, 3 features) and random entity
rows, as parquet, read by every column of the table:

- ours: `get_historical_features` (the `window` strategy), written to Spark's `noop` sink;
- plain: the textbook union + `last(..., ignorenulls)` window, one pass per view, flat
  columns (its null handling differs from ours: a null in the newest row is filled from an
  older row; on this data, which has no nulls and no timestamp ties, the answers agree);
- range join: the range join + `row_number()` formulation (our `range_join` strategy);
- DuckDB: its fastest query we know that gives the same answer on this data, a plain
  `ASOF LEFT JOIN` per view (no deduplication window: the data has no ties), 2 threads,
  materialized into a temporary table.

Each figure is the best of two runs (the range join's, one run), after a warm-up.

The "last 3 days" case is a training set over recent entity rows only, as models are often
retrained: ours reads only the feature rows the entity rows can reach (the time range is
pushed into the Parquet scan); the plain formulation reads everything.

The two-view cases add a customer view keyed by `customer_id`, so the views share no join
keys and each needs its own pass: in the Spark-written layout one of the same size (hourly
rows for every key); in the one-file layout gen_data's (one row per customer per day, each
day kept with probability 0.75, at a random second of it: 32x fewer rows).

Layouts (issue #25 found the same sizes 2.3x dearer in another generator's files):
- spark: written by Spark, a few files, `created` one minute after the event;
- one file: the layout of `../shared/bench/gen_data.py` (and of a table appended hour by
  hour, then compacted): one parquet file, time-major, row groups of 2^20 rows, `created`
  up to an hour after the event (so it does not compress), 1% of entity rows with keys
  that have no feature rows, a label column; entity rows in one file and one row group;
- Delta, Z-ordered by key: the one-file rows in a Delta table after `OPTIMIZE ... ZORDER BY
  (driver_id)`, which lays the files out by key.

Besides the `noop` sink, `to_df()` (the training set as pandas, through Arrow) is timed on
the 7.2M x 1M cases, beside DuckDB's same query fetched into pandas.
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

# name: (entities, hours, entity rows)
SIZES = {"small": (1_000, 72, 100_000), "medium": (10_000, 72, 100_000), "long": (10_000, 720, 100_000),
         "large": (10_000, 720, 1_000_000)}
BASE = "2026-01-01 00:00:00"
VIEWS = {
    "driver_hourly_stats": ("driver_id", ["conv_rate", "acc_rate", "avg_daily_trips"]),
    "customer_daily_profile": ("customer_id", ["current_balance", "avg_passenger_count", "lifetime_trip_count"]),
}
TYPES = [Float32, Float32, Int32]


def _feature_rows(spark, entities: int, hours: int, key: str, features: list[str], seed: int, skewed: bool):
    from pyspark.sql import functions as F

    total = entities * hours
    ids = spark.range(total)
    if skewed:
        half = total // 2
        entity = F.when(F.col("id") < half, F.lit(0)).otherwise(1 + F.col("id") % (entities - 1))
        seconds = F.when(F.col("id") < half, (F.col("id") * (hours * 3600) / half).cast("long")) \
            .otherwise(((F.col("id") - half) / (entities - 1)).cast("long") * 7200)
    else:
        entity = F.col("id") % entities
        seconds = (F.col("id") / entities).cast("long") * 3600
    event_ts = F.timestamp_seconds(F.unix_timestamp(F.lit(BASE)) + seconds)
    return ids.select(entity.cast("long").alias(key), event_ts.alias("event_timestamp"),
                      (event_ts + F.expr("INTERVAL 1 MINUTE")).alias("created"),
                      F.rand(seed).cast("float").alias(features[0]), F.rand(seed + 1).cast("float").alias(features[1]),
                      (F.rand(seed + 2) * 1000).cast("int").alias(features[2]))


def generate(spark, folder: Path, entities: int, hours: int, entity_rows: int, skewed: bool = False,
             views: int = 1, recent_hours: int | None = None) -> int:
    """Write features.parquet (and customers.parquet with 2 views) and entities.parquet; returns the
    feature rows per view. With skewed, entity 0 holds half the feature rows; with recent_hours,
    the entity rows fall in the last recent_hours of the feature rows' time span."""
    from pyspark.sql import functions as F

    _feature_rows(spark, entities, hours, "driver_id", VIEWS["driver_hourly_stats"][1], 1, skewed) \
        .write.mode("overwrite").parquet(str(folder / "features.parquet"))
    if views > 1:
        _feature_rows(spark, entities, hours, "customer_id", VIEWS["customer_daily_profile"][1], 11, skewed) \
            .write.mode("overwrite").parquet(str(folder / "customers.parquet"))
    span = recent_hours or hours
    rows = spark.range(entity_rows).select(
        (F.abs(F.hash("id")) % entities).cast("long").alias("driver_id"),
        (F.abs(F.hash("id", F.lit(7))) % entities).cast("long").alias("customer_id"),
        F.timestamp_seconds(F.unix_timestamp(F.lit(BASE)) + (hours - span) * 3600 + (F.rand(4) * span * 3600).cast("long"))
        .alias("event_timestamp"),
        F.col("id").alias("row_id"))
    rows.write.mode("overwrite").parquet(str(folder / "entities.parquet"))
    return entities * hours


def generate_one_file(spark, folder: Path, entities: int, hours: int, entity_rows: int, views: int = 1,
                      zorder: bool = False) -> int:
    """The one-file layout (see the module docstring), written by pyarrow; with zorder, the feature
    rows go into Delta tables Z-ordered by key instead (registered as bench_<view>). Returns the
    feature rows of all views."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(42)
    start = int(np.datetime64(BASE.replace(" ", "T"), "us").astype(np.int64))
    hour = 3_600_000_000
    timestamp = pa.timestamp("us", tz="UTC")
    written = 0
    for name in list(VIEWS)[:views]:
        key, features = VIEWS[name]
        if name == "driver_hourly_stats":  # every key every hour
            keys = np.tile(np.arange(1, entities + 1, dtype=np.int64), hours)
            event = start + np.repeat(np.arange(hours, dtype=np.int64) * hour, entities)
        else:  # gen_data's customer view: a key's day kept with probability 0.75, at a random second of it
            days = hours // 24
            kept = rng.random(entities * days) < 0.75
            keys = np.tile(np.arange(1, entities + 1, dtype=np.int64), days)[kept]
            event = (start + np.repeat(np.arange(days, dtype=np.int64) * 24 * hour, entities)[kept]
                     + rng.integers(0, 86_400, int(kept.sum())) * 1_000_000)
        total = len(keys)
        written += total
        table = pa.table({
            key: keys,
            "event_timestamp": pa.array(event).cast(timestamp),
            "created": pa.array(event + rng.integers(0, hour, total)).cast(timestamp),
            features[0]: rng.random(total, dtype=np.float32), features[1]: rng.random(total, dtype=np.float32),
            features[2]: rng.integers(0, 1000, total, dtype=np.int32)})
        path = _path(folder, name)
        path.mkdir(parents=True)
        pq.write_table(table, path / "part-0.parquet", row_group_size=1 << 20, compression="snappy")
        if zorder:
            spark.sql(f"DROP TABLE IF EXISTS bench_{name}")
            spark.read.parquet(str(path)).write.format("delta").saveAsTable(f"bench_{name}")
            # files of at most 32 MB: Delta's default (1 GB) leaves one file, read by one task
            spark.conf.set("spark.databricks.delta.optimize.maxFileSize", str(32 << 20))
            spark.sql(f"OPTIMIZE bench_{name} ZORDER BY ({key})")
            spark.conf.unset("spark.databricks.delta.optimize.maxFileSize")
    known = rng.integers(1, entities + 1, entity_rows, dtype=np.int64)
    unknown = rng.random(entity_rows) < 0.01
    known[unknown] = entities + 1 + rng.integers(0, entities, int(unknown.sum()))
    rows = pa.table({
        "driver_id": known, "customer_id": rng.integers(1, entities + 1, entity_rows, dtype=np.int64),
        "event_timestamp": pa.array(start + rng.integers(0, hours * 3600, entity_rows) * 1_000_000).cast(timestamp),
        "label": rng.integers(0, 2, entity_rows, dtype=np.int32)})
    (folder / "entities.parquet").mkdir(parents=True)
    pq.write_table(rows, folder / "entities.parquet" / "part-0.parquet", row_group_size=1 << 20,
                   compression="snappy")
    return written


def _path(folder: Path, view: str) -> Path:
    return folder / ("features.parquet" if view == "driver_hourly_stats" else "customers.parquet")


def feature_view(folder: Path, name: str = "driver_hourly_stats", table: bool = False) -> FeatureView:
    """The view over the generated rows: their parquet path, or with table the Delta table bench_<name>."""
    key, features = VIEWS[name]
    entity = Entity(name=key.removesuffix("_id"), join_keys=[key])
    where = {"table": f"bench_{name}"} if table else {"path": str(_path(folder, name)), "file_format": "parquet"}
    source = SparkSource(name=f"{name}_source", **where, timestamp_field="event_timestamp",
                         created_timestamp_column="created")
    return FeatureView(name=name, entities=[entity], source=source, ttl=timedelta(days=1),
                       schema=[Field(name=key, dtype=Int64)] + [Field(name=f, dtype=t) for f, t in zip(features, TYPES)])


def _refs(views: int) -> list[str]:
    return [f"{name}:{f}" for name, (_, features) in list(VIEWS.items())[:views] for f in features]


def time_spark(spark, folder: Path, strategy: str, views: int = 1, to_pandas: bool = False,
               table: bool = False) -> float:
    """Seconds for the whole training set to the noop sink, or with to_pandas through `to_df()`."""
    names = list(VIEWS)[:views]
    registry = RegistryState(project="bench", feature_views={n: feature_view(folder, n, table) for n in names})
    entity_df = spark.read.parquet(str(folder / "entities.parquet"))
    start = time.perf_counter()
    job = get_historical_features(spark, registry, entity_df, _refs(views), strategy=strategy)
    if to_pandas:
        job.to_df()
    else:
        job.to_spark_df().write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start


def plain_union_window(spark, folder: Path, views: int = 1):
    """The textbook as-of join: per view, union entity and feature rows, last non-null value per column."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    result = spark.read.parquet(str(folder / "entities.parquet"))
    entity_columns = result.columns
    for name in list(VIEWS)[:views]:
        key, features = VIEWS[name]
        rows = spark.read.parquet(str(_path(folder, name)))
        feature_part = rows.select(key, F.col("event_timestamp").alias("ts"), F.lit(0).alias("is_entity"),
                                   F.col("event_timestamp").alias("feature_ts"), *features)
        entity_part = result.select(*[F.col(c) for c in result.columns], F.col("event_timestamp").alias("ts"),
                                    F.lit(1).alias("is_entity"))
        union = entity_part.unionByName(feature_part, allowMissingColumns=True)
        window = Window.partitionBy(key).orderBy("ts", "is_entity").rowsBetween(Window.unboundedPreceding, 0)
        latest = union.select(*result.columns, "is_entity", "ts",
                              *[F.last(c, ignorenulls=True).over(window).alias(f"__last_{c}")
                                for c in ["feature_ts", *features]]).where("is_entity = 1")
        fresh = F.col("__last_feature_ts") >= F.col("ts") - F.expr("INTERVAL 1 DAY")
        result = latest.select(*result.columns, *[F.when(fresh, F.col(f"__last_{f}")).alias(f) for f in features])
    return result.select(*entity_columns, *[f for n in list(VIEWS)[:views] for f in VIEWS[n][1]])


def time_plain(spark, folder: Path, views: int = 1) -> float:
    start = time.perf_counter()
    plain_union_window(spark, folder, views).write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start


def time_duckdb(folder: Path, views: int = 1, to_pandas: bool = False) -> float | None:
    """Seconds for DuckDB's query into a temporary table, or with to_pandas fetched as pandas."""
    try:
        import duckdb
    except ImportError:
        return None
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    selects, joins = ["e.*"], []
    for i, name in enumerate(list(VIEWS)[:views]):
        key, features = VIEWS[name]
        selects += [f"CASE WHEN f{i}.event_timestamp >= e.event_timestamp - INTERVAL 1 DAY THEN f{i}.{f} END AS {f}"
                    for f in features]
        joins.append(f"ASOF LEFT JOIN read_parquet('{_path(folder, name)}/*.parquet') f{i} "
                     f"ON e.{key} = f{i}.{key} AND e.event_timestamp >= f{i}.event_timestamp")
    query = f"SELECT {', '.join(selects)} FROM read_parquet('{folder / 'entities.parquet'}/*.parquet') e {' '.join(joins)}"
    start = time.perf_counter()
    con.execute(query).df() if to_pandas else con.execute(f"CREATE TEMP TABLE result AS {query}")
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


REPEAT = 2  # ours, plain and DuckDB: the best of two runs (the range join runs once: it is slow)
CASES = {  # label: (size, views, skewed, entity rows in the last N hours only, layout)
    "720k x 100k": ("medium", 1, False, None, "spark"),
    "720k x 100k, 2 views": ("medium", 2, False, None, "spark"),
    "7.2M x 100k": ("long", 1, False, None, "spark"),
    "7.2M x 100k, last 3 days": ("long", 1, False, 72, "spark"),
    "7.2M x 1M": ("large", 1, False, None, "spark"),
    "7.2M x 1M, 2 views": ("large", 2, False, None, "spark"),
    "7.2M x 1M, skewed": ("large", 1, True, None, "spark"),
    "7.2M x 1M, one file": ("large", 1, False, None, "one file"),
    "7.2M x 1M, one file, 2 views": ("large", 2, False, None, "one file"),
    "7.2M x 1M, Delta Z-ordered": ("large", 1, False, None, "delta zorder"),
}
PANDAS_CASES = ("7.2M x 1M", "7.2M x 1M, one file")  # to_df() timed beside DuckDB into pandas


def run(spark, cases=tuple(CASES), with_range_join: bool = True) -> list[dict]:
    results = []
    work = Path(tempfile.mkdtemp(prefix="fs-bench-ts-"))
    try:
        for label in cases:
            size, views, skewed, recent_hours, layout = CASES.get(label, (label, 1, False, None, "spark"))
            entities, hours, entity_rows = SIZES[size]
            folder = work / label.replace(" ", "_").replace(",", "")
            if layout == "spark":
                feature_rows = views * generate(spark, folder, entities, hours, entity_rows, skewed, views,
                                                recent_hours)
            else:
                feature_rows = generate_one_file(spark, folder, entities, hours, entity_rows, views,
                                                 zorder=layout == "delta zorder")
            table = layout == "delta zorder"
            references = not skewed and not table  # the Z-ordered case is ours on another layout of the same rows
            pandas = label in PANDAS_CASES
            results.append({
                "case": label, "feature_rows": feature_rows, "entity_rows": entity_rows, "views": views,
                "ours_s": min(time_spark(spark, folder, "window", views, table=table) for _ in range(REPEAT)),
                "to_df_s": min(time_spark(spark, folder, "window", views, to_pandas=True) for _ in range(REPEAT))
                if pandas else None,
                "plain_s": min(time_plain(spark, folder, views) for _ in range(REPEAT)) if not table else None,
                "range_join_s": time_spark(spark, folder, "range_join", views) if with_range_join and not table
                else None,
                "duckdb_s": min(time_duckdb(folder, views) or 0 for _ in range(REPEAT)) if references else None,
                "duckdb_pandas_s": min(time_duckdb(folder, views, to_pandas=True) or 0 for _ in range(REPEAT))
                if pandas else None})
            for name in list(VIEWS)[:views] if table else ():
                spark.sql(f"DROP TABLE IF EXISTS bench_{name}")
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def _seconds(value: float | None) -> str:
    return f"{value:.2f}" if value else "-"


def _ratio(numerator: float | None, denominator: float | None) -> str:
    return f"{numerator / denominator:.1f}x" if numerator and denominator else "-"


def print_table(results: list[dict]) -> None:
    print("\nTraining set (point-in-time join, ttl 1 day, 3 features per view), Spark local[2] beside references")
    print(f"{'case':<28}{'feature rows':>14}{'ours s':>9}{'plain s':>9}{'plain/ours':>11}{'range s':>9}"
          f"{'range/ours':>11}{'duckdb s':>10}{'ours/duck':>10}")
    one_view = {}
    for r in results:
        print(f"{r['case']:<28}{r['feature_rows']:>14,}{r['ours_s']:>9.2f}{_seconds(r['plain_s']):>9}"
              f"{_ratio(r['plain_s'], r['ours_s']):>11}{_seconds(r['range_join_s']):>9}"
              f"{_ratio(r['range_join_s'], r['ours_s']):>11}{_seconds(r['duckdb_s']):>10}"
              f"{_ratio(r['ours_s'], r['duckdb_s']):>10}")
        base = r["case"].replace(", 2 views", "")
        if r["views"] == 1:
            one_view[r["case"]] = r["ours_s"]
        elif base in one_view:
            print(f"{'':<28}2 views / 1 view (ours): {r['ours_s'] / one_view[base]:.2f}x (target <= 1.5x)")
    print("\nThe same training sets as pandas: to_df() beside the noop sink and DuckDB fetched into pandas")
    print(f"{'case':<28}{'noop s':>9}{'to_df s':>9}{'to_df/noop':>11}{'duckdb->pandas s':>18}{'to_df/duck':>11}")
    for r in results:
        if r["to_df_s"]:
            print(f"{r['case']:<28}{r['ours_s']:>9.2f}{r['to_df_s']:>9.2f}{r['to_df_s'] / r['ours_s'] - 1:>+11.0%}"
                  f"{_seconds(r['duckdb_pandas_s']):>18}{_ratio(r['to_df_s'], r['duckdb_pandas_s']):>11}")
    print("targets: to_df/duck <= 3x at 7.2M x 1M (both layouts); to_df adds <= 25% over noop; 2 views <= 1.5x one")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=";".join(CASES), help=f"';'-separated subset of: {'; '.join(CASES)}")
    parser.add_argument("--no-range-join", action="store_true")
    args = parser.parse_args()
    from featurestore.runtime.session import get_spark

    spark = get_spark(None, app_name="bench-training-set", master="local[2]",
                      overrides={"spark.sql.shuffle.partitions": "4"})
    cases = tuple(args.cases.split(";"))
    run(spark, ("small",), with_range_join=False)  # warm-up: JIT, caches
    print_table(run(spark, cases, with_range_join=not args.no_range_join))


if __name__ == "__main__":
    main()
