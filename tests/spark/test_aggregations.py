"""Each windowed-aggregation rule, with exact expected rows (rules: featurestore/offline/aggregate.py)."""
import uuid
from datetime import timedelta

import pytest

from featurestore import Aggregation, Entity, FeatureView, Field, SparkSource
from featurestore.errors import DefinitionError
from featurestore.types import Float64, Int64, String
from tests.offline_helpers import historical, naive, t

pytestmark = pytest.mark.spark
ENTITY_SCHEMA = "driver_id bigint, event_timestamp timestamp"
DRIVER = Entity(name="driver", join_keys=["driver_id"])
H, D = timedelta(hours=1), timedelta(days=1)


def events_view(spark, name, rows, aggregations, delay=timedelta(0), inputs=None):
    """rows: (driver_id, event_ts, fare, city) saved as a real Delta table, and a view aggregating them."""
    table = f"ev_{name}_{uuid.uuid4().hex[:8]}"
    spark.createDataFrame(rows, "driver_id bigint, event_ts timestamp, fare double, city string") \
        .write.format("delta").saveAsTable(table)
    inputs = inputs or [Field(name="fare", dtype=Float64)]
    return FeatureView(name=name, entities=[DRIVER], aggregations=aggregations, delay=delay,
                       source=SparkSource(name=f"{name}_src", table=table, timestamp_field="event_ts"),
                       schema=[Field(name="driver_id", dtype=Int64), *inputs])


def rows_of(frame, *columns):
    """The frame's rows as tuples of the given columns, in a stable order (None sorts fine)."""
    return ordered(tuple(getattr(r, c) for c in columns) for r in frame.collect())


def ordered(rows):
    return sorted(rows, key=repr)


TRIPS = [(1, t(8), 10.0, "a"), (1, t(9), 20.0, "b"), (1, t(9, 30), None, "b"), (1, t(10), 30.0, None),
         (2, t(9), 5.0, "c"), (None, t(9), 99.0, "z")]


def test_window_is_open_at_the_old_end_and_closed_at_the_new(spark):
    view = events_view(spark, "edges", TRIPS, [Aggregation(function="count", time_window=H),
                                               Aggregation(column="fare", function="sum", time_window=H)])
    entities = spark.createDataFrame([(1, t(9)), (1, t(10)), (1, t(10, 1)), (1, t(10, 59)), (1, t(11))], ENTITY_SCHEMA)
    frame = historical(spark, entities, [view], ["edges:events_count_1h", "edges:fare_sum_1h"])
    assert rows_of(frame, "event_timestamp", "events_count_1h", "fare_sum_1h") == ordered([
        (naive(t(9)), 1, 20.0),      # (08:00, 09:00]: 08:00 is out, 09:00 in
        (naive(t(10)), 2, 30.0),     # 09:30 (null fare, counted as an event) and 10:00
        (naive(t(10, 1)), 2, 30.0),
        (naive(t(10, 59)), 1, 30.0),  # 10:00 still in
        (naive(t(11)), 0, None),      # (10:00, 11:00] is empty: count 0, sum null
    ])


def test_every_function_ignores_nulls_and_empty_windows_give_zero_or_null(spark):
    aggregations = [Aggregation(column="fare", function=f, time_window=3 * H) for f in
                    ("count", "sum", "mean", "min", "max", "var", "stddev", "last")]
    aggregations.append(Aggregation(column="city", function="approx_count_distinct", time_window=3 * H))
    aggregations.append(Aggregation(column="city", function="last", time_window=3 * H))
    view = events_view(spark, "fns", TRIPS, aggregations,
                       inputs=[Field(name="fare", dtype=Float64), Field(name="city", dtype=String)])
    entities = spark.createDataFrame([(1, t(10)), (2, t(10)), (3, t(10)), (None, t(10))], ENTITY_SCHEMA)
    names = [a.name for a in aggregations]
    frame = historical(spark, entities, [view], [f"fns:{n}" for n in names])
    assert names == ["fare_count_3h", "fare_sum_3h", "fare_mean_3h", "fare_min_3h", "fare_max_3h", "fare_var_3h",
                     "fare_stddev_3h", "fare_last_3h", "city_approx_count_distinct_3h", "city_last_3h"]
    assert rows_of(frame, "driver_id", *names) == ordered([
        (1, 3, 60.0, 20.0, 10.0, 30.0, 100.0, 10.0, 30.0, 2, "b"),  # the 10:00 city is null: last is 09:30's "b"
        (2, 1, 5.0, 5.0, 5.0, 5.0, None, None, 5.0, 1, "c"),        # one value: var and stddev null
        (3, 0, None, None, None, None, None, None, None, 0, None),  # no events
        (None, 0, None, None, None, None, None, None, None, 0, None),  # a null key matches nothing
    ])


