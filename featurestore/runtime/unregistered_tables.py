"""Delta tables written into the repo's warehouse without Spark, waiting for the catalog.

`featurestore init` writes its sample tables with delta-rs (no JVM: init takes a second,
not twenty), where Spark keeps the `default` database's tables, and names them in the
warehouse's REGISTER_FILE. `plan` and `apply` read their schemas from their Delta logs
(offline.schema_reader) and need nothing more. The first Spark session on the repo, from
whatever process (featurestore.runtime.session.get_spark), registers each one as
`CREATE TABLE IF NOT EXISTS name USING delta LOCATION '<its folder>'`, then removes the
file: the tables are external tables at the place a managed one would have, so dropping
one leaves its files. A property set then (featurestore.written_by) is a commit of Spark's
own, which writes the checksum file delta-rs leaves out. Sessions of several processes
starting at once take turns under a lock on that file, and all of them succeed.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

REGISTER_FILE = ".featurestore-tables-to-register"


def add(warehouse_dir: Path, tables: list[str]) -> None:
    """Name tables written in warehouse_dir for the next Spark session to register."""
    path = Path(warehouse_dir) / REGISTER_FILE
    pending = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps(sorted(set(pending) | set(tables))))


def pending(warehouse_dir: Path) -> list[str]:
    path = Path(warehouse_dir) / REGISTER_FILE
    try:
        return list(json.loads(path.read_text()))
    except (OSError, ValueError):
        return []


def register(spark, warehouse_dir: Path) -> list[str]:
    """Register the pending tables in the session's catalog; returns those this call created.
    Nothing happens in a session of another warehouse (a notebook's session kept for another repo).
    Sessions of several processes take turns, under a lock on the file naming the tables."""
    import fcntl

    own = spark.conf.get("spark.sql.warehouse.dir", "")
    if Path(own.removeprefix("file:")).resolve() != Path(warehouse_dir).resolve():
        return []
    path = Path(warehouse_dir) / REGISTER_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return []  # another process registered them meanwhile
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        created = [table for table in pending(warehouse_dir) if _register(spark, Path(warehouse_dir), table)]
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # under the lock: who waits for it finds no file and nothing to do
        return created
    finally:
        os.close(fd)


def _register(spark, warehouse_dir: Path, table: str) -> bool:
    """Register one table; True if this call created it."""
    location = warehouse_dir / table
    if not (location / "_delta_log").is_dir() or spark.catalog.tableExists(table):
        return False  # removed since init, or registered already
    quoted = location.as_posix().replace("\\", "\\\\").replace("'", "\\'")
    try:
        spark.sql(f"CREATE TABLE IF NOT EXISTS `{table}` USING delta LOCATION '{quoted}'")
    except Exception:
        if spark.catalog.tableExists(table):  # another process's session, not under our lock (an older one)
            return False
        raise
    # A commit of Spark's own writes the table's checksum file (_delta_log/N.crc), which delta-rs
    # does not: without it every query rebuilt the table's state from its log.
    with contextlib.suppress(Exception):  # only speed is at stake
        spark.sql(f"ALTER TABLE `{table}` SET TBLPROPERTIES ('featurestore.written_by' = 'featurestore init')")
    return True
