"""`featurestore stream`: a StreamFeatureView's source followed by Spark Structured Streaming.

The source, a Delta table or Delta path, or a Kafka topic (KafkaSource), is read as a
stream. Every micro-batch is mapped to the view's fields (field_mapping, then the view's
batch transformation, the same function training applies), reduced to the newest row per
entity (materialize.latest_rows) and written online through materialization's write path
(materialize.write_rows): a row is written only where it is newer than the stored one. So
a micro-batch replayed after a crash (Spark reruns the last batch whose commit it did not
record) writes nothing twice, and the online store ends as after an uninterrupted run. An
aggregating view writes instead the windows of the entities the batch touched, as of the
batch's time (write_micro_batch).

Offline, a Delta source needs no write: the source table is what training sets read. A
Kafka topic's messages are decoded (JSON or Avro, featurestore.definitions.kafka) and each
micro-batch, once written online, is appended to the KafkaSource's batch source (a Delta
table or path) in one Delta commit tagged with the query's id and the batch id; a batch
replayed after a crash finds its tag in the table's history and is not appended again
(offline.append.append_micro_batch). Online comes first because it is what freshness is
about: the Delta commit is the larger part of a batch (an aggregating view appends first:
its windows read the appended events). Either way, once a micro-batch ends, what is served
online from a stream is what `get_historical_features` sees. A message that does not
decode, or lacks its join key or event time, is dropped from both sides and counted in the
log and the totals (`malformed`), never written half; events older than the source's
watermark are counted (`late`) and kept.

Progress is kept in a checkpoint folder, by default inside the repo's data folder
(`data/checkpoints/<project>/<view>`), never a shared /tmp. A trigger of the view's
`trigger_interval`, or `available_now` to process what is there and stop (a catch-up run
from a scheduler, and the tests).
"""
from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from featurestore.context import Context
from featurestore.definitions.feature_view import FeatureView
from featurestore.errors import DefinitionChangedError, FeatureStoreError
from featurestore.identity import ensure_current, online_generation
from featurestore.offline.append import append_micro_batch
from featurestore.times import micros_to_datetime

FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
# A micro-batch reads at most about this much of the source (Delta's maxBytesPerTrigger; at
# least one file): a stream started over a big table catches up in several batches, each
# small enough to reduce on one partition and collect to the driver (write_micro_batch).
BATCH_BYTES = "32m"
BATCH_MESSAGES = 100_000  # the same bound for Kafka (maxOffsetsPerTrigger)
# While a Kafka stream runs, its session computes each Delta commit's checksum file (.crc)
# from the previous one instead of from the table's whole state: appending 1,000 rows then
# took 0.19 s at the median and 0.21 s at p90, against 0.25 s and 0.41 s (and spikes of
# several seconds) by default (docs/performance.md).
STREAM_DELTA_CONF = {"spark.databricks.delta.incremental.commit.enabled": "true"}


def checkpoint_folder(ctx: Context, view: FeatureView, checkpoint: str | Path | None = None) -> Path:
    if checkpoint:
        return Path(checkpoint).expanduser().resolve()
    return ctx.config.resolve("data") / "checkpoints" / ctx.project / view.name


def stream_frame(spark, view: FeatureView, repo_path):
    """The view's source read as a stream, with the source's column names."""
    from featurestore.offline.sources import source_path

    if view.stream_source is not None:
        return kafka_frame(spark, view)
    source = view.source
    reader = spark.readStream.format("delta").option("maxBytesPerTrigger", BATCH_BYTES)
    if source.table:
        frame = reader.table(source.table)
    elif source.path and source.file_format == "delta":
        frame = reader.load(source_path(source, repo_path))
    else:
        raise FeatureStoreError(f"StreamFeatureView {view.name!r}: its source {source.name!r} reads "
                                f"{source.describe_location()}; a stream follows a Delta table or a Delta path, "
                                f"or a KafkaSource")
    return frame


