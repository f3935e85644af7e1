"""`make bench`: every benchmark of the project, one after the other, as printed tables.

    python -m benchmarks.run [--quick] [--only startup,commands,training,aggregations,quality,materialize,online,
                                        on_demand,logging,load,serving,soak,stream,cluster]

Spark runs in local[2]; figures are wall times on whatever machine runs this (the
docs/performance.md quotes the development machine's). --quick uses small sizes to check the
harness, not to quote.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PARTS = ("startup", "commands", "training", "aggregations", "quality", "materialize", "online", "on_demand",
         "logging", "load", "serving", "soak", "stream", "cluster")


def spark_startup_seconds(runs: int = 2) -> list[float]:
    """Seconds from `get_spark()` to a usable session (Hive + Delta), in fresh processes."""
    code = ("import time, sys; t = time.perf_counter(); from featurestore.runtime.session import get_spark; "
            "s = get_spark(None, master='local[2]'); s.sql('SELECT 1').collect(); "
            "print(time.perf_counter() - t)")
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            env = dict(os.environ, FEATURESTORE_DATA_DIR=folder, TZ="UTC")
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
            times.append(float(out.stdout.strip().splitlines()[-1]))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: check the harness")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    args = parser.parse_args()
    parts = args.only.split(",")
    print(f"featurestore benchmarks on {platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")

    if "startup" in parts:
        times = spark_startup_seconds()
        print(f"\nSpark start-up (local[2], Hive + Delta, first query): "
              f"{', '.join(f'{t:.1f} s' for t in times)}")

    if "commands" in parts:  # before this process starts a JVM of its own: the commands measure cold shells
        from benchmarks import commands_bench

        print("\nThe author's loop, each command a fresh process: featurestore beside Feast (median of "
              f"{1 if args.quick else 3} runs; ours on the repo's warm Spark where Spark is needed)")
        print(commands_bench.format_table(commands_bench.run(runs=1 if args.quick else 3, with_demo=not args.quick)))

    spark = None
    if {"training", "aggregations", "quality", "materialize", "cluster"} & set(parts):
        from featurestore.runtime.session import get_spark

        os.environ.setdefault("FEATURESTORE_DATA_DIR", tempfile.mkdtemp(prefix="fs-bench-"))
        spark = get_spark(None, app_name="featurestore-bench", master="local[2]",
                          overrides={"spark.sql.shuffle.partitions": "4"})

    if "training" in parts:
        from benchmarks import training_set_bench

        training_set_bench.run(spark, ("small",), with_range_join=False)  # warm-up: JIT, caches
        cases = ("small", "720k x 100k", "720k x 100k, 2 views") if args.quick else tuple(training_set_bench.CASES)
        training_set_bench.print_table(training_set_bench.run(spark, cases))

    if "aggregations" in parts:
        from benchmarks import aggregation_bench

        sizes = dict(entities=1_000, hours=720, entity_rows=100_000) if args.quick else {}
        aggregation_bench.print_table(aggregation_bench.run(spark, **sizes))

    if "quality" in parts:
        from benchmarks import quality_bench

        quality_bench.run(spark, "small")  # warm-up: JIT, caches
        quality_bench.print_table(quality_bench.run(spark, "medium" if args.quick else "large"))

    if "materialize" in parts:
        from benchmarks import materialize_bench
        from featurestore.testing.redis import start_redis_server

        with tempfile.TemporaryDirectory() as folder:
            server = start_redis_server(Path(folder))
            try:
                entity_counts = (100_000,) if args.quick else (100_000, 1_000_000)
                materialize_bench.print_table(materialize_bench.run(spark, entity_counts, server))
            finally:
                server.stop()

    if "online" in parts:
        from benchmarks import online_bench

        rows = 100_000 if args.quick else 1_000_000
        print("\nOnline stores: writes and reads beside raw bounds")
        print(online_bench.format_table(online_bench.run(sqlite_rows=rows, redis_rows=min(rows, 200_000))))

    if "on_demand" in parts:
        from benchmarks import on_demand_bench

        print("\nOn-demand features: what an on-demand view adds to an online read")
        print(on_demand_bench.format_table(on_demand_bench.run(samples=20 if args.quick else 50)))

    if "logging" in parts:
        from benchmarks import logging_bench

        print("\nFeature logging: get_online_features of a service, without and with logging at rate 1.0")
        print(logging_bench.format_table(logging_bench.run(calls_small=5_000 if args.quick else 20_000,
                                                           calls_large=300 if args.quick else 2_000)))

    if "load" in parts:
        from benchmarks import load_bench

        print("\nLoad: 4 client processes of get_online_features while a writer runs")
        print(load_bench.format_table(load_bench.run(calls=1_000 if args.quick else 10_000)))

    if "serving" in parts:
        from benchmarks import serving_bench

        print("\nHTTP serving: featurestore serve beside Feast's feast serve and the in-process read (wrk)")
        print(serving_bench.format_table(serving_bench.run(seconds=1 if args.quick else 3,
                                                           calls=300 if args.quick else 2000)))

    if "soak" in parts:
        from benchmarks import serving_soak

        print("\nSoak: featurestore serve at a fixed rate while materialization rewrites every entity")
        print(serving_soak.format_result(serving_soak.run(minutes=1 if args.quick else 10, rate=200)))

    if "stream" in parts:
        from benchmarks import stream_freshness_bench

        print("\nStream freshness: an event committed (a Delta append, or a Kafka message acknowledged) until "
              "get_online_features returns it (trigger 500 ms, SQLite)")
        runs = [(1000, rate, source, 10) for source in ("delta", "kafka") for rate in (1000.0, 10000.0)]
        # 15 s of Kafka: a Delta checkpoint every 10 of the stream's appends (Delta's default), or every 100
        runs += [(15000, 1000.0, "kafka", interval) for interval in (10, 100)]
        print(stream_freshness_bench.format_table([stream_freshness_bench.run_one(events, rate, source,
                                                                                  checkpoint_interval=interval)
                                                   for events, rate, source, interval in runs]))

        from benchmarks import stream_throughput_bench

        print("\nStream throughput: 3 windowed aggregations over a Delta source with a day of history (trigger 500 ms, "
              "SQLite)")
        print(stream_throughput_bench.format_table([stream_throughput_bench.run_one(rate, seconds=10 if args.quick
                                                                                    else 20)
                                                    for rate in (1000.0, 5000.0, 20000.0)]))

    if "cluster" in parts:
        from benchmarks import cluster_bench
        from featurestore.testing.redis import start_redis_server

        with tempfile.TemporaryDirectory() as folder:
            server = start_redis_server(Path(folder))
            try:
                cluster_bench.print_table(cluster_bench.run(spark, server, "medium" if args.quick else "large",
                                                            100_000 if args.quick else 1_000_000))
            finally:
                server.stop()


if __name__ == "__main__":
    main()
