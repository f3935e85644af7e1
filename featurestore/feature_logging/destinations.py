"""Where log rows go, and how Spark reads them back (the skew monitor).

- A folder: each batch is one parquet file, written under a hidden name (Spark and pyarrow
  skip names starting with "."), then renamed into place: a reader never sees half a file,
  and the processes of several server workers never write the same file.
- A Delta table in the warehouse: each batch is one append commit (delta-rs, no JVM);
  commits of several processes at once are serialized by Delta's log. The process that
  creates the table names it for the repo's next Spark session to register in the catalog
  (featurestore.runtime.unregistered_tables), as `featurestore init` does with its tables.
"""
from __future__ import annotations

import contextlib
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

DELTA_ATTEMPTS = 5
_written = 0


def append(destination: dict, table) -> None:
    """Append a pyarrow Table of log rows to the destination."""
    if "table" in destination:
        _append_delta(destination, table)
    else:
        _append_file(Path(destination["path"]), table)


def _append_file(folder: Path, table) -> None:
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    global _written
    _written += 1  # names sort by time, then by this process's order of writes
    now = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{now}-{_written:08d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"
    hidden = folder / f".{name}.tmp"
    try:
        pq.write_table(table, hidden)
        os.replace(hidden, folder / name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            hidden.unlink()


def _append_delta(destination: dict, table) -> None:
    from deltalake import write_deltalake
    from deltalake.exceptions import CommitFailedError

    location = Path(destination["location"])
    created = not (location / "_delta_log").exists()
    for attempt in range(DELTA_ATTEMPTS):
        try:
            write_deltalake(str(location), table, mode="append")
            break
        except CommitFailedError:  # another process committed the same version first
            if attempt == DELTA_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    if created:
        from featurestore.runtime import unregistered_tables

        unregistered_tables.add(Path(destination["warehouse"]), [destination["table"]])


def read_logs(spark, destination: dict):
    """The destination's log rows as a Spark DataFrame (None when nothing was logged yet)."""
    if "table" in destination:
        location = Path(destination["location"])
        if not (location / "_delta_log").exists():
            return None
        return spark.read.format("delta").load(str(location))
    files = log_files(Path(destination["path"]))
    return spark.read.parquet(*files) if files else None


def log_files(folder: Path) -> list[str]:
    """The log files in a folder: parquet files with the log's system columns (a folder may hold
    other data too: Feast's `local` template logs to its `data/` folder)."""
    import pyarrow.parquet as pq

    from featurestore.feature_logging.layout import LOG_TIMESTAMP, REQUEST_ID

    if not folder.is_dir():
        return []
    files = []
    for path in sorted(folder.rglob("*.parquet")):
        if any(part.startswith((".", "_")) for part in path.relative_to(folder).parts):
            continue
        try:
            names = set(pq.read_schema(path).names)
        except (OSError, ValueError):
            continue
        if {LOG_TIMESTAMP, REQUEST_ID} <= names:
            files.append(str(path))
    return files


def logged_rows_without_spark(destination: dict):
    """The destination's log rows as a pyarrow Table (tests and small checks; None when empty)."""
    if "table" in destination:
        location = Path(destination["location"])
        if not (location / "_delta_log").exists():
            return None
        from deltalake import DeltaTable

        return DeltaTable(str(location)).to_pyarrow_table()
    import pyarrow.dataset as ds

    files = log_files(Path(destination["path"]))
    return ds.dataset(files, format="parquet").to_table() if files else None
