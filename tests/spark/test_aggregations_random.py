"""Spark's windowed aggregations equal the plain-Python reference on many generated datasets.

Events sit on a coarse time grid so window edges fall exactly on event times; duplicate
event times, null values, null keys, empty windows, several windows and delays all
occur. Floats are compared to 1e-9 relative (prefix differences round differently from
a direct sum).
"""
import math
import random
from datetime import timedelta

import pytest

from featurestore import Aggregation, Entity, FeatureView, Field, SparkSource
from featurestore.types import Float64, Int64, String
from tests.offline_helpers import historical, t
from tests.reference_aggregate import reference_aggregate

pytestmark = pytest.mark.spark
SEEDS = range(8)
FUNCTIONS = ("count", "sum", "mean", "min", "max", "var", "stddev", "last", "approx_count_distinct")


def generate(seed):
    rng = random.Random(seed)
    drivers = [1, 2, 3, None] if seed % 2 else [1, 2]
    grid = [t(h, m) for h in range(0, 12) for m in (0, 30)]
    events = [(rng.choice(drivers), rng.choice(grid), rng.choice([None, rng.randint(-50, 50) / 4, rng.random() * 100]),
               rng.choice([None, rng.randint(-5, 5)]), rng.choice(["a", "b", "c", None]))
              for _ in range(rng.randint(0, 60))]
    entities = [(rng.choice(drivers), rng.choice(grid) + timedelta(minutes=rng.choice([0, 0, 15])))
                for _ in range(rng.randint(1, 20))]
    entities += entities[:2]
    windows = rng.sample([timedelta(minutes=30), timedelta(hours=1), timedelta(hours=3), timedelta(hours=7)], 2)
    aggregations = []
    for function in FUNCTIONS:
        column = rng.choice(["fare", "trips"]) if function not in ("approx_count_distinct",) else \
            rng.choice(["city", "trips"])
        if function == "count" and rng.random() < 0.5:
            column = None
        if function == "last" and rng.random() < 0.3:
            column = "city"
        aggregations.append(Aggregation(column=column, function=function, time_window=rng.choice(windows)))
    delay = rng.choice([timedelta(0), timedelta(0), timedelta(minutes=30), timedelta(minutes=45)])
    return events, entities, aggregations, delay


def close(actual, expected, function):
    if expected is None or actual is None:
        return actual == expected
    if function == "approx_count_distinct":
        return abs(actual - expected) <= max(1, 0.02 * expected)
    if isinstance(expected, float):
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)
    return actual == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_spark_aggregations_match_the_reference(spark, seed):
    events, entities, aggregations, delay = generate(seed)
    name = f"rand{seed}"
    table = f"agg_random_{seed}_{random.randrange(1 << 30)}"
    spark.createDataFrame(events, "driver_id bigint, event_ts timestamp, fare double, trips int, city string") \
        .write.format("delta").saveAsTable(table)
    view = FeatureView(name=name, entities=[Entity(name="driver", join_keys=["driver_id"])], delay=delay,
                       source=SparkSource(name=f"{name}_src", table=table, timestamp_field="event_ts"),
                       schema=[Field(name="driver_id", dtype=Int64)] + [
                           Field(name=c, dtype=d) for c, d in (("fare", Float64), ("trips", Int64), ("city", String))
                           if any(a.column == c for a in aggregations)],
                       aggregations=aggregations)
    frame = spark.createDataFrame(entities, "driver_id bigint, event_timestamp timestamp")
    actual = historical(spark, frame, [view], [f"{name}:{a.name}" for a in aggregations]).collect()
    expected = reference_aggregate(
        [{"driver_id": d, "ts": ts} for d, ts in entities], ["driver_id"],
        [{"driver_id": d, "event_ts": e, "fare": f, "trips": n, "city": c} for d, e, f, n, c in events],
        aggregations, delay)
    assert len(actual) == len(expected)
    key = lambda row: (row["driver_id"] is None, row["driver_id"] or 0, row["ts"])  # noqa: E731
    actual_rows = sorted(({**r.asDict(), "ts": r.event_timestamp.replace(tzinfo=None)} for r in actual), key=key)
    expected_rows = sorted(({**r, "ts": r["ts"].replace(tzinfo=None)} for r in expected), key=key)
    for got, want in zip(actual_rows, expected_rows):
        assert (got["driver_id"], got["ts"]) == (want["driver_id"], want["ts"])
        for a in aggregations:
            assert close(got[a.name], want[a.name], a.function), (seed, a, got["driver_id"], got["ts"], got[a.name],
                                                                  want[a.name])
