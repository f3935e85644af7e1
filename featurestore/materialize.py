"""Materialization: the newest source row per entity in [start, end), into the online store.

Rows written since the previous run began reading (late rows, whatever their event time
before `end`) are selected too: see latest_rows.

Selection happens in Spark in one aggregation (the max of (event_ts, created_ts, ...) per
key), encoding happens on the executors, and the write is only-if-newer in the store, so
intervals run twice or out of order change nothing. SQLite is one file on the driver:
rows stream to it partition by partition (bounded memory). Redis is written from the
executors, each partition pipelined, so the write scales with the cluster. The interval
is recorded in the registry only after the write succeeded, and only while the registry
still holds the definition the rows were computed under: every write is fenced by the
view's online generation (featurestore.identity), so an apply that lands meanwhile stops
the run in one line with nothing recorded.

Over Spark Connect (the warm Spark of featurestore.runtime.warm_spark, or a named server)
the selection runs on the server and its rows stream to this process, which encodes them,
sorts each chunk of CONNECT_CHUNK_ROWS by entity key and writes them, to SQLite or Redis
alike. No Python step runs on the server: each Connect client session gets Python workers
of its own there, whose start (about 0.7 s) was most of a small materialization's time;
a large one-off materialization is fastest as the spark-submit job (jobs/materialize.py),
its executors encoding beside the driver's writes.

Where the time goes (issue #15, profiled with benchmarks/materialize_bench.py: entities x
24 hourly rows x 3 features, 2-core machine, warm JVM). At 1M entities (24M source rows):
the Spark selection alone is 5.5 s; a raw INSERT of the 3M values in one transaction is
10.1 s. Materialization took 31.6 s when the selected rows were repartitioned into 16
partitions (a second shuffle, and 16 jobs) and written in arrival order: SQLite's B-tree
split pages at random. Sorting each partition by entity key on the executors, and
streaming the aggregation's own partitions, brought it to about 15 s; at 100k entities
the selection (0.74 s) is already more than the raw write (0.65 s), so the floor there is
the selection plus a sorted write.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

from featurestore.context import Context
from featurestore.definitions import FeatureView
from featurestore.definitions.feature_view import MaterializationRun
from featurestore.errors import (
    DefinitionChangedError,
    ExpectationError,
    FeatureStoreError,
    MaterializationError,
    OnlineStoreError,
    raised_on_executor,
)
from featurestore.identity import changed_while, ensure_current, online_generation
from featurestore.online.base import OnlineStore
from featurestore.registry import RegistryState
from featurestore.times import CLOCK_SKEW

LOG = logging.getLogger("featurestore.materialize")  # progress: the CLI prints it, a notebook may

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
PROGRESS_EVERY = 100_000


@dataclass
class ViewResult:
    view: str
    start: datetime
    end: datetime
    rows_selected: int
    rows_written: int
    seconds: float

    def summary(self) -> str:
        return (f"{self.view}: [{self.start.isoformat()}, {self.end.isoformat()}) rows selected {self.rows_selected:,}, "
                f"written {self.rows_written:,}, {self.seconds:.1f} s")


def latest_rows(view: FeatureView, source_rows, start: datetime, end: datetime,
                written_since: datetime | None = None):
    """Per key, the source row with the greatest (event_ts, created_ts) with start <= event_ts < end,
    or written at or after `written_since` (late rows: event_ts < end, within the ttl of end).

    A row that arrives after a run has passed its event time is selected by the next run
    that way, so online serves what a training set at the same time reads; the store's
    only-if-newer write keeps a newer stored value. What can tell when a row was written:
    its file's modification time (parquet, Delta and Hive tables and paths: a Delta
    update rewrites its rows into new files) and, for every source, its created timestamp.

    source_rows: the view's source as validate_feature_view returns it. Columns: the join
    keys, event_us, created_us (0 when absent), then the features; timestamps leave Spark
    as integer microseconds, so no time zone is involved.
    """
    from pyspark.sql import functions as F

    source = view.source
    dtypes = {f.name: f.dtype for f in view.schema}
    event = F.col(source.timestamp_field).cast("timestamp")
    created = F.col(source.created_timestamp_column).cast("timestamp") if source.created_timestamp_column \
        else F.lit(None).cast("timestamp")
    selected = event >= F.lit(start)
    late = written_since_condition(view, source_rows, written_since) if written_since else None
    if late is not None:
        if view.ttl > timedelta(0):
            late = late & (event >= F.lit(_minus(end, view.ttl)))
        selected = selected | late
    frame = source_rows.where(selected & (event < F.lit(end)))
    for key in view.join_keys:
        frame = frame.where(F.col(key).isNotNull())
    features = [f.name for f in view.features]
    newest = F.max(F.struct(F.unix_micros(event).alias("event_us"),
                            F.coalesce(F.unix_micros(created), F.lit(0)).alias("created_us"),
                            *[_feature_column(F, f, dtypes[f]) for f in features])).alias("newest")
    keys = [F.col(k).cast(dtypes[k].spark_type).alias(k) for k in view.join_keys]
    grouped = frame.groupBy(*keys).agg(newest)
    return grouped.select(*view.join_keys, "newest.event_us", "newest.created_us",
                          *[F.col(f"newest.{f}") for f in features])


def written_since_condition(view: FeatureView, source_rows, moment: datetime):
    """True for the rows written at or after `moment`, as far as the source can tell; None when it cannot.

    A file's modification time is in milliseconds and taken from the file system's clock, so
    the comparison allows one second: a row seen twice is written once (only-if-newer).
    """
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    since = F.lit(moment - timedelta(seconds=1))
    conditions = []
    try:
        modified = F.col("_metadata.file_modification_time")
        source_rows.select(modified).schema  # noqa: B018 - resolves: SQL joins and transformations may hide it
        conditions.append(modified >= since)
    except AnalysisException:
        pass
    if view.source.created_timestamp_column:
        conditions.append(F.col(view.source.created_timestamp_column).cast("timestamp") >= since)
    if not conditions:
        return None
    condition = conditions[0]
    for other in conditions[1:]:
        condition = condition | other
    return condition


def aggregate_rows(view: FeatureView, source_rows, start: datetime, end: datetime, entities=None):
    """An aggregating view's values as of `end`, for every entity with an event in (start - D - W_max, end - D],
    or for the given `entities` (a frame of join-key columns: a stream's micro-batch's keys).

    The same columns as latest_rows, event_us being `end` (the time the values are as of).
    Any entity whose windows were non-empty at `start` (the previous run's end) has such an
    event, so it is recomputed here, and a window that has emptied since is written as
    count 0 / null: a stale value never stays online. The values come from the very
    function that builds training sets (offline.aggregate), so online equals offline at
    ts = end to the bit.
    """
    from pyspark.sql import functions as F

    from featurestore.offline.aggregate import aggregate
    from featurestore.offline.pit_join import TS, column

    source = view.source
    reach = view.delay + max(a.time_window for a in view.aggregations)
    event = column(source.timestamp_field).cast("timestamp")
    touched = source_rows.where((event > F.lit(_minus(start, reach))) & (event <= F.lit(end - view.delay))) \
        if entities is None else entities
    dtypes = {f.name: f.dtype for f in view.schema}
    keys = [column(k).cast(dtypes[k].spark_type).alias(k) for k in view.join_keys]
    entities = touched.select(*keys)
    for key in view.join_keys:
        entities = entities.where(column(key).isNotNull())
    entities = entities.distinct()
    entities = entities.withColumn(TS, F.lit(end).cast("timestamp"))
    # Only the events the windows at `end` can reach, exactly as a training set at ts = end reads them.
    events = source_rows.where((event > F.lit(_minus(end, reach))) & (event <= F.lit(end - view.delay)))
    features = {f.name: f.dtype for f in view.features}
    values = aggregate(entities, view, list(features), events, lambda name: name)
    end_us = (end - EPOCH) // timedelta(microseconds=1)
    return values.select(*view.join_keys, F.lit(end_us).alias("event_us"), F.lit(0).cast("bigint").alias("created_us"),
                         *[_feature_column(F, name, dtype) for name, dtype in features.items()])


def _minus(moment: datetime, duration: timedelta) -> datetime:
    """moment - duration, no earlier than year 1."""
    return moment - duration if duration < moment - EARLIEST else EARLIEST


def _feature_column(F, name, dtype):
    """Timestamps (and lists of them) as microseconds; everything else as declared."""
    if dtype.name == "UnixTimestamp":
        return F.unix_micros(F.col(name).cast("timestamp")).alias(name)
    if dtype.is_list and dtype.element.name == "UnixTimestamp":
        return F.transform(F.col(name), lambda x: F.unix_micros(x)).alias(name)
    return F.col(name).alias(name)


def flat_row_encoder(view: FeatureView) -> Callable[[tuple], tuple]:
    """Turns a latest_rows() row into (entity key, event_us, created_us, encoded value per feature).

    Built once per partition on the executors; flat tuples of bytes and ints are what
    crosses to the driver cheapest.
    """
    from featurestore.online.codec import entity_key_serializer, micros_to_datetime, value_encoder

    dtypes = {f.name: f.dtype for f in view.schema}
    key_count = len(view.join_keys)
    serialize_key = entity_key_serializer(view.join_keys, [dtypes[k] for k in view.join_keys])
    encoders = []
    for feature in view.features:
        encode = value_encoder(feature.dtype, f"feature {feature.name!r} of view {view.name!r}")
        if feature.dtype.name == "UnixTimestamp":
            encode = _from_micros(encode, micros_to_datetime)
        elif feature.dtype.is_list and feature.dtype.element.name == "UnixTimestamp":
            encode = _list_from_micros(encode, micros_to_datetime)
        encoders.append(encode)
    first_value = key_count + 2

    def encode_row(row) -> tuple:
        return (serialize_key(row[:key_count]), row[key_count], row[key_count + 1],
                *[encode(row[first_value + i]) for i, encode in enumerate(encoders)])

    return encode_row


def _from_micros(encode, to_datetime):
    return lambda micros: encode(None if micros is None else to_datetime(micros))


def _list_from_micros(encode, to_datetime):
    return lambda items: encode(None if items is None else [to_datetime(m) for m in items])


def _encode_partition(view: FeatureView):
    def encode(rows: Iterable) -> Iterator[tuple]:
        encode_row = flat_row_encoder(view)
        for row in rows:
            yield encode_row(tuple(row))
    return encode


def _encode_sorted_partition(view: FeatureView):
    def encode_sorted(rows: Iterable) -> Iterator[tuple]:
        return iter(_encoded_sorted(view, rows))
    return encode_sorted


def _encoded_sorted(view: FeatureView, rows: Iterable) -> list[tuple]:
    """One partition's rows encoded and sorted by entity key (what SQLite inserts fastest)."""
    return sorted(_encode_partition(view)(rows), key=lambda row: row[0])


def _write_partition(store: OnlineStore, project: str, view: FeatureView, written, generation: str | None):
    """Runs on an executor: encode and write one partition, pipelined."""
    def write(rows: Iterable) -> None:
        count = store.online_write_flat(project, view, _encode_partition(view)(rows), generation)
        written.add(count)
        store.close()
    return write


CONNECT_CHUNK_ROWS = 50_000  # rows encoded and sorted by key at a time over Spark Connect
CONNECT_VIEWS_AT_ONCE = 4  # views materialized at the same time over Spark Connect


def _encoded_sorted_chunks(view: FeatureView, rows: Iterable) -> Iterator[tuple]:
    """rows (a Spark Connect client's stream) encoded in this process, each chunk of
    CONNECT_CHUNK_ROWS sorted by entity key, as the executors sort a partition."""
    rows = iter(rows)
    while chunk := list(islice(rows, CONNECT_CHUNK_ROWS)):
        yield from _encoded_sorted(view, chunk)


def write_view(ctx: Context, view: FeatureView, start: datetime, end: datetime,
               written_since: datetime | None = None, generation: str | None = None) -> tuple[int, int]:
    """Select and write one view's newest rows; returns (rows selected, rows written).

    The source is read (and checked against the view: a changed source fails with one
    line) once, for the selection and the expectations alike.
    """
    from featurestore.offline.sources import validate_feature_view

    spark, log = ctx.spark, ctx.log
    source_rows = validate_feature_view(spark, view, "materialization", ctx.repo_path)
    frame = aggregate_rows(view, source_rows, start, end) if view.is_aggregating else \
        latest_rows(view, source_rows, start, end, written_since)
    if view.expectations:
        gate_on_expectations(view, frame, source_rows, start, end, log)
    return write_rows(ctx, view, frame, generation=generation)


def write_rows(ctx: Context, view: FeatureView, frame, small: bool = False,
               generation: str | None = None) -> tuple[int, int]:
    """Write a frame of newest rows per key (latest_rows' or aggregate_rows' columns) online,
    only where newer than stored; returns (rows selected, rows written). Materialization and
    each micro-batch of a stream (featurestore.streaming) write through here.

    small: the rows are few (a stream's micro-batch): collected in one Spark job and written
    from the driver, where streaming them partition by partition would cost a job each.
    generation: the view's online generation the rows belong to (featurestore.identity); the
    store refuses them once it records another.
    """
    spark, store, project, log = ctx.spark, ctx.online_store, ctx.project, ctx.log
    if small:
        rows = frame.collect()
        return len(rows), store.online_write_flat(project, view, _encoded_sorted(view, rows), generation)
    from featurestore.runtime.session import is_remote

    remote = is_remote(spark)
    if store.writes_from_executors and not remote:
        selected = spark.sparkContext.accumulator(0)
        written = spark.sparkContext.accumulator(0)

        def counted(rows):
            for row in rows:
                selected.add(1)
                yield row

        writer = _write_partition(store, project, view, written, generation)
        log(f"  {view.name}: writing from the executors, one pipeline per partition")
        frame.rdd.foreachPartition(lambda rows: writer(counted(rows)))
        return selected.value, written.value
    # Stream partition by partition (bounded driver memory), the next one computed on the
    # executors while the driver writes this one. Each partition arrives sorted by entity key:
    # SQLite inserts in key order fill its B-tree pages in turn instead of splitting them at
    # random, which halves the write (see the module docstring).
    if remote:
        rows = _encoded_sorted_chunks(view, frame.toLocalIterator())
    else:
        rows = frame.rdd.mapPartitions(_encode_sorted_partition(view)).toLocalIterator(prefetchPartitions=True)
    selected = [0]
    started = time.perf_counter()

    def progress(rows):
        for row in rows:
            selected[0] += 1
            if selected[0] % PROGRESS_EVERY == 0:
                rate = selected[0] / (time.perf_counter() - started)
                log(f"  {view.name}: {selected[0]:,} rows streamed to the online store ({rate:,.0f} rows/s)")
            yield row

    written = store.online_write_flat(project, view, progress(rows), generation)  # consumes rows, counting them
    return selected[0], written


def gate_on_expectations(view: FeatureView, rows, source_rows, start: datetime, end: datetime, log=None):
    """Evaluate the view's expectations in Spark before anything is written.

    Per-feature rules are checked on the rows about to be written; unique keys per
    timestamp on the source rows of the interval (the written rows are unique by
    construction). With on_violation="fail" a broken rule raises, one line per rule, so
    nothing is written and no interval recorded; with "warn" each is logged and the
    write goes on.
    """
    log = log or LOG.info
    from pyspark.sql import functions as F

    from featurestore.offline.pit_join import column
    from featurestore.quality.expectations import UniqueKeysPerTimestamp, evaluate

    per_row = [e for e in view.expectations if not isinstance(e, UniqueKeysPerTimestamp)]
    violations = evaluate(rows, per_row, view.join_keys, view=view.name) if per_row else []
    if len(per_row) < len(view.expectations):
        ts = view.source.timestamp_field
        event = column(ts).cast("timestamp")
        in_interval = source_rows.where((event >= F.lit(start)) & (event < F.lit(end)))
        violations += evaluate(in_interval, [UniqueKeysPerTimestamp()], view.join_keys, view=view.name,
                               timestamp_column=ts)
    if not violations:
        return
    lines = [v.message for v in violations]
    if view.on_violation == "warn":
        for line in lines:
            log(f"  warning: {line}")
        return
    raise ExpectationError(f"{view.name}: {len(lines)} expectation(s) broken, nothing written; fix the data or set "
                           f"on_violation='warn':\n" + "\n".join(lines))


def merge_intervals(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted, with overlapping or touching intervals merged into one."""
    merged: list[list[datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def record_interval(registry_store, view_name: str, start: datetime, end: datetime,
                    read_at: datetime | None = None, run: MaterializationRun | None = None,
                    generation: str | None = None) -> None:
    """Record [start, end) as written; and `read_at` (when the source was read) when the run
    reached the newest recorded end: the next run selects the rows written since then. A
    backfill of an older interval leaves it, since later event times were not selected.
    generation: the one the values were written under; refused (nothing recorded) when the
    registry's definition of the view is no longer that one."""
    def add(state: RegistryState) -> None:
        view = state.feature_views.get(view_name)
        if view is None:
            raise MaterializationError(f"feature view {view_name!r} was deleted while it was being materialized; "
                                       f"its values were written but no interval is recorded")
        if generation is not None and online_generation(state, view) != generation:
            raise changed_while(view_name, "materializing")
        frontier = max((e for _, e in view.materialization_intervals), default=None)
        if read_at is not None and (frontier is None or end >= frontier) and \
                (view.source_read_at is None or read_at > view.source_read_at):
            view.source_read_at = read_at
        view.materialization_intervals = merge_intervals(view.materialization_intervals + [(start, end)])
        if run is not None:
            view.last_run = run
    registry_store.update(add, command="materialize",
                          summary=f"{view_name}: materialized [{start.isoformat()}, {end.isoformat()})")


def incremental_intervals(view: FeatureView, end: datetime) -> list[tuple[datetime, datetime]]:
    """What materialize_incremental writes: from incremental_start to end and, when the ttl now
    reaches further back than the first recorded interval (a ttl raised), that earlier span
    too, first, so online holds every value a training set at `end` would read."""
    start = incremental_start(view, end)
    if not view.materialization_intervals or view.is_aggregating:
        return [(start, end)]
    first = min(interval_start for interval_start, _ in view.materialization_intervals)
    reach = EPOCH if view.ttl <= timedelta(0) else _minus(end, view.ttl)
    return [(reach, first), (start, end)] if reach < first else [(start, end)]


def incremental_start(view: FeatureView, end: datetime) -> datetime:
    """Where materialize_incremental starts: the end of the last recorded interval; the first time,
    end - ttl (no earlier than year 1, so a 100-year ttl works), or the Unix epoch (all
    history) when the view's ttl is 0."""
    if view.materialization_intervals:
        return max(interval_end for _, interval_end in view.materialization_intervals)
    if view.ttl <= timedelta(0):
        return EPOCH
    return _minus(end, view.ttl)


def lost_data(ctx: Context, views: list[FeatureView]) -> bool:
    """Whether the online store lost what the registry says was materialized into it (a Redis
    restarted without persistence): some view has intervals, and the store's mark is gone."""
    return any(view.materialization_intervals for view in views) and not ctx.online_store.holds_mark(ctx.project)


def forget_intervals(registry_store, why: str) -> list[str]:
    """Remove every view's materialized intervals (and source read time) from the registry, in one
    update: what they described is no longer in the online store. Returns the views' names."""
    forgotten = []

    def forget(state: RegistryState) -> None:
        for view in state.feature_views.values():
            if view.materialization_intervals:
                view.materialization_intervals, view.source_read_at = [], None
                forgotten.append(view.name)
    registry_store.update(forget, command="materialize", summary=f"intervals forgotten: {why}")
    return forgotten


def check_end(end: datetime, now: datetime | None = None) -> datetime:
    """Refuse an end in the future: its interval would be recorded as done, and every later
    incremental run would start after it, never writing the values that arrive meanwhile."""
    now = now or datetime.now(UTC)
    if end > now + CLOCK_SKEW:
        raise MaterializationError(
            f"materialization end {end.isoformat()} is in the future (now is {now.replace(microsecond=0).isoformat()}); "
            f"values that arrive later would never be materialized. Use an end at or before now (e.g. 'now')")
    return end


def materialize(ctx: Context, views: list[FeatureView],
                intervals_of: Callable[[FeatureView], list[tuple[datetime, datetime]]]) -> list[ViewResult]:
    """Materialize each view over its intervals; stop at the first failure (nothing recorded for it).

    Over Spark Connect the views run at once, up to CONNECT_VIEWS_AT_ONCE: a small view's
    time is mostly the server's latency per query, which overlaps (a warm init repo's two
    views: 3.6 s one after the other). Each view's interval is recorded when its own write
    succeeded; the first failure, in the views' order, is raised once all have ended.
    """
    from featurestore.runtime.session import is_remote

    if len(views) < 2 or not is_remote(ctx.spark):
        return [result for view in views for result in materialize_view(ctx, view, intervals_of)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(views), CONNECT_VIEWS_AT_ONCE)) as pool:
        running = [pool.submit(materialize_view, ctx, view, intervals_of) for view in views]
    results, failures = [], []
    for future in running:
        try:
            results += future.result()
        except BaseException as error:
            failures.append(error)
    if failures:
        raise failures[0]
    return results


def materialize_view(ctx: Context, view: FeatureView,
                     intervals_of: Callable[[FeatureView], list[tuple[datetime, datetime]]]) -> list[ViewResult]:
    """One view over its intervals, in order; stops at the first failure."""
    try:
        ctx.online_store.mark_holding(ctx.project)  # before the values: a store wiped after this loses it too
    except OnlineStoreError as error:  # the words a write on an executor would have
        start, end = intervals_of(view)[-1]
        raise MaterializationError(f"materializing {view.name!r} over [{start.isoformat()}, {end.isoformat()}) "
                                   f"failed: OnlineStoreError: {error}; no interval was recorded, rerun it") \
            from None
    # the definition as the registry holds it now, its generation the store's: the fence of every write below
    _, view, generation = ensure_current(ctx.registry_store, ctx.online_store, ctx.project, view.name)
    intervals = intervals_of(view)
    results = []
    for index, (start, end) in enumerate(intervals):
        late_since = view.source_read_at if index == len(intervals) - 1 else None  # late rows: the newest run
        results.append(materialize_interval(ctx, view, generation, start, end, late_since))
    return results


def materialize_interval(ctx: Context, view: FeatureView, generation: str, start: datetime, end: datetime,
                         late_since: datetime | None) -> ViewResult:
    """Write one view's newest values of [start, end) (and the rows written since late_since) under
    `generation`, then record the interval, unless the view changed meanwhile."""
    log = ctx.log
    if start >= end:
        log(f"{view.name}: nothing to do, already materialized up to {start.isoformat()}")
        return ViewResult(view.name, start, end, 0, 0, 0.0)
    late = f" and the rows written since {late_since.isoformat()}" if late_since else ""
    log(f"{view.name}: materializing [{start.isoformat()}, {end.isoformat()}){late} into {type(ctx.online_store).__name__}")
    began = time.perf_counter()
    read_at = datetime.now(UTC)
    try:
        selected, written = write_view(ctx, view, start, end, late_since, generation)
    except DefinitionChangedError:
        raise changed_while(view.name, "materializing") from None
    except FeatureStoreError:
        raise
    except Exception as error:
        if raised_on_executor(error, "DefinitionChangedError"):
            raise changed_while(view.name, "materializing") from None
        raise MaterializationError(f"materializing {view.name!r} over [{start.isoformat()}, {end.isoformat()}) "
                                   f"failed: {_root_cause(error)}; no interval was recorded, rerun it") from error
    seconds = time.perf_counter() - began
    record_interval(ctx.registry_store, view.name, start, end, read_at,
                    MaterializationRun(start, end, datetime.now(UTC), selected, written, seconds), generation)
    result = ViewResult(view.name, start, end, selected, written, seconds)
    log(result.summary())
    return result


def _root_cause(error: BaseException) -> str:
    """The featurestore error raised on an executor, when that is what failed; else the error's first line."""
    found = raised_on_executor(error)
    if found:
        name, message = found
        return f"{name}: {message}" if message else name
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
