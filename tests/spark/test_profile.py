"""Profiles: exact statistics on small frames, JSON round trip, pandas, plots, storage beside
the table (Delta versions, time travel), a view's source over an interval, bad input."""
import json
import math
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from featurestore.errors import NotFoundError, ValidationError
from featurestore.quality.profile import (
    Profile,
    histogram_edges,
    load_profile,
    profile_dataframe,
    profile_table,
    profile_view,
    store_profile,
    stored_versions,
)

UTC = UTC


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_import_stays_light():
    code = ("import sys, featurestore.quality, featurestore.quality.profile, featurestore.quality.drift, "
            "featurestore.quality.report, featurestore.cli.quality_commands, featurestore.quality.expectations; "
            "print(sorted(m for m in ('pyspark', 'matplotlib') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def small(spark):
    rows = [(1.0, 10, "a", True, datetime(2026, 1, 1), date(2026, 1, 1)),
            (2.0, 20, "b", False, datetime(2026, 1, 2), date(2026, 1, 2)),
            (3.0, 20, "a", True, datetime(2026, 1, 3), None),
            (4.0, None, "c", True, None, None),
            (float("nan"), 30, "a", None, datetime(2026, 1, 5), date(2026, 1, 1)),
            (None, 40, None, False, datetime(2026, 1, 5), date(2026, 1, 1)),
            (float("inf"), 10, "b", True, datetime(2026, 1, 5), date(2026, 1, 1))]
    frame = spark.createDataFrame(rows, "x double, n bigint, s string, b boolean, t timestamp, d date")
    return profile_dataframe(frame)


@pytest.mark.spark
def test_numeric_column_exact(small):
    x = small["x"]
    assert (small.rows, x.kind, x.rows, x.nulls, x.nans, x.infinities) == (7, "numeric", 7, 1, 1, 1)
    assert (x.min, x.max, x.mean) == (1.0, 4.0, 2.5)
    assert x.stddev == pytest.approx(math.sqrt(5 / 3), rel=1e-12)  # sample stddev of 1, 2, 3, 4
    assert x.quantiles == {"p1": 1.0, "p5": 1.0, "p25": 1.0, "p50": 2.0, "p75": 3.0, "p95": 4.0, "p99": 4.0}
    assert x.distinct == 6  # 1, 2, 3, 4, NaN, inf: non-null values
    assert x.histogram["edges"] == histogram_edges(1.0, 4.0)
    assert x.histogram["edges"][0] == 1.0 and x.histogram["edges"][-1] == 4.0 and len(x.histogram["edges"]) == 21
    # width 0.15: 1 -> bin 0, 2 -> 6, 3 -> 13, 4 -> 19 (the last bin includes max)
    assert x.histogram["counts"] == [1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    assert x.top_values is None

    n = small["n"]
    assert (n.nulls, n.nans, n.min, n.max, n.mean, n.distinct) == (1, 0, 10.0, 40.0, 130 / 6, 4)
    assert n.quantiles["p50"] == 20.0
    assert sum(n.histogram["counts"]) == 6 and n.histogram["counts"][0] == 2 and n.histogram["counts"][19] == 1


@pytest.mark.spark
def test_string_boolean_timestamp_columns_exact(small):
    s = small["s"]
    assert (s.kind, s.nulls, s.min, s.max, s.distinct, s.mean, s.histogram) == ("string", 1, "a", "c", 3, None, None)
    assert s.top_values == [["a", 3], ["b", 2], ["c", 1]]

    b = small["b"]
    assert (b.kind, b.nulls, b.min, b.max, b.mean) == ("boolean", 1, 0.0, 1.0, 4 / 6)
    assert b.top_values == [[True, 4], [False, 2]]

    t = small["t"]
    day = 86400.0
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert (t.kind, t.nulls, t.min, t.max) == ("timestamp", 1, start, start + 4 * day)
    assert t.mean == start + (0 + 1 + 2 + 4 + 4 + 4) * day / 6
    assert t.quantiles["p50"] == start + 2 * day
    d = small["d"]
    assert (d.kind, d.nulls, d.min, d.max, d.distinct) == ("timestamp", 2, start, start + day, 2)
    assert d.histogram["counts"][0] == 4 and d.histogram["counts"][19] == 1


@pytest.mark.spark
def test_json_round_trip_has_no_nan(small):
    text = small.to_json()
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    assert data["columns"]["x"]["quantiles"]["p50"] == 2.0
    assert Profile.from_dict(data) == small
    assert Profile.from_json(text).to_dict() == small.to_dict()


@pytest.mark.spark
def test_undefined_statistics_are_null(spark):
    frame = spark.createDataFrame([(None, 5.0), (float("nan"), None)], "x double, one double")
    profile = profile_dataframe(frame)
    x, one = profile["x"], profile["one"]
    assert (x.nulls, x.nans, x.min, x.max, x.mean, x.stddev, x.histogram) == (1, 1, None, None, None, None, None)
    assert set(x.quantiles.values()) <= {None}
    assert (one.mean, one.stddev) == (5.0, None)  # stddev of one value is undefined
    assert one.histogram["edges"][0] == 4.5 and one.histogram["edges"][-1] == 5.5  # min == max
    assert one.histogram["counts"][10] == 1 and sum(one.histogram["counts"]) == 1
    assert "NaN" not in profile.to_json()


@pytest.mark.spark
def test_to_pandas_one_row_per_column(small):
    frame = small.to_pandas()
    assert list(frame.index) == ["x", "n", "s", "b", "t", "d"]
    assert frame.loc["x", "mean"] == 2.5 and frame.loc["x", "p75"] == 3.0
    assert frame.loc["s", "null_fraction"] == pytest.approx(1 / 7)
    assert str(frame.loc["t", "min"]) == "2026-01-01 00:00:00+00:00"


@pytest.mark.spark
def test_plot_one_axes_per_column_with_overlay(small, spark):
    figure = small.plot()
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert titles == ["x", "n", "s", "b", "t", "d"]
    other = profile_dataframe(spark.createDataFrame([(5.0, 1, "z", True, datetime(2026, 2, 1), date(2026, 2, 1))],
                                                    "x double, n bigint, s string, b boolean, t timestamp, d date"))
    overlaid = small.plot(other, columns=["x", "s"])
    axes = [ax for ax in overlaid.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["x", "s"]
    assert all(len(ax.get_legend().get_texts()) == 2 for ax in axes)
    with pytest.raises(NotFoundError, match="no column 'y'"):
        small.plot(columns=["y"])


@pytest.mark.spark
def test_edges_from_reference_bins_on_its_edges(spark, small):
    frame = spark.createDataFrame([(0.0, "a"), (2.0, "z"), (100.0, "c"), (None, "z")], "x double, s string")
    profile = profile_dataframe(frame, edges_from=small)
    assert profile["x"].histogram["edges"] == small["x"].histogram["edges"]
    # 0 is below the first edge (bin 0), 2 -> bin 6, 100 is above the last (bin 19)
    assert profile["x"].histogram["counts"] == [1, 0, 0, 0, 0, 0, 1] + [0] * 12 + [1]
    assert profile["s"].top_values == [["z", 2], ["a", 1], ["c", 1]]
    assert profile["s"].reference_value_counts == {"a": 1, "b": 0, "c": 1}


@pytest.mark.spark
def test_unknown_column_is_one_line(spark):
    frame = spark.createDataFrame([(1.0,)], "rate double")
    with pytest.raises(ValidationError) as error:
        profile_dataframe(frame, columns=["rte"])
    assert str(error.value) == ("cannot profile column 'rte': it is not in the frame, whose columns are rate. "
                                "Did you mean 'rate'?")


@pytest.mark.spark
def test_store_and_load_by_delta_version_and_time_travel(spark):
    table = unique("prof_delta")
    spark.createDataFrame([(1, 1.0), (2, 2.0)], "id bigint, v double").write.format("delta").saveAsTable(table)
    with pytest.raises(NotFoundError) as error:
        load_profile(spark, table)
    assert str(error.value) == (f"table default.{table} has no stored profile; run `featurestore profile "
                                f"default.{table}` first")
    first = store_profile(spark, table)
    assert first.source == {"table": f"default.{table}", "version": 0}
    spark.createDataFrame([(3, 9.0)], "id bigint, v double").write.format("delta").mode("append").saveAsTable(table)
    second = store_profile(spark, table, columns=["v"])
    assert (second.source["version"], second.rows, list(second.columns)) == (1, 3, ["v"])
    assert stored_versions(spark, table) == [0, 1]
    assert load_profile(spark, table) == second
    assert load_profile(spark, table, 0) == first
    # a time-travel rebuild of version 0 profiles the same as the original
    rebuilt = profile_table(spark, table, version=0)
    assert rebuilt.to_dict()["columns"] == first.to_dict()["columns"]
    # storing a version again: its newest profile is the one read
    store_profile(spark, table, 0, columns=["id"])
    assert list(load_profile(spark, table, 0).columns) == ["id"]
    assert stored_versions(spark, table) == [0, 1]
    assert spark.table("default.featurestore_profiles").where(f"table_name = 'default.{table}'").count() == 3
    with pytest.raises(NotFoundError, match=r"no stored profile of version 7 \(stored: 0, 1\); run `featurestore "
                                            r"profile default\.\w+ --version 7` first"):
        load_profile(spark, table, 7)
    with pytest.raises(ValidationError, match=r"has no version 5: its versions are 0 to 1"):
        profile_table(spark, table, version=5)


@pytest.mark.spark
def test_non_delta_table_is_stored_unversioned(spark):
    table = unique("prof_parquet")
    spark.createDataFrame([(1.5,)], "v double").write.format("parquet").saveAsTable(table)
    stored = store_profile(spark, table)
    assert stored.source["version"] == -1 and load_profile(spark, table)["v"].mean == 1.5
    with pytest.raises(NotFoundError, match="does not exist in the warehouse"):
        store_profile(spark, unique("missing"))


@pytest.mark.spark
def test_profile_view_over_interval_with_field_mapping(spark):
    from featurestore import Entity, FeatureView, Field, SparkSource
    from featurestore.types import Float64, Int64

    table = unique("prof_view_src")
    spark.createDataFrame([(1, datetime(2026, 1, 1, 0), 1.0, 5), (1, datetime(2026, 1, 1, 12), 3.0, 6),
                           (2, datetime(2026, 1, 2, 0), 100.0, 7), (2, datetime(2025, 12, 31), -1.0, 8)],
                          "driver_id bigint, event_ts timestamp, raw_rate double, trips bigint") \
        .write.format("delta").saveAsTable(table)
    driver = Entity(name="driver", join_keys=["driver_id"])
    view = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1),
                       source=SparkSource(name="src", table=table, timestamp_field="event_ts",
                                          field_mapping={"raw_rate": "rate"}),
                       schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64),
                               Field(name="trips", dtype=Int64)])
    profile = profile_view(spark, view, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2))
    assert list(profile.columns) == ["rate", "trips"]  # features only: no keys, no timestamp
    assert (profile.rows, profile["rate"].mean, profile["trips"].max) == (2, 2.0, 6.0)  # [start, end)
    assert profile.source == {"view": "stats", "start": "2026-01-01T00:00:00+00:00",
                              "end": "2026-01-02T00:00:00+00:00"}
    with pytest.raises(ValidationError, match=r"start 2026-01-02T00:00:00\+00:00 is not before end"):
        profile_view(spark, view, datetime(2026, 1, 2), datetime(2026, 1, 1))


