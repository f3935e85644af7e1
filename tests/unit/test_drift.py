"""Drift between profiles: PSI against hand-computed values, re-binning, null fraction,
mean and quantile shifts, thresholds and their defaults. Pure Python: no Spark needed."""
import math

import pytest

from featurestore.errors import DefinitionError, NotFoundError
from featurestore.quality.drift import FeatureVerdict, Thresholds, compare, overall_status, psi, rebin
from featurestore.quality.profile import Profile

EDGES = [float(i) for i in range(21)]  # 20 bins of width 1 over [0, 20]


def numeric(counts, *, rows=None, nulls=0, mean=10.0, stddev=2.0, quantiles=None, edges=EDGES):
    finite = sum(counts)
    return {"kind": "numeric", "spark_type": "double", "rows": rows if rows is not None else finite + nulls,
            "nulls": nulls, "nans": 0, "infinities": 0, "min": edges[0], "max": edges[-1], "mean": mean,
            "stddev": stddev, "quantiles": quantiles or {k: 10.0 for k in ("p1", "p5", "p25", "p50", "p75", "p95",
                                                                              "p99")},
            "distinct": 20, "histogram": {"edges": list(edges), "counts": list(counts)}, "top_values": None}


def strings(top, *, rows, nulls=0, distinct=None, reference_value_counts=None):
    column = {"kind": "string", "spark_type": "string", "rows": rows, "nulls": nulls, "min": None, "max": None,
              "distinct": distinct if distinct is not None else len(top), "top_values": top}
    if reference_value_counts is not None:
        column["reference_value_counts"] = reference_value_counts
    return column


def profile(**columns):
    rows = next(iter(columns.values()))["rows"]
    return Profile.from_dict({"format": 1, "rows": rows, "source": {"label": "test"}, "columns": columns})


def test_psi_hand_computed():
    # (0.4 - 0.5) ln(0.4/0.5) + (0.6 - 0.5) ln(0.6/0.5)
    assert psi([50, 50], [40, 60]) == pytest.approx(0.040546510810816, rel=1e-12)
    # (0.1-0.25)ln(0.4) + (0.2-0.25)ln(0.8) + (0.3-0.25)ln(1.2) + (0.4-0.25)ln(1.6)
    assert psi([25, 25, 25, 25], [10, 20, 30, 40]) == pytest.approx(0.22821740957339182, rel=1e-12)
    # an empty reference bin is raised to epsilon 1e-4: (0.9-1)ln(0.9) + (0.1-0.0001)ln(0.1/0.0001)
    assert psi([100, 0], [90, 10]) == pytest.approx(0.7006208039360982, rel=1e-12)
    assert psi([100, 0], [90, 10], epsilon=0.01) == pytest.approx(-0.1 * math.log(0.9) + 0.09 * math.log(10))
    assert psi([3, 7], [3, 7]) == 0.0 and psi([6, 14], [3, 7]) == 0.0  # proportions, not counts
    assert psi([0, 0], [1, 2]) is None
    with pytest.raises(DefinitionError, match="same length"):
        psi([1, 2], [1, 2, 3])


def test_rebin_spreads_by_overlap_with_open_ended_extremes():
    assert rebin(EDGES, list(range(20)), EDGES) == [float(i) for i in range(20)]
    assert rebin([0, 1, 2], [4, 6], [0, 0.5, 2]) == [2.0, 8.0]
    shifted = [float(i) for i in range(10, 31)]  # current range 10..30 on a reference of 0..20
    assert rebin(shifted, [1] * 20, EDGES) == [0.0] * 10 + [1.0] * 9 + [11.0]
    assert rebin([-5.0, -3.0, -1.0], [2, 2], EDGES) == [4.0] + [0.0] * 19  # below the range: first bin


