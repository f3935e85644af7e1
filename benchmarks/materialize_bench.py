"""Materialization benchmark: Spark source -> online store, end to end, beside raw write bounds.

The shape of issue #15: N entities with 24 hourly rows each (one day) and 3 features
(Float32, Float32, Int32), so the Spark selection picks 1 row in 24. `FeatureStore.materialize`
writes the newest row per entity into SQLite and into Redis, timed end to end (source read,
selection, transfer, encoding, write). The raw bounds write the same values, already
encoded, with nothing else: SQLite a plain `executemany` INSERT into the store's table
layout (one row per entity and feature) in one transaction; Redis plain pipelined HSET of
the same hash fields. `spark s` is the selection alone (the same rows to the noop sink).
"""
from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from featurestore.testing.repos import redis_online_store, sqlite_online_store, write_repo

HOURS = 24
BASE_SECONDS = 1767225600  # 2026-01-01T00:00:00Z
DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.types import Float32, Int32, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
driver_hourly = FeatureView(name="driver_hourly", entities=[driver], ttl=timedelta(days=1),
    source=SparkSource(name="driver_hourly_src", path="{path}", file_format="parquet",
                       timestamp_field="event_ts", created_timestamp_column="created"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32),
            Field(name="acc_rate", dtype=Float32), Field(name="avg_daily_trips", dtype=Int32)])
"""
FEATURES = ("conv_rate", "acc_rate", "avg_daily_trips")


def generate(spark, path: Path, entities: int) -> None:
    """entities x HOURS rows: driver_id, event_ts (hourly), created, and the 3 features."""
    from pyspark.sql import functions as F

    event_ts = F.timestamp_seconds(F.lit(BASE_SECONDS) + (F.col("id") / entities).cast("long") * 3600)
    spark.range(entities * HOURS).select(
        (F.col("id") % entities).alias("driver_id"), event_ts.alias("event_ts"),
        (event_ts + F.expr("INTERVAL 1 MINUTE")).alias("created"),
        F.rand(1).cast("float").alias("conv_rate"), F.rand(2).cast("float").alias("acc_rate"),
        (F.rand(3) * 1000).cast("int").alias("avg_daily_trips"),
    ).write.mode("overwrite").parquet(str(path))


def make_store(folder: Path, source: Path, online_store: str):
    from featurestore.store import FeatureStore

    write_repo(folder, DEFINITIONS.format(path=source), project="bench", online_store=online_store)
    store = FeatureStore(folder)
    store.apply(store.load_repo(), partial=False)
    return store


def encoded_rows(entities: int) -> list[tuple[bytes, list[tuple[str, bytes]], int, int]]:
    """The raw bounds' input, encoded before timing: (entity key, [(feature, value)], event_us, created_us)."""
    from featurestore.online.codec import entity_key_serializer, value_encoder
    from featurestore.types import Float32, Int32, Int64

    key = entity_key_serializer(["driver_id"], [Int64])
    floats, ints = value_encoder(Float32), value_encoder(Int32)
    event_us = (BASE_SECONDS + (HOURS - 1) * 3600) * 1_000_000
    return [(key([i]), [("conv_rate", floats(0.25)), ("acc_rate", floats(0.5)), ("avg_daily_trips", ints(i % 1000))],
             event_us, event_us + 60_000_000) for i in range(entities)]