def test_delay_shifts_the_window_back(spark):
    view = events_view(spark, "late", TRIPS, [Aggregation(column="fare", function="sum", time_window=H)],
                       delay=timedelta(minutes=30))
    entities = spark.createDataFrame([(1, t(10)), (1, t(10, 30))], ENTITY_SCHEMA)
    assert rows_of(historical(spark, entities, [view], ["late:fare_sum_1h"]), "event_timestamp", "fare_sum_1h") == ordered([
        (naive(t(10)), 20.0),      # (08:30, 09:30]
        (naive(t(10, 30)), 30.0),  # (09:00, 10:00]: 09:00 is out, 09:30 is null
    ])


def test_duplicate_event_times_all_count_and_last_takes_the_greatest(spark):
    rows = [(1, t(9), 1.0, "x"), (1, t(9), 3.0, "y"), (1, t(9), 2.0, "y")]
    view = events_view(spark, "dups", rows, [Aggregation(function="count", time_window=H),
                                             Aggregation(column="fare", function="last", time_window=H)])
    entities = spark.createDataFrame([(1, t(9)), (1, t(9))], ENTITY_SCHEMA)  # duplicate entity rows stay
    frame = historical(spark, entities, [view], ["dups:events_count_1h", "dups:fare_last_1h"])
    assert rows_of(frame, "driver_id", "events_count_1h", "fare_last_1h") == [(1, 3, 3.0), (1, 3, 3.0)]


def test_lookups_and_aggregations_mix_in_one_training_set(spark):
    from tests.offline_helpers import table_view

    lookup = table_view(spark, "rates", {"driver_id": Int64}, {"rate": Float64}, [(1, t(9), t(9), 0.5)])
    view = events_view(spark, "mixed", TRIPS, [Aggregation(column="fare", function="max", time_window=D)])
    entities = spark.createDataFrame([(1, t(12)), (2, t(12))], ENTITY_SCHEMA)
    frame = historical(spark, entities, [lookup, view], ["mixed:fare_max_1d", "rates:rate"])
    assert frame.columns == ["driver_id", "event_timestamp", "fare_max_1d", "rate"]
    assert rows_of(frame, "driver_id", "fare_max_1d", "rate") == ordered([(1, 30.0, 0.5), (2, 5.0, None)])


@pytest.mark.parametrize("build, message", [
    (lambda: Aggregation(column="fare", function="median", time_window=H), "unknown function 'median'"),
    (lambda: Aggregation(column="fare", function="sum", time_window=timedelta(0)), "time_window must be a positive"),
    (lambda: Aggregation(column="fare", function="sum", time_window=-H), "time_window must be a positive"),
    (lambda: Aggregation(function="sum", time_window=H), "sum needs a column="),
    (lambda: FeatureView(name="v", entities=[DRIVER], source=SparkSource(name="s", table="t", timestamp_field="ts"),
                         schema=[Field(name="driver_id", dtype=Int64), Field(name="city", dtype=String)],
                         aggregations=[Aggregation(column="city", function="sum", time_window=H)]),
     "FeatureView 'v': aggregation 'city_sum_1h' applies sum to column 'city' of type String"),
    (lambda: FeatureView(name="v", entities=[DRIVER], source=SparkSource(name="s", table="t", timestamp_field="ts"),
                         schema=[Field(name="driver_id", dtype=Int64)],
                         aggregations=[Aggregation(column="fare", function="sum", time_window=H)]),
     "reads column 'fare', which the schema does not declare"),
    (lambda: FeatureView(name="v", entities=[DRIVER], source=SparkSource(name="s", table="t", timestamp_field="ts"),
                         schema=[Field(name="driver_id", dtype=Int64), Field(name="fare", dtype=Float64),
                                 Field(name="rate", dtype=Float64)],
                         aggregations=[Aggregation(column="fare", function="sum", time_window=H)]),
     "schema field\\(s\\) rate are neither join keys nor aggregated columns"),
])
def test_bad_aggregations_are_refused_with_the_fix(build, message):
    with pytest.raises(DefinitionError, match=message):
        build()


def test_default_names_spell_the_window():
    assert [Aggregation(column="fare", function="sum", time_window=w).name for w in
            (timedelta(minutes=30), H, 7 * D, timedelta(seconds=90))] == \
        ["fare_sum_30m", "fare_sum_1h", "fare_sum_7d", "fare_sum_90s"]