def test_numeric_verdict_psi_nulls_mean_and_quantiles():
    reference = profile(x=numeric([5] * 20))
    shifted = [10] + [5] * 18 + [0]
    current = profile(x=numeric(shifted, nulls=3, mean=10.6,
                                quantiles={"p1": 10.0, "p5": 10.0, "p25": 10.0, "p50": 11.5, "p75": 10.0,
                                           "p95": 10.0, "p99": 9.0}))
    [verdict] = compare(reference, current)
    # (0.10-0.05)ln(2) + (0.0001-0.05)ln(0.0001/0.05); the other 18 bins are equal
    assert verdict.psi == pytest.approx(0.3447663031392646, rel=1e-12)
    assert verdict.null_fraction_reference == 0.0
    assert verdict.null_fraction_current == pytest.approx(3 / 103)
    assert verdict.mean_shift == pytest.approx(0.3)  # 0.6 / sd 2
    assert verdict.quantile_shift == pytest.approx(0.75)  # p50: 1.5 / 2
    assert verdict.quantile_shifts["p99"] == pytest.approx(0.5) and verdict.quantile_shifts["p1"] == 0.0
    assert verdict.status == "fail" and not verdict.approximate
    assert verdict.reasons == ["psi 0.3448 >= 0.2 (fail)", "null fraction change 0.02913 >= 0.01 (warn)",
                               "mean shift 0.3 sd >= 0.25 sd (warn)", "quantile shift 0.75 sd >= 0.5 sd (warn)"]


def test_thresholds_override_and_statuses():
    reference = profile(x=numeric([25] * 4 + [0] * 16, edges=EDGES))
    current = profile(x=numeric([10, 20, 30, 40] + [0] * 16, edges=EDGES))
    [default] = compare(reference, current)
    assert default.psi == pytest.approx(0.22821740957339182) and default.status == "fail"
    [warned] = compare(reference, current, Thresholds(psi_fail=0.3))
    assert warned.status == "warn" and warned.reasons == ["psi 0.2282 >= 0.1 (warn)"]
    [passed] = compare(reference, current, {"psi_warn": 0.25, "psi_fail": 0.3})
    assert passed.status == "pass" and passed.reasons == []
    assert overall_status([passed, warned]) == "warn" and overall_status([passed, default]) == "fail"
    assert overall_status([]) == "pass"


def test_categorical_psi_exact_and_approximate():
    reference = profile(s=strings([["a", 60], ["b", 30]], rows=100, nulls=10))
    exact = profile(s=strings([["z", 40], ["a", 30], ["b", 30]], rows=100, distinct=3,
                              reference_value_counts={"a": 30, "b": 30}))
    [verdict] = compare(reference, exact)
    # categories a, b, other: reference 60/90, 30/90, 0 (-> 1e-4); current 0.3, 0.3, 0.4
    assert verdict.psi == pytest.approx(3.6130886235452446, rel=1e-12)
    assert (verdict.status, verdict.approximate, verdict.null_fraction_change) == ("fail", False, 0.1)
    assert verdict.mean_shift is None and verdict.quantile_shift is None
    # without reference counts, the current's own top values serve; complete here (3 distinct <= 10)
    [own] = compare(reference, profile(s=strings([["z", 40], ["a", 30], ["b", 30]], rows=100)))
    assert own.psi == pytest.approx(verdict.psi) and not own.approximate
    # many distinct values and 'b' not among the top ones: its count is unknown, so approximate
    top = [[f"v{i}", 8] for i in range(10)]
    [approximate] = compare(reference, profile(s=strings(top, rows=100, distinct=50)))
    assert approximate.approximate


def test_rebinned_psi_is_flagged_approximate():
    reference = profile(x=numeric([5] * 20))
    current = profile(x=numeric([5] * 20, edges=[e / 2 for e in EDGES]))  # same counts on 0..10
    [verdict] = compare(reference, current)
    assert verdict.approximate
    # 5 per half-width bin: reference bins 0..9 get 10 each, 10..19 nothing
    assert verdict.psi == pytest.approx(10 * (0.1 - 0.05) * math.log(2) + 10 * (1e-4 - 0.05) * math.log(1e-4 / 0.05))


