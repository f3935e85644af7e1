"""Profiles and drift verdicts for people and pipelines: text tables, JSON, an HTML page.

The HTML report is one self-contained file: inline CSS, and per feature a section
(`<section class="feature" data-feature=NAME data-status=pass|warn|fail>`) holding its
verdict and one PNG plot (reference vs current) embedded as base64, so it can be mailed
or attached to a CI run and opened anywhere.
"""
from __future__ import annotations

import base64
import html
from datetime import UTC, datetime

from featurestore.jsonio import dumps  # noqa: F401 - the reports' JSON
from featurestore.quality.drift import FeatureVerdict, Thresholds, overall_status
from featurestore.quality.profile import Profile


def _number(value, kind: str = "numeric") -> str:
    if value is None:
        return "-"
    if kind == "timestamp" and isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(value, float):
        if value != value:
            return "NaN"
        return f"{value:.4g}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) if rows else len(header[i])
              for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths)).rstrip(),
             "  ".join("-" * width for width in widths)]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def profile_text(profile: Profile) -> str:
    """The profile as a text table, one line per column (strings show their top 3 values)."""
    header = ["column", "kind", "rows", "nulls", "nans", "min", "max", "mean", "stddev", "p50", "distinct", "top"]
    rows = []
    for name, col in profile.columns.items():
        top = ", ".join(f"{value}:{count}" for value, count in (col.top_values or [])[:3])
        kind = col.kind
        rows.append([name, kind, str(col.rows), str(col.nulls), str(col.nans), _number(col.min, kind),
                     _number(col.max, kind), _number(col.mean, kind), _number(col.stddev),
                     _number(col.quantiles.get("p50"), kind), _distinct(col), top])
    plural = "" if profile.rows == 1 else "s"
    note = "\n(~ = estimated: HyperLogLog distinct count, within 5%)" if any(
        c.distinct is not None and not c.distinct_exact for c in profile.columns.values()) else ""
    return f"Profile of {profile.label()}: {profile.rows:,} row{plural} (computed {profile.computed_at})\n" + \
        _table(header, rows) + note


def _distinct(col) -> str:
    return _number(col.distinct) + ("" if col.distinct is None or col.distinct_exact else "~")


def verdicts_text(verdicts: list[FeatureVerdict], reference_label: str = "reference",
                  current_label: str = "current") -> str:
    """The drift verdicts as a text table, then one summary line."""
    header = ["feature", "kind", "status", "psi", "null frac ref -> cur", "mean shift (sd)",
              "max quantile shift (sd)", "reasons"]
    rows = []
    for v in verdicts:
        nulls = f"{_number(v.null_fraction_reference)} -> {_number(v.null_fraction_current)}"
        psi = _number(v.psi) + ("~" if v.approximate else "")
        rows.append([v.feature, v.kind, v.status.upper(), psi, nulls, _number(v.mean_shift),
                     _number(v.quantile_shift), "; ".join(v.reasons)])
    counts = {status: sum(v.status == status for v in verdicts) for status in ("pass", "warn", "fail")}
    summary = (f"{overall_status(verdicts).upper()}: {current_label} vs {reference_label}: {counts['fail']} failed, "
               f"{counts['warn']} warned, {counts['pass']} passed")
    note = "\n(~ = PSI from re-binned histograms, approximate)" if any(v.approximate for v in verdicts) else ""
    return _table(header, rows) + note + "\n" + summary


def verdicts_json(verdicts: list[FeatureVerdict], reference: Profile, current: Profile,
                  thresholds: Thresholds | None = None) -> dict:
    """What `--format json` prints: the overall status, both profiles' labels, thresholds, verdicts."""
    return {"status": overall_status(verdicts), "reference": reference.label(), "current": current.label(),
            "reference_rows": reference.rows, "current_rows": current.rows,
            "thresholds": (thresholds or Thresholds()).to_dict(),
            "features": [verdict.to_dict() for verdict in verdicts]}


STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; font-size: 0.9em; }
.pass { color: #1a7f37; } .warn { color: #9a6700; } .fail { color: #cf222e; }
section.feature { border-top: 1px solid #ddd; padding-top: 0.5em; }
"""


def html_report(reference: Profile, current: Profile, verdicts: list[FeatureVerdict],
                thresholds: Thresholds | None = None) -> str:
    """A self-contained HTML page: summary table, then per feature its verdict and one plot."""
    from featurestore.quality.plots import column_png

    esc = html.escape
    status = overall_status(verdicts)
    labels = (f"reference: {reference.label()}", f"current: {current.label()}")
    summary_rows = "".join(
        f"<tr><td><a href='#f-{esc(v.feature)}'>{esc(v.feature)}</a></td><td>{esc(v.kind)}</td>"
        f"<td class='{v.status}'>{v.status.upper()}</td><td>{esc(_number(v.psi))}</td>"
        f"<td>{esc(_number(v.null_fraction_change))}</td><td>{esc(_number(v.mean_shift))}</td>"
        f"<td>{esc(_number(v.quantile_shift))}</td><td>{esc('; '.join(v.reasons))}</td></tr>"
        for v in verdicts)
    sections = []
    for v in verdicts:
        ref_col, cur_col = reference.columns.get(v.feature), current.columns.get(v.feature)
        if ref_col is not None:
            png = base64.b64encode(column_png(ref_col, cur_col, labels)).decode("ascii")
            image = f"<img alt='{esc(v.feature)}: reference vs current' src='data:image/png;base64,{png}'>"
        else:
            image = "<p>no plot: the feature is not in the reference profile</p>"
        reasons = "".join(f"<li>{esc(reason)}</li>" for reason in v.reasons) or "<li>within thresholds</li>"
        sections.append(
            f"<section class='feature' id='f-{esc(v.feature)}' data-feature='{esc(v.feature)}' "
            f"data-status='{v.status}'><h2>{esc(v.feature)} <span class='{v.status}'>{v.status.upper()}</span>"
            f"</h2><ul>{reasons}</ul>{image}</section>")
    thresholds_text = ", ".join(f"{k}={v:g}" for k, v in (thresholds or Thresholds()).to_dict().items())
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>featurestore drift: {esc(current.label())}"
            f"</title><style>{STYLE}</style></head><body>"
            f"<h1>Drift report: <span class='{status}'>{status.upper()}</span></h1>"
            f"<p>Current: {esc(current.label())} ({current.rows:,} rows). Reference: {esc(reference.label())} "
            f"({reference.rows:,} rows). Thresholds: {esc(thresholds_text)}.</p>"
            f"<table><tr><th>feature</th><th>kind</th><th>status</th><th>PSI</th><th>null fraction change</th>"
            f"<th>mean shift (sd)</th><th>max quantile shift (sd)</th><th>reasons</th></tr>{summary_rows}</table>"
            + "".join(sections) + "</body></html>")


def write_html(path, reference: Profile, current: Profile, verdicts: list[FeatureVerdict],
               thresholds: Thresholds | None = None) -> str:
    """Write html_report(...) to `path` (UTF-8); returns the path as a string."""
    from pathlib import Path

    Path(path).write_text(html_report(reference, current, verdicts, thresholds), encoding="utf-8")
    return str(path)


