"""A skew report (featurestore.quality.skew) as text, and as one self-contained HTML page.

The page has a summary table, then per feature a section (`<section class="feature"
data-feature=NAME data-status=pass|fail>`) with its counts by cause, example rows, and one
PNG (matplotlib, embedded as base64): the outcomes as one stacked bar, and the mismatch
rate over the compared time span.
"""
from __future__ import annotations

import base64
import html
import io

from featurestore.quality.report import STYLE, _table
from featurestore.quality.skew import CAUSES, SkewReport

COLORS = {"match": "#1a7f37", "online_stale": "#cf222e", "online_newer": "#8250df", "value_differs": "#bc4c00",
          "null_one_side": "#9a6700"}


def _rate(value) -> str:
    return "-" if value is None else f"{value:.2%}"


def skew_text(report: SkewReport) -> str:
    """One line per feature: rows compared, match rate, mismatches by cause, status."""
    header = ["feature", "compared", "match", *CAUSES, "status"]
    rows = [[f.feature, f"{f.compared:,}", _rate(f.match_rate), *(f"{f.causes.get(c, 0):,}" for c in CAUSES),
             f.status.upper() + (f" ({f.note})" if f.note else "")] for f in report.features]
    span = f" since {report.since}" if report.since else ""
    span += f" until {report.until}" if report.until else ""
    lines = [f"Skew of feature service {report.service!r}{span}: {report.logged_rows:,} logged rows, "
             f"threshold {report.threshold:.2%} mismatches per feature",
             _table(header, rows)]
    if report.other_registry_rows:
        lines.append(f"({report.other_registry_rows:,} rows served under another registry were not compared)")
    if report.logged_rows - report.other_registry_rows <= 0:
        lines.append("FAIL: no logged rows to compare: is the service called, and its logging configured and "
                     "applied? (a gate that saw nothing does not pass)")
    for feature in report.features:
        for cause, examples in feature.examples.items():
            for example in examples:
                lines.append(f"  {feature.feature} {cause}: keys {example['keys']} at {example['at']}: online "
                             f"{example['online']} (row {example['online_event']}), training {example['offline']} "
                             f"(row {example['offline_event']})")
    lines.append(f"Result: {report.status.upper()}")
    return "\n".join(lines)


def _png(feature) -> bytes | None:
    from featurestore.quality.plots import _figure

    if not feature.compared:
        return None
    figure = _figure(9.0, 2.6)
    bars, times = figure.subplots(1, 2, width_ratios=[1, 2])
    left = 0
    for outcome in ("match", *CAUSES):
        count = feature.matches if outcome == "match" else feature.causes.get(outcome, 0)
        if count:
            bars.barh([0], [count / feature.compared], left=[left], color=COLORS[outcome], label=outcome)
            left += count / feature.compared
    bars.set_xlim(0, 1)
    bars.set_yticks([])
    bars.set_title("outcomes (share of rows)", fontsize=9)
    bars.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    if feature.over_time:
        labels = [start[5:16].replace("T", " ") for start, _, _ in feature.over_time]
        rates = [bad / rows if rows else 0.0 for _, rows, bad in feature.over_time]
        times.plot(range(len(rates)), rates, marker="o", color=COLORS["online_stale"])
        times.set_xticks(range(len(labels)), labels, rotation=45, fontsize=6, ha="right")
        times.set_ylim(0, max(0.05, max(rates) * 1.1))  # a clean run shows a flat line at 0%, not noise
        from matplotlib.ticker import PercentFormatter

        times.yaxis.set_major_formatter(PercentFormatter(1.0))
    times.set_title("mismatch rate over time (UTC)", fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def skew_html(report: SkewReport) -> str:
    esc = html.escape
    summary = "".join(
        f"<tr><td><a href='#f-{esc(f.feature)}'>{esc(f.feature)}</a></td><td>{f.compared:,}</td>"
        f"<td>{_rate(f.match_rate)}</td>" + "".join(f"<td>{f.causes.get(c, 0):,}</td>" for c in CAUSES) +
        f"<td class='{f.status}'>{f.status.upper()}</td><td>{esc(f.note)}</td></tr>" for f in report.features)
    sections = []
    for f in report.features:
        png = _png(f)
        image = (f"<img alt='{esc(f.feature)}: outcomes and mismatch rate over time' "
                 f"src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>" if png else
                 f"<p>{esc(f.note or 'no rows compared')}</p>")
        examples = "".join(
            f"<tr><td>{esc(cause)}</td><td><code>{esc(e['keys'])}</code></td><td>{esc(e['at'])}</td>"
            f"<td>{esc(str(e['online']))}</td><td>{esc(str(e['online_event']))}</td><td>{esc(str(e['offline']))}</td>"
            f"<td>{esc(str(e['offline_event']))}</td></tr>" for cause, rows in f.examples.items() for e in rows)
        table = ("<table><tr><th>cause</th><th>keys</th><th>served at</th><th>online value</th><th>online row</th>"
                 f"<th>training value</th><th>training row</th></tr>{examples}</table>" if examples else "")
        sections.append(f"<section class='feature' id='f-{esc(f.feature)}' data-feature='{esc(f.feature)}' "
                        f"data-status='{f.status}'><h2>{esc(f.feature)} <span class='{f.status}'>"
                        f"{f.status.upper()}</span></h2><p>{f.compared:,} rows compared, {_rate(f.match_rate)} "
                        f"exact matches.</p>{image}{table}</section>")
    span = (f" since {esc(report.since)}" if report.since else "") + (f" until {esc(report.until)}"
                                                                       if report.until else "")
    causes = "".join(f"<th>{c}</th>" for c in CAUSES)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>featurestore skew: {esc(report.service)}"
            f"</title><style>{STYLE}</style></head><body>"
            f"<h1>Training/serving skew of {esc(report.service)}: <span class='{report.status}'>"
            f"{report.status.upper()}</span></h1>"
            f"<p>{report.logged_rows:,} logged rows{span}, computed {esc(report.computed_at)}; a feature fails above "
            f"{report.threshold:.2%} mismatches. {report.other_registry_rows:,} rows served under another registry "
            f"were not compared.</p>"
            f"<table><tr><th>feature</th><th>compared</th><th>match</th>{causes}<th>status</th><th>note</th></tr>"
            f"{summary}</table>" + "".join(sections) + "</body></html>")


def write_skew_html(path, report: SkewReport) -> str:
    from pathlib import Path

    Path(path).write_text(skew_html(report), encoding="utf-8")
    return str(path)
