"""Profiles are exact where that is cheap (featurestore.quality.profile's docstring): distinct
counts of strings, booleans and columns of at most EXACT_DISTINCT_UP_TO estimated values,
and the mean and stddev of a constant column; the report marks what is estimated."""
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from featurestore.quality.profile import BINS, EXACT_DISTINCT_UP_TO, histogram_edges, profile_dataframe
from featurestore.quality.report import profile_text

pytestmark = pytest.mark.spark


def reference_histogram(values: list[float], edges: list[float]) -> list[int]:
    """Plain Python: each finite value in bin floor((v - low) / width), clamped to the bins."""
    low, width = edges[0], (edges[-1] - edges[0]) / BINS
    counts = [0] * BINS
    for value in values:
        if value is not None and math.isfinite(value):
            counts[min(max(math.floor((value - low) / width), 0), BINS - 1)] += 1
    return counts


def test_a_constant_timestamp_has_stddev_zero_and_its_own_mean(spark):
    moment = datetime(2026, 12, 2, 11, tzinfo=UTC)
    frame = spark.createDataFrame([(moment, 7.1)] * 50, "t timestamp, x double")
    profile = profile_dataframe(frame)
    for name, value in (("t", moment.timestamp()), ("x", 7.1)):
        column = profile[name]
        assert (column.stddev, column.mean, column.min, column.max) == (0.0, value, value, value)
        assert (column.distinct, column.distinct_exact) == (1, True)


def test_fifty_ids_count_fifty_and_many_values_are_marked_estimated(spark):
    rows = [(1000 + i % 50, f"id{i % 50}", float(i), i % 2 == 0) for i in range(3000)]
    profile = profile_dataframe(spark.createDataFrame(rows, "id bigint, name string, x double, even boolean"))
    assert [(profile[c].distinct, profile[c].distinct_exact) for c in ("id", "name", "even")] == \
        [(50, True), (50, True), (2, True)]
    assert profile["x"].distinct_exact is False and abs(profile["x"].distinct - 3000) <= 0.15 * 3000
    text = profile_text(profile)
    assert f"{profile['x'].distinct}~" in text and "(~ = estimated: HyperLogLog distinct count, within 5%)" in text
    assert "50~" not in text


def test_a_column_with_nan_and_infinities_counts_them_as_values_but_bins_only_finite_ones(spark):
    rows = [(1.0,), (1.0,), (2.5,), (float("nan"),), (float("inf"),), (float("-inf"),), (None,)]
    column = profile_dataframe(spark.createDataFrame(rows, "x double"))["x"]
    assert (column.distinct, column.distinct_exact) == (5, True)
    assert column.histogram["counts"] == reference_histogram([1.0, 1.0, 2.5], histogram_edges(1.0, 2.5))


@pytest.mark.parametrize("seed", range(4))
def test_histograms_counted_by_value_equal_the_plain_python_reference(spark, seed):
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    n_values = rng.choice([1, 3, 17, 200, EXACT_DISTINCT_UP_TO // 2])
    ints = [rng.randrange(n_values) * rng.choice([1, 7]) if rng.random() > 0.1 else None for _ in range(2000)]
    doubles = [None if v is None else v / 3 for v in ints]
    times = [None if v is None else start + timedelta(minutes=v) for v in ints]
    frame = spark.createDataFrame(list(zip(ints, doubles, times)), "i bigint, d double, t timestamp")
    profile = profile_dataframe(frame)
    for name, values in (("i", ints), ("d", doubles), ("t", [None if t is None else t.timestamp() for t in times])):
        finite = [v for v in values if v is not None]
        column = profile[name]
        assert (column.distinct, column.distinct_exact) == (len(set(finite)), True), name
        assert column.histogram["counts"] == reference_histogram(finite, column.histogram["edges"]), name
