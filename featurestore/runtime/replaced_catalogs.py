"""Repos deleted, made again, moved or copied while the shared Derby server holds their catalogs.

The shared server (metastore_server) keeps each repo's Derby database booted after its
first use, and Derby names a database by its path and keeps its files open. Two things
then go wrong when a repo's folder changes under it:

- **made again at the same path** (`rm -rf repo && featurestore init repo`, a second
  `make demo`): the server still serves the old catalog from the deleted files, so the
  new repo sees tables that no longer exist (DELTA_TABLE_NOT_FOUND) or cannot start
  (SessionHiveMetaStoreClient), and what it writes is lost when the server stops;
- **moved or copied**: the catalog records absolute table locations, so a moved repo's
  tables point at the old folder, and a copy's tables at the original's files (reads
  and writes would land in the other repo).

So a repo's data folder carries MARKER (a random id and the folder it was made in), and
the server's state folder records, per database path, the id and the database folder's
inode seen last. Before a process uses the server (under its lock):

    recorded here    now here                        then
    id A, inode 7    id A, inode 7                   nothing to do
    id A, inode 7    id B (data/ made again)         shut the old database down on the server
    id A, inode 7    id A, no metastore_db/inode 9   shut it down (the catalog alone was reset)
    any              MARKER made in folder P         moved or copied from P: table locations under
                                                     P are rewritten to this folder; if P no longer
                                                     has id A (moved), P's database is shut down;
                                                     a copy gets an id of its own

Shutting a database down (Derby's `;shutdown=true`) closes its files; the next connection
boots whatever is at the path now, creating it when it is new. A database that was not
replaced is never shut down, so other processes of a live repo are never disturbed.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from featurestore.errors import SparkSetupError

MARKER = ".featurestore-catalog-id"
RECORDS = "catalogs"


def prepare(state_dir: Path, host: str, port: int, metastore_dir: Path) -> None:
    """Make the server's view of metastore_dir's database match what is on disk now (see the
    module docstring). Call it holding the server's lock, with the server running."""
    metastore_dir = Path(metastore_dir).resolve()
    data = metastore_dir.parent
    records = state_dir / RECORDS
    records.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity, made_in = _marker(data)
    recorded = _read(records / _key(metastore_dir))
    if recorded is not None and (recorded[0] != identity or (recorded[1] and recorded[1] != _inode(metastore_dir))):
        _close(host, port, metastore_dir)
    if made_in != data:
        if _marker_if_any(made_in)[0] != identity:  # moved: the old path's database is gone from disk
            _close(host, port, made_in / metastore_dir.name)
        else:  # copied: this copy is a repo of its own from now on
            identity = uuid.uuid4().hex
        if metastore_dir.is_dir():
            _relocate(host, port, metastore_dir, made_in, data)
        _write_marker(data, identity)
    _write(records / _key(metastore_dir), identity, _inode(metastore_dir), metastore_dir)


def _close(host: str, port: int, metastore_dir: Path) -> None:
    """Shut down the old database held for metastore_dir. Closing it flushes its log by path,
    which would write into whatever is at that path now: the new database is set aside
    meanwhile, and what the old one wrote there while closing is removed."""
    aside = None
    if metastore_dir.exists():
        aside = metastore_dir.with_name(f"{metastore_dir.name}.aside-{uuid.uuid4().hex}")
        metastore_dir.rename(aside)
    try:
        _ij(host, port, f"connect '{_url(host, port, metastore_dir)};shutdown=true';\n")
    finally:
        if metastore_dir.exists():
            shutil.rmtree(metastore_dir)
        if aside is not None:
            aside.rename(metastore_dir)


# Where Hive's schema keeps locations: databases, tables and partitions, and the `path`
# option of Spark's data-source tables (Delta, parquet).
_LOCATIONS = (("DBS", "DB_LOCATION_URI", ""), ("SDS", "LOCATION", ""),
              ("SERDE_PARAMS", "PARAM_VALUE", " AND PARAM_KEY = 'path'"))


