"""Appending rows to a batch source: where pushed rows are kept offline (featurestore.push),
and where a KafkaSource's stream lands each micro-batch (append_micro_batch).

One write per batch, whole or not at all, in the source's own format:
- a Delta table or path: one Delta append (one transaction);
- a Hive table: one INSERT INTO (Spark's commit protocol publishes the new files at commit);
- a parquet folder: one Spark append (the same commit protocol);
- a single parquet file (what pandas `to_parquet` and Feast's templates write): the file and
  the rows are rewritten to a temporary file beside it, which then replaces it by rename,
  under a lock so two pushes never lose each other's rows;
- a `query=` source holds no rows of its own and is refused.

The rows take the target's columns and types: a column the target lacks is refused (a
misspelt name would otherwise be dropped), a target column the rows lack is written null.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

from featurestore.definitions import DataSource
from featurestore.errors import ValidationError

STREAM_TAG = "featurestore.stream"  # the key of a stream's appends in their commits' userMetadata


def append_rows(spark, source: DataSource, frame, push_source: str, repo_path=None) -> int:
    """Append the pandas frame's rows to source; returns how many were appended."""
    from featurestore.offline.sources import source_path
    from featurestore.offline.tables import table_provider

    where = f"push to {push_source!r}: batch source {source.name!r} ({source.describe_location()})"
    if source.query:
        raise ValidationError(f"{where} is a query, which holds no rows of its own; give the PushSource a "
                              f"batch_source with table= or path=")
    if len(frame) == 0:
        return 0
    if source.table:
        target = spark.table(source.table)
        rows = _aligned(spark, frame, target.schema, where)
        if table_provider(spark, source.table) == "delta":
            rows.write.format("delta").mode("append").saveAsTable(source.table)
        else:
            rows.write.insertInto(source.table)
        return len(frame)
    path = source_path(source, repo_path)
    if source.file_format == "delta":
        rows = _aligned(spark, frame, spark.read.format("delta").load(path).schema, where)
        rows.write.format("delta").mode("append").save(path)
    elif Path(path).is_file():
        _append_to_parquet_file(Path(path), frame, where)
    else:
        rows = _aligned(spark, frame, spark.read.parquet(path).schema, where)
        rows.write.mode("append").parquet(path)
    return len(frame)


def append_micro_batch(spark, source: DataSource, batch, schema, app_id: str, batch_id: int,
                       first_of_run: bool, repo_path=None) -> bool:
    """Append a stream's micro-batch (a Spark frame with some of the source's columns) to a
    Delta batch source of `schema` once; False when it was appended before (a replay).

    Each append's commit carries {"featurestore.stream": app_id, "batch": batch_id} as its
    userMetadata. Spark replays only the first batch of a run (the one whose commit a crash
    kept it from recording), so only then is the table's history searched for this stream's
    last append: batch_id or later means the batch is there already. Delta's own
    txnAppId/txnVersion would do the same on every batch, at 0.33 s a batch here (it
    rebuilds the table's state to read the version), most of a micro-batch.
    Missing columns are written null; types are cast to the table's."""
    import json

    from featurestore.offline.sources import source_path

    target = source.table or f"delta.`{source_path(source, repo_path)}`"
    if first_of_run:
        last = last_appended_batch(spark, target, app_id)
        if last is not None and last >= batch_id:
            return False
    rows = _to_schema(batch, schema)
    tag = json.dumps({STREAM_TAG: app_id, "batch": batch_id})
    writer = rows.write.format("delta").mode("append").option("userMetadata", tag)
    if source.table:
        writer.saveAsTable(source.table)
    else:
        writer.save(source_path(source, repo_path))
    return True


def last_appended_batch(spark, target: str, app_id: str) -> int | None:
    """The batch id of the stream app_id's newest append to target, None if it has none. The
    newest commits are read first (100, then 10,000, then all): the append sought is recent."""
    import json

    def tag_of(text):
        try:
            tag = json.loads(text or "")
        except ValueError:  # another writer's userMetadata
            return None
        return tag if isinstance(tag, dict) and tag.get(STREAM_TAG) == app_id else None

    for limit in (100, 10_000, None):
        rows = spark.sql(f"DESCRIBE HISTORY {target}" + (f" LIMIT {limit}" if limit else "")) \
            .select("version", "userMetadata").collect()
        mine = [(version, tag["batch"]) for version, text in rows if (tag := tag_of(text)) is not None]
        if mine:
            return max(mine)[1]
        if limit is None or len(rows) < limit:
            return None
    return None


def _check_columns(frame, target_columns: list[str], where: str) -> None:
    unknown = [c for c in frame.columns if c not in target_columns]
    if unknown:
        raise ValidationError(f"{where} has no column(s) {', '.join(map(str, unknown))}; its columns are "
                              f"{', '.join(target_columns)}; nothing was written")


def _aligned(spark, frame, schema, where: str):
    """The pandas rows as a Spark frame with exactly the target's columns, in its order and types."""
    _check_columns(frame, schema.names, where)
    return _to_schema(spark.createDataFrame(frame), schema)


def _to_schema(rows, schema):
    """A Spark frame with exactly `schema`'s columns, in its order and types; a column the rows
    lack is written null (pushes and a stream's micro-batches alike)."""
    from pyspark.sql import functions as F

    return rows.select([(F.col(f"`{f.name}`") if f.name in rows.columns else F.lit(None)).cast(f.dataType)
                        .alias(f.name) for f in schema.fields])


def _append_to_parquet_file(path: Path, frame, where: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        existing = pq.read_table(path)
        _check_columns(frame, existing.schema.names, where)
        pushed = pa.Table.from_pandas(frame, preserve_index=False)
        columns = []
        for field in existing.schema:
            column = pushed.column(field.name) if field.name in pushed.column_names else \
                pa.nulls(len(frame), field.type)
            try:
                columns.append(column.cast(field.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise ValidationError(f"{where}: column {field.name!r} does not fit the file's type {field.type}: "
                                      f"{error}; nothing was written") from None
        combined = pa.concat_tables([existing, pa.Table.from_arrays(columns, schema=existing.schema)])
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(handle)
        try:
            pq.write_table(combined, temporary)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
