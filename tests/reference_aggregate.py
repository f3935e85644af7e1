"""Windowed aggregations in plain Python, rule by rule, used only by tests.

For an entity row (keys, ts), a view delay D and an aggregation with window W: the events
of the same keys with ts - D - W < event_ts <= ts - D. Nulls are ignored; an empty window
gives 0 for count and approx_count_distinct, None otherwise; var and stddev are sample
statistics (None below two values); last is the latest event's value, ties broken by the
greatest value.
"""
from __future__ import annotations

import math
import statistics
from datetime import timedelta


def reference_aggregate(entity_rows: list[dict], keys: list[str], events: list[dict], aggregations,
                        delay: timedelta = timedelta(0)) -> list[dict]:
    """entity_rows: dicts with the keys and 'ts'; events: dicts with the keys, 'event_ts' and the inputs."""
    out = []
    for entity in entity_rows:
        result = dict(entity)
        for a in aggregations:
            high = entity["ts"] - delay
            low = high - a.time_window
            window = [e for e in events
                      if all(entity[k] is not None and e[k] == entity[k] for k in keys) and low < e["event_ts"] <= high]
            result[a.name] = _apply(a, window)
        out.append(result)
    return out


def _apply(a, window: list[dict]):
    if a.function == "count" and not a.column:
        return len(window)
    values = [e[a.column] for e in window if e[a.column] is not None]
    if a.function == "count":
        return len(values)
    if a.function == "approx_count_distinct":
        return len(set(values))
    if not values:
        return None
    if a.function == "sum":
        return sum(values)
    if a.function == "mean":
        return sum(values) / len(values)
    if a.function in ("var", "stddev"):
        if len(values) < 2:
            return None
        variance = statistics.variance(values)
        return variance if a.function == "var" else math.sqrt(variance)
    if a.function == "min":
        return min(values)
    if a.function == "max":
        return max(values)
    if a.function == "last":
        return max((e["event_ts"], e[a.column]) for e in window if e[a.column] is not None)[1]
    raise ValueError(a.function)
