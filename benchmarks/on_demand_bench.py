"""On-demand feature benchmark: what an on-demand view adds to an online read, per entity row.

A repo with one stored Float32 feature and two on-demand views computing `conv_rate +
val_to_add` (one in mode="python", one in mode="pandas") is applied to a SQLite store and
filled with N entities. For batches of 1, 100 and 1,000 entity rows it times
get_online_features of the stored feature alone and with the on-demand feature, and
reports the difference per entity row (median of the samples). Target: under 20 us per
row in python mode. No Spark is started.

    python -m benchmarks.on_demand_bench [--entities N] [--samples N]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

DEFINITIONS = '''
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, OnDemandFeatureView, RequestSource, SparkSource
from featurestore.types import Float32, Float64, Int64

driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(0),
    source=SparkSource(name="stats_src", table="bench_stats", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32)])
vals = RequestSource(name="vals", schema=[Field(name="val_to_add", dtype=Int64)])


def plus_python(inputs):
    return {"conv_rate_plus_val": [None if c is None else c + v for c, v in zip(inputs["conv_rate"], inputs["val_to_add"])]}


def plus_pandas(df):
    import pandas as pd

    return pd.DataFrame({"conv_rate_plus_val": df["conv_rate"] + df["val_to_add"]})


python_view = OnDemandFeatureView(name="python_view", sources=[stats, vals], udf=plus_python, mode="python",
                                  schema=[Field(name="conv_rate_plus_val", dtype=Float64)])
pandas_view = OnDemandFeatureView(name="pandas_view", sources=[stats, vals], udf=plus_pandas, mode="pandas",
                                  schema=[Field(name="conv_rate_plus_val", dtype=Float64)])
'''
TARGET_US = 20.0


def make_store(folder: Path, entities: int):
    from featurestore.online.base import OnlineRow
    from featurestore.online.codec import encode_value, serialize_entity_key
    from featurestore.store import FeatureStore
    from featurestore.types import Float32, Int64

    (folder / "feature_store.yaml").write_text("project: bench\nregistry: data/registry.db\n"
                                               "online_store:\n  type: sqlite\n  path: data/online_store.db\n")
    (folder / "features.py").write_text(textwrap.dedent(DEFINITIONS))
    store = FeatureStore(folder)
    store.apply(None, partial=False, validate=False)
    view = store.get_feature_view("stats")
    now = int(time.time() * 1_000_000)
    rows = [OnlineRow(serialize_entity_key(["driver_id"], [i], [Int64]), {"conv_rate": encode_value(i / 1024, Float32)},
                      now, 0) for i in range(entities)]
    store.online_store.online_write_batch(store.project, view, rows)
    return store


def run(entities: int = 10_000, samples: int = 50) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory(prefix="on-demand-bench-") as folder:
        store = make_store(Path(folder), entities)
        for size in (1, 100, 1000):
            rows = [{"driver_id": i * 7 % entities, "val_to_add": i} for i in range(size)]
            for mode in ("python", "pandas"):
                refs = ["stats:conv_rate", f"{mode}_view:conv_rate_plus_val"]
                store.get_online_features(refs, rows)  # warm: resolve and import the function once
                plain, with_view = [], []
                for _ in range(samples):
                    started = time.perf_counter()
                    store.get_online_features(refs[:1], rows)
                    plain.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    store.get_online_features(refs, rows)
                    with_view.append(time.perf_counter() - started)
                overhead = (statistics.median(with_view) - statistics.median(plain)) / size * 1e6
                results.append({"rows": size, "mode": mode, "read_us_per_row": statistics.median(plain) / size * 1e6,
                                "overhead_us_per_row": overhead})
    return results


def format_table(results: list[dict]) -> str:
    lines = ["On-demand features online (SQLite, trivial function), median per entity row:",
             f"{'rows':>6} {'mode':<7} {'read alone':>12} {'on-demand overhead':>20}  target"]
    for r in results:
        target = f"< {TARGET_US:g} us: {'met' if r['overhead_us_per_row'] < TARGET_US else 'MISSED'}" \
            if r["mode"] == "python" else ""
        lines.append(f"{r['rows']:>6} {r['mode']:<7} {r['read_us_per_row']:>9.2f} us {r['overhead_us_per_row']:>17.2f} us"
                     f"  {target}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    print(format_table(run(args.entities, args.samples)))


if __name__ == "__main__":
    main()
