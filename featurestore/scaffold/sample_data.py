"""Seeded sample data for the driver-ranking example: hourly driver stats, trip events, an entity table.

Each driver has a hidden quality; its conversion and acceptance rates and the label the
model learns (label_driver_reported_satisfaction) all depend on it, so a regression
trained on the features learns something real.
"""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

DRIVER_IDS = (1001, 1002, 1003, 1004, 1005)


def driver_stats_rows(end: datetime, days: int = 7, seed: int = 42) -> list[tuple]:
    """(driver_id, event_timestamp, conv_rate, acc_rate, avg_daily_trips, created) per driver-hour."""
    rng = random.Random(seed)
    end = end.replace(minute=0, second=0, microsecond=0)
    rows = []
    for driver_id in DRIVER_IDS:
        quality = 0.2 + 0.15 * (driver_id - DRIVER_IDS[0]) + rng.uniform(-0.05, 0.05)
        for hour in range(days * 24, 0, -1):
            ts = end - timedelta(hours=hour - 1)
            conv = min(1.0, max(0.0, quality + rng.gauss(0, 0.05)))
            acc = min(1.0, max(0.0, 0.5 * quality + 0.4 + rng.gauss(0, 0.05)))
            trips = int(200 + 600 * quality + rng.gauss(0, 40))
            rows.append((driver_id, ts, round(conv, 4), round(acc, 4), trips, ts + timedelta(minutes=5)))
    return rows


def trip_rows(end: datetime, days: int = 7, seed: int = 11) -> list[tuple]:
    """(driver_id, customer_id, fare, event_timestamp) trip events; better drivers take more trips."""
    rng = random.Random(seed)
    rows = []
    for driver_id in DRIVER_IDS:
        quality = 0.2 + 0.15 * (driver_id - DRIVER_IDS[0])
        for hour in range(days * 24, 0, -1):
            start = end - timedelta(hours=hour)
            for _ in range(rng.choice((0, 1, 1, 2, 3)) + round(2 * quality)):
                at = start + timedelta(seconds=rng.randint(0, 3599))
                fare = round(8 + 20 * quality + rng.gauss(0, 4), 2)
                rows.append((driver_id, f"c{rng.randint(1, 40)}", max(fare, 3.0), at.replace(microsecond=0)))
    return rows


def entity_rows(end: datetime, days: int = 7, per_driver: int = 40, seed: int = 7) -> list[tuple]:
    """(driver_id, event_timestamp, label_driver_reported_satisfaction) rows for training."""
    rng = random.Random(seed)
    start = end - timedelta(days=days)
    rows = []
    for driver_id in DRIVER_IDS:
        quality = 0.2 + 0.15 * (driver_id - DRIVER_IDS[0])
        for _ in range(per_driver):
            ts = start + timedelta(seconds=rng.randint(3600, days * 86400 - 60))
            label = max(1, min(5, round(1 + 4 * quality + rng.gauss(0, 0.3))))
            rows.append((driver_id, ts.replace(microsecond=0), label))
    return rows


def write_sample_tables(warehouse_dir, stats_table: str, entity_table: str, parquet_dir, end: datetime | None = None,
                        trips_table: str = "trip_events") -> list[str]:
    """write_sample_data's tables without Spark: Delta tables written with delta-rs where Spark
    keeps the `default` database's tables, and the stats as parquet too; returns the table names,
    which the repo's first Spark session registers (featurestore.runtime.unregistered_tables)."""
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake import write_deltalake

    end = end or datetime.now(UTC)
    time_type = pa.timestamp("us", tz="UTC")
    stats = _arrow_table(driver_stats_rows(end), [("driver_id", pa.int64()), ("event_timestamp", time_type),
                                                  ("conv_rate", pa.float32()), ("acc_rate", pa.float32()),
                                                  ("avg_daily_trips", pa.int32()), ("created", time_type)])
    entities = _arrow_table([(d, ts, float(label)) for d, ts, label in entity_rows(end)],
                            [("driver_id", pa.int64()), ("event_timestamp", time_type),
                             ("label_driver_reported_satisfaction", pa.float64())])
    trips = _arrow_table(trip_rows(end), [("driver_id", pa.int64()), ("customer_id", pa.string()),
                                          ("fare", pa.float64()), ("event_timestamp", time_type)])
    for table, name in ((stats, stats_table), (entities, entity_table), (trips, trips_table)):
        write_deltalake(str(Path(warehouse_dir) / name), table, mode="overwrite")
    Path(parquet_dir).mkdir(parents=True, exist_ok=True)
    pq.write_table(stats, Path(parquet_dir) / "part-00000.parquet")
    return [stats_table, entity_table, trips_table]


def _arrow_table(rows: list[tuple], columns: list) -> object:
    import pyarrow as pa

    return pa.table({name: pa.array([row[i] for row in rows], kind) for i, (name, kind) in enumerate(columns)})


def write_sample_data(spark, stats_table: str, entity_table: str, parquet_dir, end: datetime | None = None,
                      trips_table: str = "trip_events"):
    """Save the stats, trip and entity rows as Delta tables (and the stats as parquet too)."""
    from pyspark.sql.types import DoubleType, FloatType, IntegerType, LongType, StringType, StructField, StructType, TimestampType

    end = end or datetime.now(UTC)
    stats_schema = StructType([
        StructField("driver_id", LongType()), StructField("event_timestamp", TimestampType()),
        StructField("conv_rate", FloatType()), StructField("acc_rate", FloatType()),
        StructField("avg_daily_trips", IntegerType()), StructField("created", TimestampType())])
    entity_schema = StructType([
        StructField("driver_id", LongType()), StructField("event_timestamp", TimestampType()),
        StructField("label_driver_reported_satisfaction", DoubleType())])
    trips_schema = StructType([
        StructField("driver_id", LongType()), StructField("customer_id", StringType()),
        StructField("fare", DoubleType()), StructField("event_timestamp", TimestampType())])
    stats = spark.createDataFrame(driver_stats_rows(end), stats_schema)
    entities = spark.createDataFrame([(d, ts, float(label)) for d, ts, label in entity_rows(end)], entity_schema)
    trips = spark.createDataFrame(trip_rows(end), trips_schema)
    for frame, table in ((stats, stats_table), (entities, entity_table), (trips, trips_table)):
        (frame.coalesce(1).write.format("delta").mode("overwrite").option("overwriteSchema", "true")
         .saveAsTable(table))
    stats.coalesce(1).write.mode("overwrite").parquet(str(parquet_dir))
    return stats.count(), entities.count()
