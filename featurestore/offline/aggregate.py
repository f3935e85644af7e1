"""Point-in-time windowed aggregations in Spark, linear in the rows of a key.

For an entity row at time ts, a view with delay D and an aggregation with window W, the
aggregate covers the key's events with `ts - D - W < event_ts <= ts - D`.

How, without a range join or a per-row re-scan. Entity rows and events are unioned and
partitioned by the join keys, once; every lookup below is then a window function over
that one partition with an *unbounded preceding* frame, which Spark evaluates
incrementally (each row is added to the frame once), so the work grows linearly with
the rows of a key whatever the window lengths and however many windows there are:

- count, sum, mean, var, stddev: running prefix sums over event time (count, sum, and
  for the variance sums of (x - k) and (x - k)^2 with k the key's first value, which
  keeps the differences numerically stable). The prefix as of `ts - D` minus the prefix
  as of `ts - D - W` is the window's. "As of t" is `last(prefix) over RANGE BETWEEN
  UNBOUNDED PRECEDING AND (ts - t) PRECEDING`: a frame ending D (or D + W) before the row.
- last: the same as-of lookup of the latest non-null value, kept when its time is in
  the window.
- min, max: not differenceable, so time is cut into blocks of length W aligned at
  multiples of W. A window (a, b] with b - a = W spans the tail of block k-1 after a and
  the head of block k up to b (k = floor(b / W)). A running min within each block gives
  the head (as of b, if that event is in block k); a running min within each block in
  descending time gives the tail (read from the first event after a, found with a
  descending frame, if that event is in block k-1). Two as-of lookups per window.
- approx_count_distinct: the same blocks, with a HyperLogLog sketch per block head and
  tail (Spark's hll_sketch_agg / hll_union), estimated after the union of the two.

The plain-Python reference in tests/reference_aggregate.py states the same rules row by
row; tests/spark/test_aggregations_random.py compares the two on generated data.
"""
from __future__ import annotations

from datetime import timedelta

from featurestore.definitions import FeatureView
from featurestore.offline.pit_join import TS, column

T = "__fs_t"  # event time or entity row time, in microseconds since the epoch
ROW = "__fs_row"  # the entity row, carried as one struct; null on event rows
STATE = "__fs_state"  # an event row's running values, as one struct; null on entity rows
IS_EVENT = "__fs_is_event"
MIN_MAX = ("min", "max")
PREFIX_SUMS = ("count", "sum", "mean", "var", "stddev")


def micros(duration: timedelta) -> int:
    return duration // timedelta(microseconds=1)


