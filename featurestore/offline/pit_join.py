"""Point-in-time joins: for each entity row, each view's newest row at or before its time.

The rules (tested one by one in tests/spark/test_point_in_time_rules.py). For an entity row with
keys k and time ts, and a view with ttl T:

    feature rows of k                       entity row (k, ts=10:00), T = 2h
    event_ts  created  conv_rate
    07:00     07:05    0.1        <- older than ts - T: never a candidate
    09:00     09:05    0.2        <- candidate
    09:00     09:30    null       <- candidate, wins: same event_ts, newer created
    11:00     11:05    0.4        <- after ts: never a candidate
    result: conv_rate = null (the winner's whole row, nulls included)

With no candidate the features are null and the entity row is still returned; every
entity row comes back exactly once, duplicates included; a null key matches nothing.

Strategies share one small interface: `PointInTimeJoiner.__call__` checks the inputs and
calls the strategy's `_join`. `WindowAsOfJoiner` (the default) is an as-of join: entity
rows and feature rows are unioned, sorted once per key, and each entity row takes the
greatest (event time, created time) feature row before it (a running max over the
window), so the work is linear in the rows of a key. `RangeJoinJoiner` is the range-join + row_number
formulation other feature stores generate; it pairs every entity row with every feature
row of its key in the ttl window, and exists to be compared against.

Where the join's time goes and what was tried: docs/performance.md.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import timedelta

from featurestore.errors import RetrievalError
from featurestore.feature_refs import ViewRequest

TS = "__fs_ts"  # the entity row's time (a timestamp), added by the caller
EVENT_TS = "__fs_event_ts"
CREATED_TS = "__fs_created_ts"
EARLIEST_MICROS = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z, the earliest Spark timestamp
ORDER = "__fs_order"  # the as-of window's one sort key (see _order)
IS_ENTITY = "__fs_is_entity"
EVENT_US = "event_us"


def oldest_allowed(ts, ttl: timedelta):
    """The as-of window's lower bound `ts - ttl`, exact to the microsecond.

    Computed on microseconds since the epoch, so a 1 us or 1.5 s ttl keeps its fraction,
    and clamped to the earliest timestamp, so a 100-year ttl never overflows.
    """
    from pyspark.sql import functions as F

    bound = F.unix_micros(ts) - F.lit(ttl // timedelta(microseconds=1))
    return F.timestamp_micros(F.greatest(bound, F.lit(EARLIEST_MICROS)))


@dataclass
class ViewRows:
    """One requested view's feature rows, prepared for joining.

    `frame` has the view's join keys (cast to their declared types, named as the entity columns
    they match: `keys`), EVENT_TS, CREATED_TS
    (null when the source has none) and the requested features, named as in the view;
    rows with a null key are already removed.
    """
    request: ViewRequest
    frame: object  # pyspark DataFrame

    @property
    def keys(self) -> list[str]:
        """The entity columns the view's join keys are matched on (with_join_key_map's, or the keys)."""
        return self.request.key_columns

    @property
    def ttl(self) -> timedelta:
        """The view's ttl; timedelta(0) means no lower bound."""
        return self.request.view.ttl


class PointInTimeJoiner(ABC):
    """Joins features onto entity rows point-in-time correctly; subclasses choose how."""

    name = "abstract"

    def __call__(self, entities, views: list[ViewRows], full_feature_names: bool):
        """`entities` holds the entity columns plus TS; the result has the entity columns
        (TS dropped) followed by the feature columns, in request order."""
        if TS not in entities.columns:
            raise RetrievalError(f"internal: the entity frame lacks the {TS} column")
        # Join keys and their types were checked once, by retrieval.check_entity_keys.
        joined = self._join(entities, views, full_feature_names)
        entity_columns = [c for c in entities.columns if c != TS]
        feature_columns = [r.request.output_name(f, full_feature_names) for r in views for f in r.request.features]
        return joined.select(*[column(c) for c in entity_columns + feature_columns])

    @abstractmethod
    def _join(self, entities, views: list[ViewRows], full_feature_names: bool):
        """Return entity columns + TS + feature columns (any order, any extra columns)."""


