"""Materialization benchmark: Spark source -> online store, end to end, beside raw write bounds.

A generated source of N entities x 10 Float64 features (one row per entity) is
materialized with FeatureStore.materialize into SQLite and into Redis. The raw bounds
insert the same rows, already encoded, with plain executemany in one transaction
(SQLite, same table layout) or plain pipelined HSET (Redis).
"""
from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from datetime import UTC
from pathlib import Path

from tests.repo_helpers import redis_online_store, sqlite_online_store, write_repo

FEATURES = 10
DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.types import Float64, Int64
entity = Entity(name="entity", join_keys=["entity_id"])
wide = FeatureView(name="wide", entities=[entity], ttl=timedelta(0),
    source=SparkSource(name="wide_src", path="{path}", file_format="parquet", timestamp_field="event_ts"),
    schema=[Field(name="entity_id", dtype=Int64)] + [Field(name=f"f{{i}}", dtype=Float64) for i in range({features})])
"""


def generate(spark, path: Path, entities: int) -> None:
    from pyspark.sql import functions as F

    columns = [F.col("id").alias("entity_id"), F.timestamp_seconds(F.lit(1767225600) + F.col("id") % 3600)
               .alias("event_ts")]
    columns += [F.rand(i).alias(f"f{i}") for i in range(FEATURES)]
    spark.range(entities).select(*columns).write.mode("overwrite").parquet(str(path))


def make_store(folder: Path, source: Path, online_store: str):
    from featurestore.store import FeatureStore

    write_repo(folder, DEFINITIONS.format(path=source, features=FEATURES), project="bench", online_store=online_store)
    store = FeatureStore(folder)
    store.apply(store.load_repo(), partial=False)
    return store


def encoded_rows(entities: int):
    """The raw bound's input: (entity key, [(feature, value bytes)], ts), encoded before timing."""
    from featurestore.online.codec import entity_key_serializer, value_encoder
    from featurestore.types import Float64, Int64

    key = entity_key_serializer(["entity_id"], [Int64])
    encode = value_encoder(Float64)
    return [(key([i]), [(f"f{j}", encode(i * 0.001 + j)) for j in range(FEATURES)], 1767225600000000 + i)
            for i in range(entities)]


def raw_sqlite(path: Path, rows) -> float:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (entity_key BLOB, feature_name TEXT, value BLOB, event_ts timestamp, "
               "created_ts timestamp, PRIMARY KEY (entity_key, feature_name)) WITHOUT ROWID")
    flat = [(key, name, value, ts, 0) for key, values, ts in rows for name, value in values]
    start = time.perf_counter()
    with db:
        db.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", flat)
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def raw_redis(host: str, port: int, rows) -> float:
    import redis

    client = redis.Redis(host=host, port=port)
    start = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for i, (key, values, ts) in enumerate(rows):
        mapping = {f"wide:{name}": value for name, value in values}
        mapping["_ts:wide"] = ts
        pipe.hset(b"raw:" + key, mapping=mapping)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    elapsed = time.perf_counter() - start
    client.flushall()
    return elapsed


def run(spark, entities: int = 1_000_000, redis_server=None) -> list[dict]:
    from datetime import datetime

    work = Path(tempfile.mkdtemp(prefix="fs-bench-mat-"))
    results = []
    try:
        source = work / "wide.parquet"
        generate(spark, source, entities)
        start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
        rows = encoded_rows(entities)
        targets = [("sqlite", sqlite_online_store("online.db"))]
        if redis_server is not None:
            targets.append(("redis", redis_online_store(redis_server.host, redis_server.port)))
        for name, online_store in targets:
            store = make_store(work / name, source, online_store)
            began = time.perf_counter()
            result = store.materialize(start, end, log=lambda m: None)[0]
            ours = time.perf_counter() - began
            raw = raw_sqlite(work / "raw.db", rows) if name == "sqlite" else \
                raw_redis(redis_server.host, redis_server.port, rows)
            results.append({"store": name, "rows": result.rows_written, "ours_s": ours, "raw_s": raw})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def print_table(results: list[dict]) -> None:
    print("\nMaterialization, Spark local[2] -> online store, 10 Float64 features per entity")
    print(f"{'store':<8}{'entity rows':>13}{'ours s':>9}{'rows/s':>11}{'raw bound s':>13}{'ours/raw':>10}  target")
    for r in results:
        target = "<= 1.5x raw" if r["store"] == "sqlite" else ">= 50,000 rows/s"
        print(f"{r['store']:<8}{r['rows']:>13,}{r['ours_s']:>9.2f}{r['rows'] / r['ours_s']:>11,.0f}"
              f"{r['raw_s']:>13.2f}{r['ours_s'] / r['raw_s']:>9.2f}x  {target}")