def kafka_frame(spark, view: FeatureView):
    """The topic's messages from the earliest kept (then from the checkpoint), decoded to the
    batch source's columns; a message that does not decode becomes a row of nulls."""
    from pyspark.sql import functions as F

    kafka = view.stream_source
    messages = spark.readStream.format("kafka").option("kafka.bootstrap.servers", kafka.bootstrap_servers) \
        .option("subscribe", kafka.topic).option("startingOffsets", "earliest") \
        .option("maxOffsetsPerTrigger", BATCH_MESSAGES).load()
    message_format = kafka.message_format
    if message_format.kind == "avro":
        from pyspark.sql.avro.functions import from_avro

        decoded = from_avro(F.col("value"), message_format.schema_json, {"mode": "PERMISSIVE"})
    else:
        decoded = F.from_json(F.col("value").cast("string"), message_format.schema_json, {"mode": "PERMISSIVE"})
    return messages.select(decoded.alias("message")).select("message.*")


def check_kafka_stream(spark, view: FeatureView, repo_path):
    """Before a Kafka stream starts: its messages carry what the view reads, and its batch
    source is a Delta table or path that can take them. Returns the batch source's schema."""
    from featurestore.offline.sources import source_frame
    from featurestore.offline.tables import table_provider

    kafka, source = view.stream_source, view.source
    where = f"StreamFeatureView {view.name!r}: KafkaSource {kafka.name!r}"
    # the view's schema: its join keys and features, or the columns it aggregates (a transformation
    # makes its own columns from the messages' columns, which its first batch checks)
    needed = [] if view.transformation_code is not None else [source.source_column(f.name) for f in view.schema]
    missing = [c for c in needed if c not in kafka.message_format.columns]
    if missing:
        raise FeatureStoreError(f"{where}: its message schema lacks {', '.join(missing)}, which the view reads; its "
                                f"columns are {', '.join(kafka.message_format.columns)}")
    schema = source_frame(spark, source, where, repo_path).schema
    columns = schema.names
    delta = table_provider(spark, source.table) == "delta" if source.table else source.file_format == "delta"
    if not delta:
        raise FeatureStoreError(f"{where}: its batch source {source.name!r} reads {source.describe_location()}; the "
                                f"stream appends each micro-batch to it once, which needs a Delta table or Delta path")
    unknown = [c for c in kafka.message_format.columns if c not in columns]
    if unknown:
        raise FeatureStoreError(f"{where}: its messages' column(s) {', '.join(unknown)} are not in batch source "
                                f"{source.name!r} ({', '.join(columns)}); add them to the table or drop them from "
                                f"the message schema")
    return schema


def write_micro_batch(ctx: Context, view: FeatureView, batch, at: datetime | None = None,
                      generation: str | None = None) -> tuple[int, int]:
    """One micro-batch online: transformed as training transforms it, newest row per key,
    written only where newer. Returns (rows selected, rows written).

    A micro-batch is small (BATCH_BYTES at most), so it is reduced on one partition and its
    rows collected in one Spark job: 0.43 -> 0.23 s for 1,000 rows, where spreading them
    over the shuffle's partitions paid a task each (docs/performance.md).

    An aggregating view writes instead the windows of the entities the batch touched, as of
    `at` (default: now), computed from the view's source exactly as a training set at `at`
    computes them (materialize.aggregate_rows, offline.aggregate): the source already holds
    the batch's events (a Delta source is what the stream reads; a Kafka stream appends to
    its batch source first). An entity the batch did not touch keeps its last written
    windows until its next event or the next batch materialization slides them."""
    from featurestore.materialize import EPOCH, aggregate_rows, latest_rows, write_rows
    from featurestore.offline.sources import transform, validate_feature_view, with_field_names

    batch = with_field_names(batch, view.source)
    if view.transformation_code is not None:
        batch = transform(ctx.spark, view, batch, f"stream of FeatureView {view.name!r}", ctx.repo_path)
    if view.is_aggregating:
        at = at or datetime.now(UTC)
        source_rows = validate_feature_view(ctx.spark, view, "stream", ctx.repo_path)
        return write_rows(ctx, view, aggregate_rows(view, source_rows, at, at, entities=batch), small=True,
                          generation=generation)
    return write_rows(ctx, view, latest_rows(view, batch.coalesce(1), EPOCH, FAR_FUTURE), small=True,
                      generation=generation)


class StopStream(BaseException):
    """Raised in the main thread by stop_on_signals' handler: the stream stops as after Ctrl-C."""


def stop_on_signals():
    """SIGTERM (and SIGINT) stop a running stream the way Ctrl-C does: the query is stopped and
    run_stream returns its counts (`featurestore stream` prints them and exits 0), instead of
    the process dying with -15 and no summary. Returns a function restoring the old handlers."""
    import signal

    def stop(signum, _frame):
        raise StopStream(signal.Signals(signum).name)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGINT)}
    return lambda: [signal.signal(number, handler) for number, handler in previous.items()]


