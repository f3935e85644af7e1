"""Each point-in-time rule of docs/design.md (docs/semantics.md, "Point-in-time rules"), with exact expected rows."""
from datetime import timedelta

import pandas as pd
import pytest
from chispa import assert_df_equality

from featurestore import Entity
from featurestore.errors import NotFoundError, RetrievalError
from featurestore.types import Float64, Int64, String
from tests.offline_helpers import historical, naive, t, table_view

pytestmark = pytest.mark.spark
ENTITY_SCHEMA = "driver_id bigint, event_timestamp timestamp"


def assert_rows(actual, expected_rows, schema, spark):
    expected = spark.createDataFrame(expected_rows, schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.fixture(scope="module")
def stats(spark):
    """driver 1: rows at 07:00, 09:00 (two versions), 11:00; ttl 2h."""
    rows = [
        (1, t(7), t(7, 5), 0.1),
        (1, t(9), t(9, 5), 0.2),
        (1, t(9), t(9, 30), None),   # same event time, created later: wins, null included
        (1, t(11), t(11, 5), 0.4),
        (2, t(8), t(8, 5), 0.5),
    ]
    return table_view(spark, "stats", {"driver_id": Int64}, {"conv_rate": Float64}, rows, ttl=timedelta(hours=2))


def test_rule1_at_or_before_and_ttl_bounds_are_inclusive(spark, stats):
    entities = spark.createDataFrame([(1, t(11)), (1, t(9)), (1, t(8, 59)), (2, t(10)), (2, t(10, 1))], ENTITY_SCHEMA)
    actual = historical(spark, entities, [stats], ["stats:conv_rate"])
    assert_rows(actual, [
        (1, naive(t(11)), 0.4),      # event_ts == ts: a candidate
        (1, naive(t(9)), None),      # 09:00 rows, the later-created null wins
        (1, naive(t(8, 59)), 0.1),   # 07:00 is 1h59 old: inside the ttl
        (2, naive(t(10)), 0.5),      # exactly ts - ttl: inclusive
        (2, naive(t(10, 1)), None),  # one minute past the ttl
    ], "driver_id bigint, event_timestamp timestamp, conv_rate double", spark)


def test_rule1_ttl_zero_means_no_lower_bound(spark):
    view = table_view(spark, "forever", {"driver_id": Int64}, {"conv_rate": Float64},
                      [(1, t(1, day=1), t(1, day=1), 0.7)], ttl=timedelta(0))
    entities = spark.createDataFrame([(1, t(1, day=28)), (1, t(0, day=1))], ENTITY_SCHEMA)
    assert_rows(historical(spark, entities, [view], ["forever:conv_rate"]),
                [(1, naive(t(1, day=28)), 0.7), (1, naive(t(0, day=1)), None)],
                "driver_id bigint, event_timestamp timestamp, conv_rate double", spark)


def test_rule2_created_timestamp_breaks_ties_and_winner_nulls_stay(spark):
    rows = [(1, t(9), t(9, 30), 0.9, "late"), (1, t(9), t(9, 10), 0.1, None), (1, t(8), t(8), 0.5, "old")]
    view = table_view(spark, "ties", {"driver_id": Int64}, {"conv_rate": Float64, "city": String}, rows)
    rows_null = [(2, t(9), t(9, 30), None, None), (2, t(8), t(8), 0.5, "old")]
    view_null = table_view(spark, "nulls", {"driver_id": Int64}, {"rate": Float64, "town": String}, rows_null)
    entities = spark.createDataFrame([(1, t(10)), (2, t(10))], ENTITY_SCHEMA)
    actual = historical(spark, entities, [view, view_null], ["ties:conv_rate", "ties:city", "nulls:rate", "nulls:town"])
    assert_rows(actual, [(1, naive(t(10)), 0.9, "late", None, None), (2, naive(t(10)), None, None, None, None)],
                "driver_id bigint, event_timestamp timestamp, conv_rate double, city string, rate double, "
                "town string", spark)


def test_rule3_no_candidate_keeps_the_entity_row(spark, stats):
    entities = spark.createDataFrame([(1, t(6)), (99, t(10)), (2, t(23))], ENTITY_SCHEMA)
    assert_rows(historical(spark, entities, [stats], ["stats:conv_rate"]),
                [(1, naive(t(6)), None), (99, naive(t(10)), None), (2, naive(t(23)), None)],
                "driver_id bigint, event_timestamp timestamp, conv_rate double", spark)


def test_rule4_duplicates_extra_columns_and_null_keys(spark, stats):
    entities = spark.createDataFrame(
        [(1, t(11), "a", 1.5), (1, t(11), "a", 1.5), (None, t(11), "b", None), (2, t(9), "c", 3.0)],
        "driver_id bigint, event_timestamp timestamp, note string, label double")
    actual = historical(spark, entities, [stats], ["stats:conv_rate"])
    assert actual.count() == 4
    assert_rows(actual, [(1, naive(t(11)), "a", 1.5, 0.4), (1, naive(t(11)), "a", 1.5, 0.4),
                         (None, naive(t(11)), "b", None, None), (2, naive(t(9)), "c", 3.0, 0.5)],
                "driver_id bigint, event_timestamp timestamp, note string, label double, conv_rate double", spark)


def test_rule4_a_null_key_in_the_source_matches_nothing(spark):
    view = table_view(spark, "nullsrc", {"driver_id": Int64}, {"conv_rate": Float64},
                      [(None, t(9), t(9), 0.3), (1, t(9), t(9), 0.6)])
    entities = spark.createDataFrame([(None, t(10)), (1, t(10))], ENTITY_SCHEMA)
    assert_rows(historical(spark, entities, [view], ["nullsrc:conv_rate"]),
                [(None, naive(t(10)), None), (1, naive(t(10)), 0.6)],
                "driver_id bigint, event_timestamp timestamp, conv_rate double", spark)


def test_rule5_different_entities_and_composite_keys(spark):
    driver = Entity(name="driver", join_keys=["driver_id"])
    customer = Entity(name="customer", join_keys=["customer_id"])
    drivers = table_view(spark, "drv", {"driver_id": Int64}, {"conv_rate": Float64},
                         [(1, t(8), t(8), 0.1), (2, t(8), t(8), 0.2)], entities=[driver])
    customers = table_view(spark, "cust", {"customer_id": String}, {"spend": Float64},
                           [("c1", t(7), t(7), 10.0), ("c2", t(9), t(9), 20.0)], entities=[customer])
    pairs = table_view(spark, "pair", {"driver_id": Int64, "customer_id": String}, {"trips": Int64},
                       [(1, "c1", t(6), t(6), 3), (1, "c2", t(6), t(6), 4), (2, "c1", t(6), t(6), 5)],
                       entities=[driver, customer])
    entities = spark.createDataFrame([(1, "c1", t(10)), (1, "c2", t(8)), (2, "c2", t(10))],
                                     "driver_id bigint, customer_id string, event_timestamp timestamp")
    actual = historical(spark, entities, [drivers, customers, pairs], ["drv:conv_rate", "cust:spend", "pair:trips"])
    assert_rows(actual, [(1, "c1", naive(t(10)), 0.1, 10.0, 3), (1, "c2", naive(t(8)), 0.1, None, 4),
                         (2, "c2", naive(t(10)), 0.2, 20.0, None)],
                "driver_id bigint, customer_id string, event_timestamp timestamp, conv_rate double, spend double, "
                "trips bigint", spark)


def test_rule5_keys_of_different_types_never_collide(spark):
    # composite key (1, "23") must not meet (12, "3"): no string concatenation of keys
    view = table_view(spark, "collide", {"a": Int64, "b": String}, {"v": Float64},
                      [(12, "3", t(8), t(8), 1.0)], entities=[Entity(name="ab", join_keys=["a", "b"])])
    entities = spark.createDataFrame([(1, "23", t(9)), (12, "3", t(9))], "a bigint, b string, event_timestamp timestamp")
    assert_rows(historical(spark, entities, [view], ["collide:v"]),
                [(1, "23", naive(t(9)), None), (12, "3", naive(t(9)), 1.0)],
                "a bigint, b string, event_timestamp timestamp, v double", spark)


def test_rule5_entity_key_of_incompatible_type_is_an_error(spark, stats):
    entities = spark.createDataFrame([("1", t(9))], "driver_id string, event_timestamp timestamp")
    with pytest.raises(RetrievalError, match="entity column 'driver_id' has type string, but feature view 'stats' "
                                             "declares it Int64; cast the column"):
        historical(spark, entities, [stats], ["stats:conv_rate"])


def test_rule6_full_feature_names_and_clashes(spark, stats):
    other = table_view(spark, "other", {"driver_id": Int64}, {"conv_rate": Float64}, [(1, t(8), t(8), 9.0)])
    entities = spark.createDataFrame([(1, t(9, 59))], ENTITY_SCHEMA)
    actual = historical(spark, entities, [stats, other], ["stats:conv_rate", "other:conv_rate"],
                        full_feature_names=True)
    assert actual.columns == ["driver_id", "event_timestamp", "stats__conv_rate", "other__conv_rate"]
    assert_rows(actual, [(1, naive(t(9, 59)), None, 9.0)],
                "driver_id bigint, event_timestamp timestamp, stats__conv_rate double, other__conv_rate double", spark)
    with pytest.raises(RetrievalError, match="output column 'conv_rate' of feature view 'other' clashes with feature "
                                             "view 'stats'; pass full_feature_names=True"):
        historical(spark, entities, [stats, other], ["stats:conv_rate", "other:conv_rate"])


def test_rule7_naive_and_string_timestamps_are_utc(spark, stats):
    as_ntz = spark.createDataFrame([(1, naive(t(11)))], "driver_id bigint, event_timestamp timestamp_ntz")
    as_string = spark.createDataFrame([(1, "2026-01-01T11:00:00Z"), (1, "2026-01-01 10:59:59")],
                                      "driver_id bigint, event_timestamp string")
    as_pandas = pd.DataFrame({"driver_id": [1], "event_timestamp": [pd.Timestamp("2026-01-01 11:00:00")]})
    assert historical(spark, as_ntz, [stats], ["stats:conv_rate"]).collect()[0]["conv_rate"] == 0.4
    by_time = sorted(historical(spark, as_string, [stats], ["stats:conv_rate"]).collect(),
                     key=lambda r: r["event_timestamp"], reverse=True)
    assert [r["conv_rate"] for r in by_time] == [0.4, None]  # 11:00 -> 0.4; 10:59:59 -> the 09:00 null
    assert historical(spark, as_pandas, [stats], ["stats:conv_rate"]).collect()[0]["conv_rate"] == 0.4


def test_entity_rows_need_keys_and_a_timestamp(spark, stats):
    no_key = spark.createDataFrame([(t(9),)], "event_timestamp timestamp")
    with pytest.raises(RetrievalError, match="entity rows lack the join key\\(s\\) driver_id of feature view 'stats'"):
        historical(spark, no_key, [stats], ["stats:conv_rate"])
    no_ts = spark.createDataFrame([(1,)], "driver_id bigint")
    with pytest.raises(RetrievalError, match="need an 'event_timestamp' column or exactly one timestamp column"):
        historical(spark, no_ts, [stats], ["stats:conv_rate"])


def test_unknown_view_or_feature_suggests_a_name(spark, stats):
    entities = spark.createDataFrame([(1, t(9))], ENTITY_SCHEMA)
    with pytest.raises(NotFoundError, match="no feature view 'stat' .* Did you mean 'stats'"):
        historical(spark, entities, [stats], ["stat:conv_rate"])
    with pytest.raises(NotFoundError, match=r"has no feature 'conv_rat' \(.*\)\. Did you mean 'conv_rate'"):
        historical(spark, entities, [stats], ["stats:conv_rat"])


def test_empty_entity_frame_gives_an_empty_training_set(spark, stats):
    entities = spark.createDataFrame([], ENTITY_SCHEMA)
    actual = historical(spark, entities, [stats], ["stats:conv_rate"])
    assert actual.columns == ["driver_id", "event_timestamp", "conv_rate"] and actual.count() == 0