class WindowAsOfJoiner(PointInTimeJoiner):
    """Union + running-window as-of join; views sharing the same join keys share one pass."""

    name = "window"

    def _join(self, entities, views, full_feature_names):
        groups: dict[tuple[str, ...], list[ViewRows]] = {}
        for rows in views:
            groups.setdefault(tuple(sorted(rows.keys)), []).append(rows)
        result = entities
        for keys, group in groups.items():
            result = self._join_group(result, list(keys), group, full_feature_names)
        return result

    @staticmethod
    def _join_group(entities, keys, group, full_feature_names):
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        view_columns = [f"__fs_view_{i}" for i in range(len(group))]
        carried = list(entities.columns)
        entity_part = entities.select(*[column(c) for c in carried], _order(F.col(TS), 1).alias(ORDER),
                                      F.lit(True).alias(IS_ENTITY), *[F.lit(None).alias(v) for v in view_columns])
        feature_parts = []
        for i, rows in enumerate(group):
            # The winner is the greatest (event time, created time); comparing the whole struct
            # also settles a full tie the same way every time.
            value = F.struct(F.unix_micros(EVENT_TS).alias(EVENT_US),
                             F.coalesce(F.unix_micros(CREATED_TS), F.lit(EARLIEST_MICROS)).alias("created_us"),
                             *[F.col(f) for f in rows.request.features])
            feature_parts.append(rows.frame.select(
                *[F.col(c) if c in keys else F.lit(None).cast(entities.schema[c].dataType).alias(c) for c in carried],
                _order(F.col(EVENT_TS), 0).alias(ORDER), F.lit(False).alias(IS_ENTITY),
                *[value.alias(v) if j == i else F.lit(None).alias(v) for j, v in enumerate(view_columns)]))
        value_types = {v: part.schema[v].dataType for v, part in zip(view_columns, feature_parts)}
        union = None
        for part in [entity_part, *feature_parts]:
            typed = part.select(*[F.col(c).cast(value_types[c]).alias(c) if c in value_types else column(c)
                                  for c in part.columns])
            union = typed if union is None else union.unionByName(typed)
        window = (Window.partitionBy(*[column(k) for k in keys]).orderBy(ORDER)
                  .rowsBetween(Window.unboundedPreceding, Window.currentRow))
        matched = union.select(*[column(c) for c in carried], F.col(IS_ENTITY),
                               *[F.max(v).over(window).alias(v) for v in view_columns]).where(F.col(IS_ENTITY))
        outputs = [column(c) for c in carried]
        for rows, v in zip(group, view_columns):
            winner = F.col(v)
            if rows.ttl > timedelta(0):
                oldest_us = F.unix_micros(column(TS)) - F.lit(rows.ttl // timedelta(microseconds=1))
                winner = F.when(F.col(f"{v}.{EVENT_US}") >= oldest_us, winner)
            for feature in rows.request.features:
                outputs.append(winner[feature].alias(rows.request.output_name(feature, full_feature_names)))
        return matched.select(*outputs)


def _order(ts, is_entity: int):
    """One sort key for the as-of window: microseconds x 2, plus 1 for entity rows, so a feature
    row at an entity row's very time sorts before it (event_ts <= ts is a candidate)."""
    from pyspark.sql import functions as F

    return F.unix_micros(ts) * 2 + F.lit(is_entity)


class RangeJoinJoiner(PointInTimeJoiner):
    """Left range join on keys and the ttl window, then row_number() per entity row.

    Kept as the formulation to beat (benchmarks) and as a second opinion (tests).
    """

    name = "range_join"

    def _join(self, entities, views, full_feature_names):
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        row_id = "__fs_row_id"
        result = entities.withColumn(row_id, F.monotonically_increasing_id())
        for i, rows in enumerate(views):
            prefix = f"__fs_r{i}_"
            right = rows.frame.select(*[column(c).alias(prefix + c) for c in rows.frame.columns])
            condition = [F.col(k).eqNullSafe(F.col(prefix + k)) & F.col(k).isNotNull() for k in rows.keys]
            condition.append(F.col(prefix + EVENT_TS) <= F.col(TS))
            if rows.ttl > timedelta(0):
                condition.append(F.col(prefix + EVENT_TS) >= oldest_allowed(F.col(TS), rows.ttl))
            joined = result.join(right, on=_and_all(condition), how="left")
            order = Window.partitionBy(row_id).orderBy(F.col(prefix + EVENT_TS).desc_nulls_last(),
                                                       F.col(prefix + CREATED_TS).desc_nulls_last())
            ranked = joined.withColumn("__fs_rank", F.row_number().over(order)).where(F.col("__fs_rank") == 1)
            result = ranked.select(
                *[column(c) for c in result.columns],
                *[F.col(prefix + f).alias(rows.request.output_name(f, full_feature_names))
                  for f in rows.request.features])
        return result


def column(name: str):
    """A column by its exact name, even one with dots, spaces or backticks in it."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _and_all(conditions):
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition
    return combined


JOINERS = {joiner.name: joiner for joiner in (WindowAsOfJoiner(), RangeJoinJoiner())}


def choose_joiner(strategy: str = "window") -> PointInTimeJoiner:
    """The join strategy by name: 'window' (default, as-of) or 'range_join' (for comparison)."""
    if strategy not in JOINERS:
        raise RetrievalError(f"unknown join strategy {strategy!r}; choose one of {', '.join(JOINERS)}")
    return JOINERS[strategy]