def _relocate(host: str, port: int, metastore_dir: Path, old: Path, new: Path) -> None:
    """Rewrite the catalog's locations under folder `old` to the same places under `new`."""
    statements = [f"connect '{_url(host, port, metastore_dir)}';"]
    for table, column, condition in _LOCATIONS:
        below_old, below_new = f"file:{old}/", f"file:{new}/"
        statements.append(
            f"UPDATE APP.{table} SET {column} = '{_sql(below_new)}' || SUBSTR({column}, {len(below_old) + 1}) "
            f"WHERE LENGTH({column}) >= {len(below_old)} AND CAST(SUBSTR({column}, 1, {len(below_old)}) AS "
            f"VARCHAR(4000)) = '{_sql(below_old)}'{condition};")
        statements.append(f"UPDATE APP.{table} SET {column} = 'file:{_sql(str(new))}' WHERE LENGTH({column}) < 4000 "
                          f"AND CAST({column} AS VARCHAR(4000)) = 'file:{_sql(str(old))}'{condition};")
    statements.append("commit;")
    output = _ij(host, port, "autocommit off;\n" + "\n".join(statements) + "\n")
    errors = [line for line in output.splitlines() if line.startswith("ERROR") and "42X05" not in line]
    if errors:  # 42X05: no such table (a catalog Hive never initialised holds no locations)
        raise SparkSetupError(f"the repo's catalog {metastore_dir} was moved or copied from {old}, and its table "
                              f"locations could not be rewritten: {errors[0]}; move the repo back, or remove "
                              f"{metastore_dir} and register its tables again")


def _ij(host: str, port: int, script: str) -> str:
    """Run a script with Derby's ij tool (one short JVM, only when a repo changed) and return its output."""
    from featurestore.runtime.derby import _java, server_classpath
    from featurestore.runtime.jars import derby_jar

    classpath = os.pathsep.join(str(jar) for jar in [*server_classpath(), derby_jar("derbyclient")])
    result = subprocess.run([_java(), "-cp", classpath, "org.apache.derby.tools.ij"], input=script + "exit;\n",
                            text=True, capture_output=True, timeout=120)
    return result.stdout + result.stderr


def _url(host: str, port: int, metastore_dir: Path) -> str:
    return f"jdbc:derby://{host}:{port}/{_sql(str(metastore_dir))}"


def _sql(text: str) -> str:
    return text.replace("'", "''")


def catalog_identity(metastore_dir: Path) -> str:
    """The id of the repo's catalog as it is on disk now (written on first use): a repo made
    again at the same path has another one."""
    return _marker(Path(metastore_dir).resolve().parent)[0]


def _marker(data: Path) -> tuple[str, Path]:
    """(id, folder it was made in) of the data folder, written on first use (O_EXCL, so two
    processes agree on one)."""
    data.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(data / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        identity, made_in = _marker_if_any(data)
        if identity:
            return identity, made_in
        _write_marker(data, uuid.uuid4().hex)  # unreadable: this folder starts a new identity
        return _marker_if_any(data)
    with os.fdopen(fd, "w") as out:
        out.write(f"{uuid.uuid4().hex}\n{data}\n")
    return _marker_if_any(data)


def _marker_if_any(data: Path) -> tuple[str | None, Path]:
    try:
        identity, made_in = (data / MARKER).read_text().split("\n", 1)
        return identity.strip(), Path(made_in.strip() or data)
    except (OSError, ValueError):
        return None, data


def _write_marker(data: Path, identity: str) -> None:
    temporary = data / f"{MARKER}.tmp"
    temporary.write_text(f"{identity}\n{data}\n")
    temporary.replace(data / MARKER)


def _inode(metastore_dir: Path) -> int:
    """The database folder's inode, 0 before Derby created it."""
    try:
        return metastore_dir.stat().st_ino
    except OSError:
        return 0


def _key(metastore_dir: Path) -> str:
    return hashlib.sha1(str(metastore_dir).encode()).hexdigest()


def _read(record: Path) -> tuple[str, int] | None:
    try:
        identity, inode = record.read_text().split("\n")[:2]
        return identity, int(inode)
    except (OSError, ValueError):
        return None


def _write(record: Path, identity: str, inode: int, metastore_dir: Path) -> None:
    temporary = record.with_suffix(".tmp")
    temporary.write_text(f"{identity}\n{inode}\n{metastore_dir}\n")
    temporary.replace(record)
