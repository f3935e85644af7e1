"""Drift: compare a current profile with a reference profile, feature by feature.

Checks, each with a warn and a fail threshold (`Thresholds`, defaults below):

- population stability index (PSI) = sum over bins of (c - r) * ln(c / r), where r and c
  are the reference's and the current's fractions of non-null finite values per bin, each
  raised to at least `epsilon` (1e-4) so an empty bin contributes a large but finite
  term. Numbers (and timestamps) use the reference's 20 histogram bins, the first and last
  open-ended (values below or above the reference's range land there). Strings and booleans
  use the reference's top values as categories plus one "other" category.
- null fraction change: |current nulls / rows - reference nulls / rows|.
- mean shift: |current mean - reference mean| / reference stddev.
- quantile shift: the largest |current q - reference q| / reference stddev over
  p1 ... p99. When the reference stddev is 0, a shift is 0 if the values are equal and
  infinite otherwise.

Re-binning. The exact way is to count the current values on the reference's edges, which
`profile_dataframe(df, edges_from=reference)` does in Spark (and `featurestore validate`
always does); the histograms then share edges and are compared bin by bin. When two stored
profiles with different edges are compared, each current bin's count is spread over the
reference bins it overlaps in proportion to the overlap (values assumed uniform within a
bin): exact when edges coincide, an approximation otherwise, flagged as `approximate` in
the verdict. For strings, exact counts of the reference's top values come from
`reference_value_counts` (present when profiled with edges_from); otherwise the current's
own top values are used, and a reference value missing from them counts as 0
(approximate, flagged, unless the current column has at most 10 distinct values).

A feature passes when no check reaches its warn threshold, warns when one reaches warn
but none reaches fail, and fails when any reaches fail (`>=`). A reference feature
missing from the current profile, or whose kind changed, fails.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from featurestore.errors import DefinitionError
from featurestore.jsonio import json_safe
from featurestore.quality.profile import QUANTILE_KEYS, TOP_VALUES, ColumnProfile, Profile

STATUSES = ("pass", "warn", "fail")


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """When a check warns or fails. Override any of them: Thresholds(psi_fail=0.25)."""

    psi_warn: float = 0.1
    psi_fail: float = 0.2
    null_fraction_warn: float = 0.01
    null_fraction_fail: float = 0.05
    mean_shift_warn: float = 0.25
    mean_shift_fail: float = 0.5
    quantile_shift_warn: float = 0.5
    quantile_shift_fail: float = 1.0
    # (reference rows - current rows) / reference rows: half the rows gone warns, all gone (an
    # empty table) fails. More rows than the reference is not checked.
    row_count_drop_warn: float = 0.5
    row_count_drop_fail: float = 1.0
    epsilon: float = 1e-4

    def __post_init__(self):
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise DefinitionError(f"threshold {item.name} must be a number >= 0, got {value!r}")
        if not 0 < self.epsilon < 1:
            raise DefinitionError(f"threshold epsilon must be between 0 and 1 (exclusive), got {self.epsilon!r}")
        for check in ("psi", "null_fraction", "mean_shift", "quantile_shift", "row_count_drop"):
            warn, fail = getattr(self, f"{check}_warn"), getattr(self, f"{check}_fail")
            if warn > fail:
                raise DefinitionError(f"threshold {check}_warn ({warn}) is greater than {check}_fail ({fail}); "
                                      f"a warning must come at or before a failure")

    @classmethod
    def from_dict(cls, data: dict | None, where: str = "thresholds") -> Thresholds:
        """From a mapping such as feature_store.yaml's section; unknown keys are refused."""
        data = dict(data or {})
        known = [item.name for item in fields(cls)]
        for key in data:
            if key not in known:
                from featurestore.errors import did_you_mean

                raise DefinitionError(f"{where}: unknown threshold {key!r}; known: {', '.join(known)}."
                                      f"{did_you_mean(key, known)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FeatureVerdict:
    """The outcome of comparing one feature: status 'pass', 'warn' or 'fail', the measures
    (None when not applicable), and one reason per check that warned or failed."""

    feature: str
    kind: str
    status: str
    psi: float | None = None
    null_fraction_reference: float | None = None
    null_fraction_current: float | None = None
    null_fraction_change: float | None = None
    mean_shift: float | None = None
    quantile_shift: float | None = None
    quantile_shifts: dict = field(default_factory=dict)
    approximate: bool = False
    reasons: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-safe (featurestore.jsonio): an infinite shift is the string "Infinity"."""
        return json_safe(asdict(self))


def psi(reference_counts, current_counts, epsilon: float = 1e-4) -> float | None:
    """Population stability index of two count vectors over the same bins (None if either is empty).

    >>> round(psi([50, 50], [40, 60]), 6)  # (0.4-0.5)ln(0.8) + (0.6-0.5)ln(1.2) = 0.0405465...
    0.040547
    """
    if len(reference_counts) != len(current_counts):
        raise DefinitionError(f"psi needs count vectors of the same length, got {len(reference_counts)} "
                              f"and {len(current_counts)}")
    total_r, total_c = sum(reference_counts), sum(current_counts)
    if not total_r or not total_c:
        return None
    result = 0.0
    for r, c in zip(reference_counts, current_counts):
        r, c = max(r / total_r, epsilon), max(c / total_c, epsilon)
        result += (c - r) * math.log(c / r)
    return result


def rebin(edges: list[float], counts: list[float], target_edges: list[float]) -> list[float]:
    """Spread histogram (edges, counts) over target_edges, whose first and last bins are
    open-ended, in proportion to overlap (uniform within a bin). Identical edges: unchanged.

    >>> rebin([0, 1, 2], [4, 6], [0, 0.5, 2])
    [2.0, 8.0]
    """
    if list(edges) == list(target_edges):
        return [float(c) for c in counts]
    bins = len(target_edges) - 1
    lows = [-math.inf] + list(target_edges[1:-1])
    highs = list(target_edges[1:-1]) + [math.inf]
    out = [0.0] * bins
    for i, count in enumerate(counts):
        if not count:
            continue
        a, b = edges[i], edges[i + 1]
        if b <= a:  # a zero-width bin: everything at one point
            j = next(k for k in range(bins) if a < highs[k] or k == bins - 1)
            out[j] += count
            continue
        for j in range(bins):
            overlap = min(b, highs[j]) - max(a, lows[j])
            if overlap > 0:
                out[j] += count * overlap / (b - a)
    return out


def _shift(current, reference, stddev):
    if current is None or reference is None:
        return None
    difference = abs(current - reference)
    if stddev is None or stddev == 0:
        return 0.0 if difference == 0 else math.inf
    return difference / stddev


def _numeric_psi(ref: ColumnProfile, cur: ColumnProfile, epsilon: float):
    if not ref.histogram or not cur.histogram:
        return None, False
    edges = ref.histogram["edges"]
    exact = list(cur.histogram["edges"]) == list(edges)
    counts = rebin(cur.histogram["edges"], cur.histogram["counts"], edges)
    return psi(ref.histogram["counts"], counts, epsilon), not exact


def _categorical_psi(ref: ColumnProfile, cur: ColumnProfile, epsilon: float):
    if not ref.top_values:
        return None, False
    values = [value for value, _ in ref.top_values]
    ref_counts = [count for _, count in ref.top_values]
    ref_other = ref.rows - ref.nulls - sum(ref_counts)
    approximate = False
    if cur.reference_value_counts is not None and all(v in cur.reference_value_counts for v in values):
        cur_counts = [cur.reference_value_counts[v] for v in values]
    else:
        own = {value: count for value, count in (cur.top_values or [])}
        complete = cur.distinct is not None and cur.distinct <= TOP_VALUES and len(own) == cur.distinct
        approximate = not complete and any(v not in own for v in values)
        cur_counts = [own.get(v, 0) for v in values]
    cur_other = cur.rows - cur.nulls - sum(cur_counts)
    return psi(ref_counts + [ref_other], cur_counts + [cur_other], epsilon), approximate


def compare_column(ref: ColumnProfile, cur: ColumnProfile | None, thresholds: Thresholds) -> FeatureVerdict:
    if cur is None:
        return FeatureVerdict(feature=ref.name, kind=ref.kind, status="fail",
                              reasons=["missing from the current profile"])
    if cur.kind != ref.kind:
        return FeatureVerdict(feature=ref.name, kind=ref.kind, status="fail",
                              reasons=[f"kind changed from {ref.kind} ({ref.spark_type}) to {cur.kind} "
                                       f"({cur.spark_type})"])
    if cur.rows == 0 and ref.rows > 0:
        return FeatureVerdict(feature=ref.name, kind=ref.kind, status="fail", null_fraction_reference=ref.null_fraction,
                              reasons=[f"no rows (the reference has {ref.rows}): its statistics cannot be computed"])
    if ref.kind in ("numeric", "timestamp") and ref.mean is not None and cur.mean is None:
        return FeatureVerdict(feature=ref.name, kind=ref.kind, status="fail", null_fraction_reference=ref.null_fraction,
                              null_fraction_current=cur.null_fraction,
                              reasons=["no finite value: its statistics cannot be computed"])
    verdict = FeatureVerdict(feature=ref.name, kind=ref.kind, status="pass",
                             null_fraction_reference=ref.null_fraction, null_fraction_current=cur.null_fraction)
    if ref.null_fraction is not None and cur.null_fraction is not None:
        verdict.null_fraction_change = abs(cur.null_fraction - ref.null_fraction)
    if ref.kind in ("numeric", "timestamp"):
        verdict.psi, verdict.approximate = _numeric_psi(ref, cur, thresholds.epsilon)
        verdict.mean_shift = _shift(cur.mean, ref.mean, ref.stddev)
        shifts = {key: _shift(cur.quantiles.get(key), ref.quantiles.get(key), ref.stddev) for key in QUANTILE_KEYS}
        verdict.quantile_shifts = {key: value for key, value in shifts.items() if value is not None}
        if verdict.quantile_shifts:
            verdict.quantile_shift = max(verdict.quantile_shifts.values())
    elif ref.kind in ("string", "boolean"):
        verdict.psi, verdict.approximate = _categorical_psi(ref, cur, thresholds.epsilon)
    worst = 0
    for check, value, unit in (("psi", verdict.psi, ""), ("null_fraction", verdict.null_fraction_change, ""),
                               ("mean_shift", verdict.mean_shift, " sd"),
                               ("quantile_shift", verdict.quantile_shift, " sd")):
        if value is None:
            continue
        for level, name in ((2, "fail"), (1, "warn")):
            limit = getattr(thresholds, f"{check}_{name}")
            if value >= limit:
                label = check.replace("_", " ") + (" change" if check == "null_fraction" else "")
                verdict.reasons.append(f"{label} {value:.4g}{unit} >= {limit:g}{unit} ({name})")
                worst = max(worst, level)
                break
    verdict.status = STATUSES[worst]
    return verdict


def compare(reference: Profile, current: Profile, thresholds: Thresholds | dict | None = None,
            columns: list[str] | None = None) -> list[FeatureVerdict]:
    """One FeatureVerdict per column of the reference (or of `columns`), in the reference's order."""
    if isinstance(thresholds, dict):
        thresholds = Thresholds.from_dict(thresholds)
    thresholds = thresholds or Thresholds()
    if not isinstance(reference, Profile) or not isinstance(current, Profile):
        raise DefinitionError(f"compare needs two Profile objects, got {type(reference).__name__} and "
                              f"{type(current).__name__}")
    names = list(columns) if columns is not None else list(reference.columns)
    verdicts = [compare_column(reference[name], current.columns.get(name), thresholds) for name in names]
    drop = (reference.rows - current.rows) / reference.rows if reference.rows else 0.0
    for level, name in ((2, "fail"), (1, "warn")):
        limit = getattr(thresholds, f"row_count_drop_{name}")
        if drop > 0 and drop >= limit:  # the table lost rows: every column's verdict says so
            reason = f"row count {current.rows} vs {reference.rows}: drop {drop:.4g} >= {limit:g} ({name})"
            for verdict in verdicts:
                if not verdict.reasons[:1] or not verdict.reasons[0].startswith("no rows"):  # "no rows" says it
                    verdict.reasons.append(reason)
                verdict.status = STATUSES[max(STATUSES.index(verdict.status), level)]
            break
    return verdicts


def overall_status(verdicts: list[FeatureVerdict]) -> str:
    """'fail' if any feature fails, else 'warn' if any warns, else 'pass'."""
    return STATUSES[max((STATUSES.index(v.status) for v in verdicts), default=0)]