def run_stream(ctx: Context, view: FeatureView, checkpoint: str | Path | None = None,
               available_now: bool = False, timeout_seconds: float | None = None) -> dict:
    """Run the view's streaming query until it is stopped (SIGTERM, Ctrl-C), or, with
    available_now, until what the source holds now is written. Returns counts."""
    if view.stream_trigger is None:
        raise FeatureStoreError(f"feature view {view.name!r} is not a StreamFeatureView; materialize it in batch "
                                f"(featurestore materialize-incremental), or define it as a StreamFeatureView")
    if not view.online:
        raise FeatureStoreError(f"StreamFeatureView {view.name!r} is offline only (online=False): nothing to stream")
    spark = ctx.spark
    folder = checkpoint_folder(ctx, view, checkpoint)
    folder.parent.mkdir(parents=True, exist_ok=True)
    kafka = view.stream_source is not None
    offline_schema = check_kafka_stream(spark, view, ctx.repo_path) if kafka else None
    totals = {"batches": 0, "rows_selected": 0, "rows_written": 0, "malformed": 0, "late": 0, "newest_event": None}
    _, view, generation = ensure_current(ctx.registry_store, ctx.online_store, ctx.project, view.name)

    def each_batch(batch, batch_id: int) -> None:
        ctx.log(f"{view.name}: writing micro-batch {batch_id}")
        began = time.perf_counter()
        still_current(ctx, view.name, generation, totals)  # an apply changed the view: stop before writing
        try:
            if kafka:
                selected, written = write_kafka_micro_batch(ctx, view, batch, batch_id, query_id(folder),
                                                            offline_schema, totals, generation)
            else:
                selected, written = write_micro_batch(ctx, view, batch, generation=generation)
        except DefinitionChangedError:
            totals["changed"] = STREAM_CHANGED.format(view=view.name)
            raise
        totals["batches"] += 1
        totals["rows_selected"] += selected
        totals["rows_written"] += written
        ctx.log(f"{view.name}: micro-batch {batch_id}: {selected:,} rows selected, {written:,} written, "
                f"{time.perf_counter() - began:.2f} s")

    writer = stream_frame(spark, view, ctx.repo_path).writeStream.foreachBatch(each_batch) \
        .option("checkpointLocation", str(folder)).queryName(f"featurestore_{ctx.project}_{view.name}")
    seconds = view.stream_trigger.total_seconds()
    writer = writer.trigger(availableNow=True) if available_now else \
        writer.trigger(processingTime=f"{int(seconds * 1000)} milliseconds")
    followed = f"Kafka topic {view.stream_source.topic} at {view.stream_source.bootstrap_servers} (appended to " \
        f"{view.source.describe_location()})" if kafka else view.source.describe_location()
    ctx.log(f"{view.name}: streaming {followed} online every {seconds:g} s"
            f"{' (what is there now, then stop)' if available_now else ''}; checkpoint {folder}")
    previous = {key: spark.conf.get(key, None) for key in STREAM_DELTA_CONF} if kafka else {}
    for key, value in STREAM_DELTA_CONF.items() if kafka else ():
        spark.conf.set(key, value)
    query = writer.start()
    try:
        query.awaitTermination(timeout_seconds) if timeout_seconds else query.awaitTermination()
    except (StopStream, KeyboardInterrupt) as stop:  # SIGTERM (stop_on_signals) or Ctrl-C: stop, and count
        totals["stopped_by"] = str(stop) or "SIGINT"
    except Exception:
        if "changed" in totals:  # raised by each_batch: the query failed on purpose
            raise DefinitionChangedError(totals["changed"]) from None
        raise
    finally:
        if query.isActive:
            query.stop()
        for key, value in previous.items():
            spark.conf.unset(key) if value is None else spark.conf.set(key, value)
    return totals


STREAM_CHANGED = ("{view} changed while streaming (an apply changed what its values are); this stream stopped and "
                  "wrote nothing more; start it again to follow the new definition")


