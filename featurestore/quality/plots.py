"""Plots of profiles with matplotlib, imported only when a plot is asked for.

Figures are built with `matplotlib.figure.Figure` (no pyplot, no global state, no GUI
backend), so they work the same in a notebook, a job and a test. Heights are fractions of
each profile's rows, so a profile of 1,000 rows overlays one of 1,000,000.
"""
from __future__ import annotations

import io
import math
from datetime import UTC

REFERENCE_COLOR = "#4C72B0"
CURRENT_COLOR = "#DD8452"


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError as error:
        if error.name != "matplotlib":
            raise
        from featurestore.errors import FeatureStoreError

        raise FeatureStoreError("plotting profiles needs matplotlib, which is not installed; "
                                "pip install matplotlib") from None
    return Figure(figsize=(width, height), layout="constrained")


def draw_column(ax, column, other=None, labels=("profile", "other")) -> None:
    """Draw one column's histogram (numbers) or top values (strings) on `ax`, `other` overlaid."""
    profiles = [(column, labels[0], REFERENCE_COLOR)]
    if other is not None:
        profiles.append((other, labels[1], CURRENT_COLOR))
    ax.set_title(column.name, fontsize=10)
    if column.histogram and column.kind != "boolean":
        for col, label, color in profiles:
            if not col.histogram:
                continue
            edges = list(col.histogram["edges"])
            if col.kind == "timestamp":
                from matplotlib import dates

                edges = [dates.date2num(_utc(edge)) for edge in edges]
            heights = [count / col.rows if col.rows else 0.0 for count in col.histogram["counts"]]
            ax.stairs(heights, edges, fill=True, alpha=0.45, color=color, label=label)
            ax.stairs(heights, edges, color=color)
        if column.kind == "timestamp":
            ax.xaxis_date()
            for tick in ax.get_xticklabels():
                tick.set_rotation(30)
    elif column.top_values is not None:
        categories = [value for value, _ in column.top_values]
        if other is not None and other.top_values:
            categories += [value for value, _ in other.top_values if value not in categories]
        width = 0.8 / len(profiles)
        for k, (col, label, color) in enumerate(profiles):
            counts = {value: count for value, count in (col.top_values or [])}
            counts.update(col.reference_value_counts or {})
            heights = [counts.get(value, 0) / col.rows if col.rows else 0.0 for value in categories]
            ax.bar([j + k * width for j in range(len(categories))], heights, width=width, color=color,
                   alpha=0.75, label=label)
        ax.set_xticks([j + width * (len(profiles) - 1) / 2 for j in range(len(categories))],
                      [str(value) for value in categories], rotation=30, fontsize=8)
    else:
        ax.text(0.5, 0.5, "no values to plot", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("fraction of rows", fontsize=8)
    if other is not None:
        ax.legend(fontsize=8)


def _utc(seconds: float):
    from datetime import datetime

    return datetime.fromtimestamp(seconds, tz=UTC)


def profile_figure(profile, other=None, columns=None):
    """A Figure with one Axes per column of `profile` (and `other`, overlaid)."""
    names = list(columns) if columns is not None else list(profile.columns)
    for name in names:
        profile[name]
    ncols = min(3, max(1, len(names)))
    nrows = max(1, math.ceil(len(names) / ncols))
    figure = _figure(4.2 * ncols, 3.0 * nrows)
    axes = figure.subplots(nrows, ncols, squeeze=False)
    labels = (profile.label(), other.label() if other is not None else "")
    for index, ax in enumerate(axes.flat):
        if index >= len(names):
            ax.set_visible(False)
            continue
        name = names[index]
        draw_column(ax, profile.columns[name],
                    other.columns.get(name) if other is not None else None, labels)
    return figure


def column_png(column, other=None, labels=("reference", "current")) -> bytes:
    """One column (reference vs current) as PNG bytes, for the HTML report."""
    figure = _figure(5.0, 3.2)
    draw_column(figure.subplots(), column, other, labels)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()
