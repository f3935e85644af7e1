"""Expectations: keyword-only definitions with a dict round trip, one-line errors for bad
definitions, and their evaluation in Spark with exact counts and example keys."""
from datetime import datetime

import pytest

from featurestore.errors import DefinitionError, ValidationError
from featurestore.quality.expectations import (
    Between,
    InSet,
    NotNull,
    NullFractionAtMost,
    UniqueKeysPerTimestamp,
    Violation,
    check_expectations,
    evaluate,
    expectation_from_dict,
)

ALL = [NotNull(feature="rate"), Between(feature="rate", min=0, max=1), NullFractionAtMost(feature="rate", fraction=0.1),
       InSet(feature="city", values=["paris", "oslo"]), UniqueKeysPerTimestamp(),
       Between(feature="event_ts", min=datetime(2026, 1, 1))]


def test_definitions_are_values_with_dict_round_trip():
    for expectation in ALL:
        assert expectation_from_dict(expectation.to_dict()) == expectation
    assert InSet(feature="city", values=["paris", "oslo"]) == InSet(feature="city", values=("oslo", "paris"))
    assert len({NotNull(feature="a"), NotNull(feature="a"), NotNull(feature="b")}) == 2
    assert Between(feature="rate", min=0, max=1).to_dict() == {"type": "between", "feature": "rate", "min": 0, "max": 1}
    assert ALL[-1].to_dict()["min"] == {"datetime": "2026-01-01T00:00:00"}
    assert repr(ALL[1]) == "Between(feature='rate', min=0, max=1)"
    assert [e.describe() for e in ALL] == ["not_null()", "between(0, 1)", "null_fraction_at_most(0.1)",
                                           "in_set('oslo', 'paris')", "unique_keys_per_timestamp()",
                                           "between(min=2026-01-01T00:00:00)"]
    with pytest.raises(TypeError):
        NotNull("rate")  # keyword-only


@pytest.mark.parametrize("make, message", [
    (lambda: Between(feature="rate", min=5, max=1), "Between on 'rate': min 5 is greater than max 1; swap them"),
    (lambda: Between(feature="rate"), "Between on 'rate': give min=, max= or both"),
    (lambda: Between(feature="rate", min="a"), "Between on 'rate': min must be a number or a datetime, got 'a'"),
    (lambda: NullFractionAtMost(feature="rate", fraction=1.5),
     "NullFractionAtMost on 'rate': fraction must be a number from 0 to 1, got 1.5"),
    (lambda: InSet(feature="city", values=[]), "InSet on 'city': values must be a non-empty list, got []"),
    (lambda: NotNull(feature=""), "NotNull: feature must be a feature name (a non-empty string), got ''"),
    (lambda: expectation_from_dict({"type": "not_nul", "feature": "a"}),
     "unknown expectation 'not_nul'; known: not_null, between, null_fraction_at_most, in_set, "
     "unique_keys_per_timestamp. Did you mean 'not_null'?"),
    (lambda: check_expectations([NotNull(feature="rte")], ["rate", "city"], "FeatureView 'stats'"),
     "FeatureView 'stats': expectation not_null() names feature 'rte', which is not one of its features "
     "(rate, city). Did you mean 'rate'?"),
])
def test_bad_definitions_are_one_line(make, message):
    with pytest.raises(DefinitionError) as error:
        make()
    assert str(error.value) == message and "\n" not in message


@pytest.fixture(scope="module")
def rows(spark):
    data = [(1, datetime(2026, 1, 1), 0.5, "paris"),
            (2, datetime(2026, 1, 1), None, "oslo"),
            (3, datetime(2026, 1, 1), 1.5, "rome"),
            (3, datetime(2026, 1, 1), float("nan"), "paris"),
            (4, datetime(2025, 12, 31), -2.0, None),
            (5, datetime(2026, 1, 2), 0.0, "oslo")]
    return spark.createDataFrame(data, "driver_id bigint, event_ts timestamp, rate double, city string")


@pytest.mark.spark
def test_evaluate_counts_and_example_keys(rows):
    violations = evaluate(rows, ALL, ["driver_id"], view="stats", timestamp_column="event_ts")
    assert [(v.expectation, v.rows, v.example_key) for v in violations] == [
        ("not_null()", 2, {"driver_id": 2}),                 # null and NaN
        ("between(0, 1)", 3, {"driver_id": 3}),              # 1.5, NaN, -2.0 (null passes)
        ("null_fraction_at_most(0.1)", 2, {"driver_id": 2}),  # 2/6 > 0.1
        ("in_set('oslo', 'paris')", 1, {"driver_id": 3}),   # rome (null passes)
        ("unique_keys_per_timestamp()", 2, {"driver_id": 3}),
        ("between(min=2026-01-01T00:00:00)", 1, {"driver_id": 4}),
    ]
    assert violations[0] == Violation("stats", "rate", "not_null()", 2, 6, {"driver_id": 2})
    assert [v.message for v in violations[:2]] == [
        "stats: feature 'rate' breaks not_null(): 2 of 6 rows (e.g. driver_id=2)",
        "stats: feature 'rate' breaks between(0, 1): 3 of 6 rows (e.g. driver_id=3)"]
    assert violations[4].message == "stats: breaks unique_keys_per_timestamp(): 2 of 6 rows (e.g. driver_id=3)"
    assert violations[0].to_dict()["message"] == violations[0].message


@pytest.mark.spark
def test_evaluate_passes_clean_rows(rows):
    clean = rows.where("driver_id IN (1, 5)")
    assert evaluate(clean, ALL, ["driver_id"], timestamp_column="event_ts") == []
    assert evaluate(rows, [NullFractionAtMost(feature="rate", fraction=0.5)], ["driver_id"]) == []


@pytest.mark.spark
def test_evaluate_bad_input_is_one_line(rows):
    with pytest.raises(ValidationError, match=r"^stats: cannot evaluate expectations: column 'rte' is not in the "
                                              r"rows, whose columns are driver_id, event_ts, rate, city\. Did you "
                                              r"mean 'rate'\?$"):
        evaluate(rows, [NotNull(feature="rte")], ["driver_id"], view="stats")
    with pytest.raises(ValidationError, match="unique_keys_per_timestamp needs the event timestamp column"):
        evaluate(rows, [UniqueKeysPerTimestamp()], ["driver_id"])
    with pytest.raises(ValidationError, match="its Spark type is string, not a number, timestamp or date"):
        evaluate(rows, [Between(feature="city", min=0)], ["driver_id"])