def still_current(ctx: Context, view_name: str, generation: str, totals: dict) -> None:
    """Raise DefinitionChangedError (and note it in totals) when the registry's definition of the
    view is no longer the one of `generation`: checked at each micro-batch, so a stream stops
    within one trigger interval of an apply that changed it."""
    state = ctx.registry_store.load()
    view = state.feature_views.get(view_name)
    if view is None or not state.registry_id or online_generation(state, view) != generation:
        totals["changed"] = STREAM_CHANGED.format(view=view_name)
        raise DefinitionChangedError(totals["changed"])


def write_kafka_micro_batch(ctx: Context, view: FeatureView, batch, batch_id: int, app_id: str, offline_schema,
                            totals: dict, generation: str | None = None) -> tuple[int, int]:
    """A Kafka micro-batch's valid messages written online and appended to the batch source once
    (online first, but for an aggregating view, whose windows read the appended events);
    malformed and late messages counted. The batch is read three times: cached."""
    batch = batch.persist()
    try:
        messages, counts = valid_messages(view, batch, batch_id, watermark(view, totals))

        def append() -> None:
            appended = append_micro_batch(ctx.spark, view.source, messages, offline_schema, app_id, batch_id,
                                          totals["batches"] == 0, ctx.repo_path)
            ctx.log(f"{view.name}: micro-batch {batch_id}: " + (
                f"appended to {view.source.describe_location()}" if appended else
                f"already in {view.source.describe_location()} (a replay): not appended again"))

        if view.is_aggregating:
            append()
        written = write_micro_batch(ctx, view, messages, generation=generation)
        if not view.is_aggregating:
            append()
        count_messages(ctx, view, counts.get, batch_id, totals)
        return written
    finally:
        batch.unpersist()


def query_id(folder: Path) -> str:
    """The streaming query's id, which Spark keeps in its checkpoint (the same across restarts)."""
    import json

    return json.loads((folder / "metadata").read_text())["id"]


def _key_and_time(view: FeatureView) -> list[str]:
    source = view.source
    return [source.source_column(k) for k in view.join_keys] + [source.timestamp_field]


def watermark(view: FeatureView, totals: dict) -> datetime | None:
    """The newest event time this run has seen minus the KafkaSource's watermark_delay_threshold
    (None without a threshold, or before the first event), as Spark defines a watermark."""
    threshold = view.stream_source.watermark_delay_threshold
    newest = totals["newest_event"]
    return None if threshold is None or newest is None else newest - threshold


def valid_messages(view: FeatureView, batch, batch_id: int, older_than: datetime | None = None):
    """(the micro-batch without the messages that did not decode or lack a key or time, an
    Observation of how many there were, how many were kept, how many kept ones are older than
    `older_than` (the watermark), and the newest event time). The counts are taken by the
    first Spark job that reads the frame (observe), so they cost no job of their own."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    valid = F.lit(True)
    for column in _key_and_time(view):
        valid = valid & F.col(f"`{column}`").isNotNull()
    event = F.col(f"`{view.source.timestamp_field}`").cast("timestamp")
    late = (event < F.lit(older_than)) if older_than is not None else F.lit(False)
    counts = Observation(f"featurestore_messages_{batch_id}")
    observed = batch.observe(counts, F.count(F.lit(1)).alias("total"), F.count(F.when(valid, 1)).alias("kept"),
                             F.count(F.when(valid & late, 1)).alias("late"),
                             F.max(F.unix_micros(event)).alias("newest_us"))  # a number: observe hands out Java times
    return observed.filter(valid), counts


def count_messages(ctx: Context, view: FeatureView, counts: dict, batch_id: int, totals: dict) -> None:
    """Report the micro-batch's malformed and late messages, and move the watermark on."""
    total, kept, late, newest_us = counts["total"], counts["kept"], counts["late"], counts["newest_us"]
    if total > kept:
        totals["malformed"] += total - kept
        ctx.log(f"{view.name}: micro-batch {batch_id}: {total - kept:,} of {total:,} messages dropped: they do not "
                f"decode as {view.stream_source.message_format!r} or lack {', '.join(_key_and_time(view))}")
    if late:
        totals["late"] += late
        ctx.log(f"{view.name}: micro-batch {batch_id}: {late:,} events older than the watermark "
                f"{watermark(view, totals).isoformat()} (the newest event seen, less watermark_delay_threshold "
                f"{view.stream_source.watermark_delay_threshold}); kept, as training sets read them")
    if newest_us is not None:
        newest = micros_to_datetime(newest_us)
        totals["newest_event"] = max(newest, totals["newest_event"] or newest)