def aggregate(entities, view: FeatureView, features: list[str], events, output_name, key_columns=None):
    """Add the requested aggregations of `view` to `entities` (entity columns + TS).

    events: the view's source (checked, field_mapping applied). output_name(feature) gives
    each feature's column name. key_columns: the entity columns holding the join keys, in
    join-key order (default: the keys themselves; with_join_key_map names others). Every
    entity row comes back exactly once, its columns unchanged, followed by the features.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    aggregations = [a for a in view.aggregations if a.name in features]
    by_name = {a.name: a for a in aggregations}
    aggregations = [by_name[f] for f in features]
    keys = view.join_keys
    dtypes = {f.name: f.dtype for f in view.schema}
    inputs = sorted({a.column for a in aggregations if a.column})
    carried = list(entities.columns)
    delay = micros(view.delay)

    # Column lists are kept here rather than asked of the frames: over Spark Connect each
    # `.columns` is a round trip to the server (about 30 ms), on every materialization.
    union_columns = [*keys, T, IS_EVENT, ROW, *inputs]
    event_rows = events.select(
        *[column(k).cast(dtypes[k].spark_type).alias(k) for k in keys],
        F.unix_micros(column(view.source.timestamp_field).cast("timestamp")).alias(T),
        F.lit(True).alias(IS_EVENT), *[column(c).cast(dtypes[c].spark_type).alias(c) for c in inputs])
    event_rows = event_rows.where(F.col(T).isNotNull())
    for key in keys:
        event_rows = event_rows.where(column(key).isNotNull())
    entity_keys = zip(keys, key_columns or keys)
    entity_rows = entities.select(
        *[column(c).cast(dtypes[k].spark_type).alias(k) for k, c in entity_keys], F.unix_micros(F.col(TS)).alias(T),
        F.lit(None).cast("boolean").alias(IS_EVENT), F.struct(*[column(c) for c in carried]).alias(ROW),
        *[F.lit(None).cast(dtypes[c].spark_type).alias(c) for c in inputs])
    union = entity_rows.unionByName(event_rows, allowMissingColumns=True)  # events' ROW: a null of its type

    # Level 1: running values per row (entity rows contribute nothing: their inputs are null).
    running = Window.partitionBy(*keys).orderBy(T).rangeBetween(Window.unboundedPreceding, Window.currentRow)
    peers = Window.partitionBy(*keys).orderBy(T).rangeBetween(Window.currentRow, Window.currentRow)
    level1 = {"n": F.count(IS_EVENT).over(running)} if any(not a.column for a in aggregations) else {}
    shifted = {}
    for c in inputs:
        functions = {a.function for a in aggregations if a.column == c}
        if functions & set(PREFIX_SUMS):
            level1[f"n_{c}"] = F.count(column(c)).over(running)
            level1[f"s_{c}"] = F.sum(column(c)).over(running)
        if functions & {"var", "stddev"}:
            level1[f"k_{c}"] = F.first(column(c), ignorenulls=True).over(running).cast("double")
            shifted[c] = column(c).cast("double") - F.col(f"__fs_k_{c}")
        if "last" in functions:
            top = F.max(column(c)).over(peers)  # events at the same time: the greatest value wins
            level1[f"last_{c}"] = F.when(column(c).isNotNull(), F.struct(F.col(T).alias("t"), top.alias("v")))
    windows = sorted({micros(a.time_window) for a in aggregations
                      if a.function in MIN_MAX or a.function == "approx_count_distinct"})
    for width in windows:
        block = F.floor(F.col(T) / F.lit(width))
        head = Window.partitionBy(*keys, block).orderBy(T).rangeBetween(Window.unboundedPreceding, Window.currentRow)
        tail = Window.partitionBy(*keys, block).orderBy(F.col(T).desc()) \
            .rangeBetween(Window.unboundedPreceding, Window.currentRow)
        level1[f"b_{width}"] = block
        for a in aggregations:
            if micros(a.time_window) != width:
                continue
            if a.function in MIN_MAX:
                pick = F.min if a.function == "min" else F.max
                level1[f"head_{a.function}_{a.column}_{width}"] = pick(column(a.column)).over(head)
                level1[f"tail_{a.function}_{a.column}_{width}"] = pick(column(a.column)).over(tail)
            elif a.function == "approx_count_distinct":
                value = _sketchable(column(a.column), dtypes[a.column])
                level1[f"head_hll_{a.column}_{width}"] = F.hll_sketch_agg(value).over(head)
                level1[f"tail_hll_{a.column}_{width}"] = F.hll_sketch_agg(value).over(tail)
    with_running = union.select(*union_columns, *[value.alias(f"__fs_{name}") for name, value in level1.items()])
    running_columns = [*union_columns, *[f"__fs_{name}" for name in level1]]
    if shifted:
        with_running = with_running.select(
            "*", *[expr for c, d in shifted.items() for expr in (
                F.sum(d).over(running).alias(f"__fs_s1_{c}"), F.sum(d * d).over(running).alias(f"__fs_s2_{c}"))])
        running_columns += [name for c in shifted for name in (f"__fs_s1_{c}", f"__fs_s2_{c}")]
    state_names = [c for c in running_columns if c.startswith("__fs_") and c not in (T, ROW, IS_EVENT)
                   and not c.startswith("__fs_last_")]
    state = F.struct(*[F.col(c).alias(c[len("__fs_"):]) for c in state_names])
    # Prefix values (counts, sums, first values) are null until a key's first non-null input and
    # never after, so "the last event's value" is "the last non-null value": each can be looked up
    # alone, as a plain number. Block values restart at each block and are looked up as one struct.
    prefix_names = [c for c in state_names if not c.startswith(("__fs_b_", "__fs_head_", "__fs_tail_"))]

    # Level 2: as-of lookups from each entity row, each a frame ending some time before it.
    def as_of(value, before: int):
        frame = Window.partitionBy(*keys).orderBy(T).rangeBetween(Window.unboundedPreceding, -before)
        return F.last(value, ignorenulls=True).over(frame)

    def first_after(value, before: int):
        """The first event strictly after (row time - before): a descending frame."""
        frame = Window.partitionBy(*keys).orderBy(F.col(T).desc()).rangeBetween(Window.unboundedPreceding,
                                                                                  before - 1)
        return F.last(value, ignorenulls=True).over(frame)

    # Without a delay, an entity row's own running values are the state as of its time (a RANGE
    # frame takes the events at its very time, and the row adds nothing): no lookup needed.
    own_state = state_names if delay == 0 else []
    # The struct is built once, as a column the frames read (Spark would build it once per frame).
    event_state = F.col(STATE)
    if not own_state or windows:
        with_running = with_running.select("*", F.when(F.col(IS_EVENT), state).alias(STATE))
    lookups = {} if own_state else {"upper": as_of(event_state, delay)}
    lowers = {}  # width -> {prefix column: its looked-up column}
    for width in sorted({micros(a.time_window) for a in aggregations}):
        lowers[width] = {c: f"__fs_lower_{width}_{c}" for c in prefix_names}
        for c, name in lowers[width].items():
            lookups[name[len("__fs_"):]] = as_of(F.when(F.col(IS_EVENT), F.col(c)), delay + width)
    for width in windows:
        lookups[f"after_{width}"] = first_after(event_state, delay + width)
    for c in inputs:
        if f"__fs_last_{c}" in running_columns:
            lookups[f"last_{c}"] = as_of(F.col(f"__fs_last_{c}"), delay)
    looked_up = with_running.select(F.col(T), F.col(ROW), F.col(IS_EVENT), *own_state,
                                    *[value.alias(f"__fs_{name}") for name, value in lookups.items()])
    rows = looked_up.where(F.col(IS_EVENT).isNull())
    # Structs built after the filter: only entity rows need them.
    if own_state:
        rows = rows.withColumn("__fs_upper", state)
    for width, names in lowers.items():
        rows = rows.withColumn(f"__fs_lower_{width}",
                               F.struct(*[F.col(name).alias(c[len("__fs_"):]) for c, name in names.items()]))
    outputs = [F.col(f"{ROW}.{column_name}").alias(column_name) for column_name in carried]
    output_types = {f.name: f.dtype for f in view.features}
    for a in aggregations:
        value = _feature_value(F, a, delay)
        outputs.append(value.cast(output_types[a.name].spark_type).alias(output_name(a.name)))
    return rows.select(*outputs)


def _sketchable(value, dtype):
    """HyperLogLog sketches take integers, strings and bytes; other types are counted by their text."""
    if dtype.spark_type in ("int", "bigint", "string", "binary"):
        return value
    return value.cast("string")


def _feature_value(F, a, delay: int):
    """One aggregation's value at an entity row, from the looked-up prefix states."""
    width = micros(a.time_window)
    upper, lower = F.col("__fs_upper"), F.col(f"__fs_lower_{width}")

    def diff(field):
        return F.coalesce(upper[field], F.lit(0)) - F.coalesce(lower[field], F.lit(0))

    c = a.column
    if a.function == "count":
        return diff("n") if not c else diff(f"n_{c}")
    if a.function in ("sum", "mean"):
        n = diff(f"n_{c}")
        total = upper[f"s_{c}"] - F.coalesce(lower[f"s_{c}"], F.lit(0))
        return F.when(n > 0, total if a.function == "sum" else total.cast("double") / n)
    if a.function in ("var", "stddev"):
        n = diff(f"n_{c}").cast("double")
        s1, s2 = diff(f"s1_{c}"), diff(f"s2_{c}")
        variance = F.greatest((s2 - s1 * s1 / n) / (n - 1), F.lit(0.0))
        return F.when(n >= 2, variance if a.function == "var" else F.sqrt(variance))
    if a.function == "last":
        latest = F.col(f"__fs_last_{c}")
        return F.when(latest["t"] > F.col(T) - F.lit(delay + width), latest["v"])
    after = F.col(f"__fs_after_{width}")
    row_end = F.col(T) - F.lit(delay)
    block = F.floor(row_end / F.lit(width))
    if a.function in MIN_MAX:
        head = F.when(upper[f"b_{width}"] == block, upper[f"head_{a.function}_{c}_{width}"])
        tail = F.when(after[f"b_{width}"] == block - 1, after[f"tail_{a.function}_{c}_{width}"])
        return F.least(head, tail) if a.function == "min" else F.greatest(head, tail)
    head = F.when(upper[f"b_{width}"] == block, upper[f"head_hll_{c}_{width}"])
    tail = F.when(after[f"b_{width}"] == block - 1, after[f"tail_hll_{c}_{width}"])
    sketches = F.coalesce(F.when(head.isNotNull() & tail.isNotNull(), F.hll_union(head, tail)), head, tail)
    return F.coalesce(F.hll_sketch_estimate(sketches), F.lit(0))
