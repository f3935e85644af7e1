"""A slow, obviously-correct point-in-time join in plain Python, used only by tests.

It follows the point-in-time rules of docs/design.md literally, one entity row and one
view at a time, so the Spark strategies can be compared against it on generated data.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

OLDEST = datetime.min.replace(tzinfo=UTC)


def reference_join(entity_rows: list[dict], ts_column: str, views: list[dict],
                   full_feature_names: bool = False) -> list[dict]:
    """views: dicts with name, keys, ttl (timedelta), features, rows (dicts with the keys,
    'event_ts', 'created_ts' (or None) and the features)."""
    out = []
    for entity in entity_rows:
        result = dict(entity)
        ts: datetime = entity[ts_column]
        for view in views:
            best = None
            for row in view["rows"]:
                if any(entity[k] is None or row[k] is None or row[k] != entity[k] for k in view["keys"]):
                    continue
                if ts is None or row["event_ts"] > ts:
                    continue
                if view["ttl"] > timedelta(0) and row["event_ts"] < ts - view["ttl"]:
                    continue
                rank = (row["event_ts"], row["created_ts"] or OLDEST)
                if best is None or rank > best[0]:
                    best = (rank, row)
            for feature in view["features"]:
                name = f"{view['name']}__{feature}" if full_feature_names else feature
                result[name] = best[1][feature] if best else None
        out.append(result)
    return out