def raw_sqlite(path: Path, rows) -> float:
    """A plain INSERT of every (entity, feature) value into the store's table layout, one transaction."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (entity_key BLOB, feature_name TEXT, value BLOB, event_ts timestamp, "
               "created_ts timestamp, PRIMARY KEY (entity_key, feature_name)) WITHOUT ROWID")
    start = time.perf_counter()
    flat = [(key, name, value, event_us, created_us) for key, values, event_us, created_us in rows
            for name, value in values]
    db.execute("BEGIN")
    db.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", flat)
    db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    path.unlink()
    return elapsed


def raw_redis(host: str, port: int, rows) -> float:
    """Plain pipelined HSET of the same fields, 1,000 hashes per round trip."""
    import redis

    client = redis.Redis(host=host, port=port)
    start = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for i, (key, values, event_us, _) in enumerate(rows):
        mapping = {f"driver_hourly:{name}": value for name, value in values}
        mapping["_ts:driver_hourly"] = event_us
        pipe.hset(b"raw:" + key, mapping=mapping)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    elapsed = time.perf_counter() - start
    client.flushall()
    return elapsed


def spark_selection_seconds(spark, store) -> float:
    """The Spark part alone: read, check and select the newest rows, to the noop sink."""
    from featurestore.materialize import latest_rows
    from featurestore.offline.sources import validate_feature_view

    view = store.registry.feature_view("driver_hourly")
    start = time.perf_counter()
    source_rows = validate_feature_view(store.spark, view, "materialization", store.repo_path)
    latest_rows(view, source_rows, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)) \
        .write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start


def warm_up(spark, work: Path) -> None:
    """One small materialization first, so JIT compilation and Python workers are not timed."""
    source = work / "warm_up.parquet"
    generate(spark, source, 10_000)
    store = make_store(work / "warm_up", source, sqlite_online_store("online.db"))
    for _ in range(2):
        spark_selection_seconds(spark, store)
        store.materialize(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), log=lambda m: None)


def run(spark, entity_counts=(100_000, 1_000_000), redis_server=None) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="fs-bench-mat-"))
    results = []
    try:
        warm_up(spark, work)
        for entities in entity_counts:
            source = work / f"driver_hourly_{entities}.parquet"
            generate(spark, source, entities)
            start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
            rows = encoded_rows(entities)
            targets = [("sqlite", sqlite_online_store("online.db"))]
            if redis_server is not None:
                targets.append(("redis", redis_online_store(redis_server.host, redis_server.port)))
            for name, online_store in targets:
                store = make_store(work / f"{name}_{entities}", source, online_store)
                selection = spark_selection_seconds(spark, store)
                began = time.perf_counter()
                result = store.materialize(start, end, log=lambda m: None)[0]
                ours = time.perf_counter() - began
                raw = raw_sqlite(work / "raw.db", rows) if name == "sqlite" else \
                    raw_redis(redis_server.host, redis_server.port, rows)
                if name == "redis":
                    store.teardown()
                results.append({"store": name, "entities": entities, "source_rows": entities * HOURS,
                                "rows": result.rows_written, "ours_s": ours, "spark_s": selection, "raw_s": raw})
            shutil.rmtree(source, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


TARGETS = {"sqlite": 1.5, "redis": 2.0}


def print_table(results: list[dict]) -> None:
    print(f"\nMaterialization, Spark local[2] -> online store: entities x {HOURS} hourly rows, 3 features")
    print(f"{'store':<8}{'entities':>11}{'source rows':>13}{'ours s':>9}{'spark s':>9}{'raw write s':>13}"
          f"{'ours/raw':>10}  target")
    for r in results:
        print(f"{r['store']:<8}{r['entities']:>11,}{r['source_rows']:>13,}{r['ours_s']:>9.2f}{r['spark_s']:>9.2f}"
              f"{r['raw_s']:>13.2f}{r['ours_s'] / r['raw_s']:>9.2f}x  <= {TARGETS[r['store']]}x raw")


def main() -> None:
    import argparse

    from featurestore.runtime.session import get_spark
    from featurestore.testing.redis import start_redis_server

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entities", default="100000,1000000")
    args = parser.parse_args()
    spark = get_spark(None, app_name="bench-materialize", master="local[2]",
                      overrides={"spark.sql.shuffle.partitions": "4"})
    with tempfile.TemporaryDirectory() as folder:
        server = start_redis_server(Path(folder))
        try:
            print_table(run(spark, tuple(int(n) for n in args.entities.split(",")), server))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