@pytest.mark.spark
def test_empty_frame_odd_names_decimals_and_other_types(spark):
    schema = "`a.b` double, `we ird` string, `back``tick` decimal(10,2), arr array<int>"
    empty = profile_dataframe(spark.createDataFrame([], schema))
    assert empty.rows == 0 and list(empty.columns) == ["a.b", "we ird", "back`tick", "arr"]
    assert (empty["a.b"].min, empty["a.b"].histogram, empty["we ird"].top_values) == (None, None, [])
    assert empty["a.b"].null_fraction is None
    from decimal import Decimal

    frame = spark.createDataFrame([(1.0, "x", Decimal("2.50"), [1]), (3.0, None, Decimal("3.50"), None)], schema)
    profile = profile_dataframe(frame)
    assert (profile["a.b"].mean, profile["we ird"].top_values, profile["back`tick"].mean) == (2.0, [["x", 1]], 3.0)
    assert profile["back`tick"].kind == "numeric" and profile["back`tick"].histogram["counts"][-1] == 1
    arr = profile["arr"]
    assert (arr.kind, arr.nulls, arr.distinct, arr.histogram, arr.top_values) == ("other", 1, None, None, None)
    assert Profile.from_json(profile.to_json()) == profile


@pytest.mark.spark
def test_concurrent_stores_all_land(spark):
    """Profiles stored at once, of different tables and of the same table, all land: each is
    one append, which Delta never makes conflict."""
    from concurrent.futures import ThreadPoolExecutor

    tables = [unique("prof_conc") for _ in range(3)]
    for i, table in enumerate(tables):
        spark.createDataFrame([(float(i),)], "v double").write.format("delta").saveAsTable(table)
    spark.createDataFrame([(9.0,)], "v double").write.format("delta").mode("append").saveAsTable(tables[0])
    jobs = [(table, None) for table in tables] + [(tables[0], 0)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        list(pool.map(lambda job: store_profile(spark, *job), jobs))
    assert [load_profile(spark, table)["v"].mean for table in tables] == [4.5, 1.0, 2.0]
    assert stored_versions(spark, tables[0]) == [0, 1] and load_profile(spark, tables[0], 0)["v"].mean == 0.0


def test_quantiles_of_a_large_frame_come_from_a_seeded_sample_within_their_rank(spark):
    """Above QUANTILE_SAMPLE_ROWS rows the quantiles come from a uniform sample: each one is
    within 1% of its rank of the exact quantile (the sample places it within about 0.3%), the
    same on every run; the other statistics still see every row."""
    from pyspark.sql import functions as F

    from featurestore.quality.profile import QUANTILE_KEYS, QUANTILE_SAMPLE_ROWS, QUANTILES

    rows = 3 * QUANTILE_SAMPLE_ROWS
    # every value 0 .. rows - 1 once, shuffled: a value is its own rank
    frame = spark.range(rows).select(((F.col("id") * 7919) % rows).alias("x"))
    profile, again = profile_dataframe(frame), profile_dataframe(frame)
    column = profile["x"]
    for key, q in zip(QUANTILE_KEYS, QUANTILES):
        rank = column.quantiles[key]
        assert rank == int(rank) and abs(rank / rows - q) < 0.01, (key, rank)
    assert again["x"].quantiles == column.quantiles
    assert (column.rows, column.min, column.max, column.mean) == (rows, 0.0, rows - 1.0, (rows - 1) / 2)
    assert sum(column.histogram["counts"]) == rows
