"""Delta tables written into the repo's warehouse without Spark, waiting for the catalog.

`featurestore init` writes its sample tables with delta-rs (no JVM: init takes a second,
not twenty), where Spark keeps the `default` database's tables, and names them in the
warehouse's REGISTER_FILE. `plan` and `apply` read their schemas from their Delta logs
(offline.schema_reader) and need nothing more. The first Spark session on the repo, from
whatever process (featurestore.runtime.session.get_spark), registers each one as
`CREATE TABLE IF NOT EXISTS name USING delta LOCATION '<its folder>'`, then removes the
file: the tables are external tables at the place a managed one would have, so dropping
one leaves its files. A property set then (featurestore.written_by) is a commit of Spark's
own, which writes the checksum file delta-rs leaves out. Two sessions registering at once
both succeed.
"""
from __future__ import annotations

import contextlib
import json
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
    Nothing happens in a session of another warehouse (a notebook's session kept for another repo)."""
    from pyspark.errors import AnalysisException

    own = spark.conf.get("spark.sql.warehouse.dir", "")
    if Path(own.removeprefix("file:")).resolve() != Path(warehouse_dir).resolve():
        return []
    created = []
    for table in pending(warehouse_dir):
        location = Path(warehouse_dir) / table
        if not (location / "_delta_log").is_dir():
            continue  # removed since init
        existed = spark.catalog.tableExists(table)
        try:
            quoted = location.as_posix().replace("\\", "\\\\").replace("'", "\\'")
            spark.sql(f"CREATE TABLE IF NOT EXISTS `{table}` USING delta LOCATION '{quoted}'")
        except AnalysisException as error:
            if "ALREADY_EXISTS" not in str(error):  # another session registered it meanwhile
                raise
        if not existed:
            # A commit of Spark's own writes the table's checksum file (_delta_log/N.crc), which
            # delta-rs does not: without it every query rebuilt the table's state from its log.
            with contextlib.suppress(Exception):  # only speed is at stake (another session's commit, say)
                spark.sql(f"ALTER TABLE `{table}` SET TBLPROPERTIES ('featurestore.written_by' = 'featurestore init')")
            created.append(table)
    with contextlib.suppress(FileNotFoundError):
        (Path(warehouse_dir) / REGISTER_FILE).unlink()
    return created