def test_zero_stddev_shift_and_missing_or_changed_features():
    reference = profile(x=numeric([0] * 10 + [20] + [0] * 9, stddev=0.0), s=strings([["a", 20]], rows=20))
    same = profile(x=numeric([0] * 10 + [20] + [0] * 9, stddev=0.0))
    moved = profile(x=numeric([0] * 10 + [20] + [0] * 9, stddev=0.0, mean=11.0),
                    s={**numeric([20] + [0] * 19), "rows": 20})
    x_same, s_missing = compare(reference, same)
    assert (x_same.mean_shift, x_same.status) == (0.0, "pass")
    assert (s_missing.status, s_missing.reasons) == ("fail", ["missing from the current profile"])
    x_moved, s_changed = compare(reference, moved)
    assert x_moved.mean_shift == math.inf and x_moved.status == "fail"
    assert x_moved.to_dict()["mean_shift"] == "Infinity"
    assert s_changed.reasons == ["kind changed from string (string) to numeric (double)"]
    with pytest.raises(NotFoundError, match="the profile has no column 'nope'"):
        compare(reference, same, columns=["nope"])


def test_thresholds_are_checked():
    assert Thresholds() == Thresholds(psi_warn=0.1, psi_fail=0.2, null_fraction_warn=0.01, null_fraction_fail=0.05,
                                      mean_shift_warn=0.25, mean_shift_fail=0.5, quantile_shift_warn=0.5,
                                      quantile_shift_fail=1.0, epsilon=1e-4)
    with pytest.raises(DefinitionError) as error:
        Thresholds(psi_warn=0.3, psi_fail=0.2)
    assert str(error.value) == ("threshold psi_warn (0.3) is greater than psi_fail (0.2); a warning must come at "
                                "or before a failure")
    with pytest.raises(DefinitionError, match="threshold mean_shift_fail must be a number >= 0, got -1"):
        Thresholds(mean_shift_fail=-1)
    with pytest.raises(DefinitionError, match=r"quality.thresholds: unknown threshold 'psi_fial'.* Did you mean "
                                              r"'psi_fail'\?"):
        Thresholds.from_dict({"psi_fial": 0.3}, where="quality.thresholds")
    with pytest.raises(TypeError):
        Thresholds(0.1)  # keyword-only


def test_verdict_to_dict_is_json_safe():
    verdict = FeatureVerdict(feature="x", kind="numeric", status="pass", psi=0.0, quantile_shifts={"p1": math.inf})
    assert verdict.to_dict()["quantile_shifts"] == {"p1": "Infinity"}


def test_an_empty_table_fails_every_column_whatever_its_statistics():
    reference = profile(rate=numeric([10] * 5 + [0] * 15), name=strings([["a", 30], ["b", 20]], rows=50))
    empty = profile(rate={**numeric([0] * 20, rows=0), "mean": None, "stddev": None, "quantiles": {}},
                    name=strings([], rows=0))
    verdicts = compare(reference, empty)
    assert [(v.feature, v.status) for v in verdicts] == [("rate", "fail"), ("name", "fail")]
    assert verdicts[0].reasons == ["no rows (the reference has 50): its statistics cannot be computed"]
    assert overall_status(verdicts) == "fail"


def test_a_row_count_drop_warns_at_half_and_is_a_threshold():
    reference = profile(rate=numeric([10] * 5 + [0] * 15))
    half = profile(rate=numeric([5] * 5 + [0] * 15))  # the same distribution, half the rows
    verdict = compare(reference, half)[0]
    assert verdict.status == "warn" and verdict.reasons == ["row count 25 vs 50: drop 0.5 >= 0.5 (warn)"]
    assert compare(reference, half, Thresholds(row_count_drop_warn=0.6))[0].status == "pass"
    assert compare(reference, half, Thresholds(row_count_drop_fail=0.5))[0].status == "fail"
    assert compare(half, reference)[0].status == "pass"  # more rows than the reference: not checked


def test_a_column_whose_statistics_cannot_be_computed_fails():
    reference = profile(rate=numeric([10] * 5 + [0] * 15))
    all_null = profile(rate={**numeric([0] * 20, rows=50, nulls=50), "mean": None, "stddev": None, "quantiles": {}})
    verdict = compare(reference, all_null)[0]
    assert verdict.status == "fail" and verdict.reasons == ["no finite value: its statistics cannot be computed"]
