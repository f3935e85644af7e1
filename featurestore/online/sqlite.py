"""The embedded online store: one SQLite file, one table per feature view.

Layout of table "<project>_<view>": Feast's SQLite online store's (issue #38), so that Feast's
SDK and `feast serve` read what featurestore materializes and the other way round, plus two
columns of featurestore's:

    entity_key BLOB, feature_name TEXT, value BLOB, value_text TEXT, vector_value BLOB,
    event_ts timestamp, created_ts timestamp,    -- Feast's: integer seconds since the epoch, UTC
    event_micros INTEGER, created_micros INTEGER, -- featurestore's: the same times in microseconds
    PRIMARY KEY (entity_key, feature_name)

entity_key is Feast's serialization of the key, value Feast's Value message (both:
online/codec.py). Feast keeps times in whole seconds; a training set's are microseconds, so
featurestore decides "newer" and the ttl by the *_micros columns (or, in a row Feast wrote,
its seconds). value_text and vector_value are Feast's (search, vectors) and stay NULL here.

The database runs in WAL mode, so readers (a model server) never wait for a writer
(materialization) and see each write transaction whole or not at all. A write keeps a
value only where it is newer, by (event_ts, created_ts), than the stored one; the
comparison happens inside SQLite in the upsert itself, so concurrent writers cannot
interleave a read-compare-write.

Where its reads' and writes' time goes, measured: docs/performance.md.
"""
from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

from featurestore.config import setting
from featurestore.definitions import FeatureView
from featurestore.errors import OnlineStoreError
from featurestore.identity import changed_while
from featurestore.online.base import OnlineStore, StoredFeatures, set_event_ts, stored_features
from featurestore.online.legacy import feast_key, feast_value, is_earlier_key
from featurestore.sqlite_retry import retry_while_busy

# Each commit writes every page its transaction dirtied to the WAL, and a chunk of random keys
# dirties pages all over the table: at 1M entities x 10 features, 10,000 rows per transaction
# take 1.2x the time of the same upserts in one transaction (31,100 vs 40,500 rows/s; a raw
# plain INSERT of the rows: 37,900), 25,000 rows 1.15x, 50,000 rows 1.05x (35,800 rows/s).
# It stays 10,000: a chunk is what a crash may lose and how long the write lock is held, and
# tests/unit/test_online_concurrency.py's crash test expects commits within 20,000 rows.
ROWS_PER_TRANSACTION = 10_000
# SQLite allows 32766 bound parameters per statement; stay well below it.
_MAX_FEATURES_PER_STATEMENT = 1_000  # 2 parameters each, plus 3 per row
_MAX_KEYS_PER_QUERY = 10_000
# A checkpoint copies every page changed since the last one from the WAL into the database.
# SQLite's default (every 1000 pages) checkpoints after each transaction of a large write,
# copying the same B-tree pages over and over: a 1M-row write took ~1.4x longer than with a
# checkpoint per 100,000 pages (~400 MB of WAL at most). online_write_flat also checkpoints
# at its end. (Capping the WAL file with journal_size_limit cost another ~1.3x, so it is not.)
_WAL_AUTOCHECKPOINT_PAGES = 100_000
# A write inserts into B-trees spread over the whole table: with SQLite's default 2 MiB page
# cache most inserts re-read their leaf page from the file. 64 MiB while online_write_flat runs
# (given back after) made a 1M-entity x 10-feature write 1.2x faster (29,700 -> 36,200 rows/s;
# 128 MiB: 38,600, 256 MiB: 37,200). Reads gained nothing measurable from a larger cache or
# from mmap_size (same 1M-entity table, 100 x 10 reads: 0.73 ms either way), so readers keep
# SQLite's defaults.
_WRITE_CACHE_SIZE = -64 * 1024  # negative: KiB


def table_name(project: str, view_name: str) -> str:
    """The table holding a view's values; both names are plain identifiers (checked by the definitions)."""
    return f"{project}_{view_name}"


def _upsert_sql(table: str, feature_names: Sequence[str]) -> str:
    """One statement writing one flat row's values of feature_names, each only where newer than stored
    (or at equal timestamps, where the value differs: a row rewritten in place).

    Parameters: ?1 entity key, ?2 event time, ?3 created time (microseconds), then one value per
    feature. Feature names are plain identifiers (checked by the definitions), so they are
    written into the statement as literals, and a row from Spark binds as it arrives. Feast's
    second columns get the times divided as Feast's int(datetime.timestamp()) does.
    """
    rows = ", ".join(f"(?1, '{name}', ?{4 + i}, ?2 / 1000000, ?3 / 1000000, ?2, ?3)"
                     for i, name in enumerate(feature_names))
    new, stored = "(excluded.event_micros, excluded.created_micros)", f"({_EVENT_MICROS}, {_CREATED_MICROS})"
    return (f'INSERT INTO "{table}" (entity_key, feature_name, value, event_ts, created_ts, event_micros, '
            f"created_micros) VALUES {rows} "
            f"ON CONFLICT (entity_key, feature_name) DO UPDATE SET value = excluded.value, "
            f"event_ts = excluded.event_ts, created_ts = excluded.created_ts, event_micros = excluded.event_micros, "
            f"created_micros = excluded.created_micros "
            f"WHERE {new} > {stored} OR ({new} = {stored} AND excluded.value IS NOT value)")


# A stored row's times in microseconds: featurestore's columns, or the seconds of a row Feast wrote.
_EVENT_MICROS = "coalesce(event_micros, event_ts * 1000000)"
_CREATED_MICROS = "coalesce(created_micros, created_ts * 1000000, 0)"


# Which project and view own each table, and the online generation of its values
# (featurestore.identity). Its name holds a ':', which no "<project>_<view>" table name can.
OWNERS = "featurestore:tables"
_CREATE_OWNERS = (f'CREATE TABLE IF NOT EXISTS "{OWNERS}" (table_name TEXT PRIMARY KEY, project TEXT NOT NULL, '
                  f"view TEXT NOT NULL, generation TEXT)")


_COLUMNS = {"entity_key": "BLOB", "feature_name": "TEXT", "value": "BLOB", "value_text": "TEXT", "vector_value": "BLOB",
            "event_ts": "timestamp", "created_ts": "timestamp", "event_micros": "INTEGER", "created_micros": "INTEGER"}
_TABLE_BODY = (f"({', '.join(f'{name} {kind}' for name, kind in _COLUMNS.items())}, "
               f"PRIMARY KEY (entity_key, feature_name)) WITHOUT ROWID")


def _create_table(connection: sqlite3.Connection, table: str) -> None:
    """A view's table: created, converted from the earlier layout, or given the columns
    featurestore adds to one Feast made."""
    connection.execute(f'CREATE TABLE IF NOT EXISTS "{table}" {_TABLE_BODY}')
    present = _columns_of(connection, table)
    if _convert_if_earlier(connection, table, present):
        return
    for name, kind in _COLUMNS.items():
        if name not in present:
            connection.execute(f'ALTER TABLE "{table}" ADD COLUMN {name} {kind}')


def _columns_of(connection: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')}


def _holds_earlier_rows(connection: sqlite3.Connection, table: str, present: set[str]) -> bool:
    """Whether a table (of columns `present`) is in featurestore's layout before #38
    (online/legacy.py): no event_micros column, and keys that are EntityKey messages."""
    if "event_micros" in present or "feature_name" not in present:
        return False
    first = connection.execute(f'SELECT entity_key FROM "{table}" LIMIT 1').fetchone()
    return first is not None and isinstance(first[0], bytes) and is_earlier_key(first[0])


def _convert_if_earlier(connection: sqlite3.Connection, table: str, present: set[str]) -> bool:
    """Rewrite a table of the earlier layout in Feast's, all of it or nothing (a savepoint, so
    inside or outside a transaction); False when it was not one."""
    if not _holds_earlier_rows(connection, table, present):
        return False
    earlier = f"{table}:earlier"  # a ':' no view's table name holds
    insert = (f'INSERT INTO "{table}" (entity_key, feature_name, value, event_ts, created_ts, event_micros, '
              f"created_micros) VALUES (?1, ?2, ?3, ?4 / 1000000, ?5 / 1000000, ?4, ?5)")
    connection.execute("SAVEPOINT convert_earlier")
    try:
        connection.execute(f'ALTER TABLE "{table}" RENAME TO "{earlier}"')
        connection.execute(f'CREATE TABLE "{table}" {_TABLE_BODY}')
        rows = connection.execute(f'SELECT entity_key, feature_name, value, event_ts, created_ts FROM "{earlier}"')
        while batch := rows.fetchmany(10_000):
            connection.executemany(insert, [(feast_key(key), name, feast_value(value), event_ts, created_ts)
                                            for key, name, value, event_ts, created_ts in batch])
        connection.execute(f'DROP TABLE "{earlier}"')
        connection.execute("RELEASE convert_earlier")
    except BaseException:
        connection.execute("ROLLBACK TO convert_earlier")
        connection.execute("RELEASE convert_earlier")
        raise
    return True


@dataclasses.dataclass(frozen=True)
class SqliteOnlineStoreConfig:
    """The embedded default: one SQLite file beside the repo."""
    type: str = "sqlite"
    path: str = setting("data/online_store.db", nonempty=True)


class SqliteOnlineStore(OnlineStore):
    """Feature values in one SQLite file at `path`, created (mode 0600) on the first update or write.

    Each thread gets its own connection, opened lazily and kept, so a read costs one
    prepared statement and no setup. Reads never create the file: a missing file or
    table means the repo was not applied or materialized, and says so.
    """

    config_class = SqliteOnlineStoreConfig

    def __init__(self, path: str | os.PathLike, *, busy_timeout_seconds: float = 5.0,
                 rows_per_transaction: int = ROWS_PER_TRANSACTION):
        if not isinstance(rows_per_transaction, int) or rows_per_transaction < 1:
            raise ValueError(f"rows_per_transaction must be a positive int, got {rows_per_transaction!r}")
        self.path = Path(path)
        self.busy_timeout_seconds = busy_timeout_seconds
        self.rows_per_transaction = rows_per_transaction
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open_connections: list[sqlite3.Connection] = []
        self._generation = 0  # bumped by close(): threads then reopen their connection
        self._seconds_only: set[str] = set()  # tables Feast made, without featurestore's *_micros columns

    # --- pickling: ship the settings, never a connection ---

    def __getstate__(self) -> dict:
        return {"path": self.path, "busy_timeout_seconds": self.busy_timeout_seconds,
                "rows_per_transaction": self.rows_per_transaction}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def __repr__(self) -> str:
        return f"SqliteOnlineStore({str(self.path)!r})"

    # --- the OnlineStore interface ---

    @classmethod
    def from_config(cls, config: SqliteOnlineStoreConfig, repo_config) -> SqliteOnlineStore:
        """The file at config.path, relative to the repo."""
        return cls(repo_config.resolve(config.path))

    def update(self, project: str, views_to_keep: Sequence[FeatureView],
               views_to_delete: Sequence[FeatureView]) -> None:
        if not views_to_keep and not self.path.exists():
            return  # only deletions, and there is nothing to delete from
        with self._transaction("updating tables") as connection:
            for view in views_to_keep:
                self._claim_table(connection, project, view)
                _create_table(connection, table_name(project, view.name))
            self._drop_tables(connection, project, views_to_delete)

    def convert_earlier_layout(self, project: str) -> str:
        """Convert every table of the earlier layout in the file, the project's and any other's
        (online/legacy.py), in one transaction."""
        if not self.path.exists():
            return ""
        with self._transaction("converting tables of featurestore's earlier layout") as connection:
            tables = [name for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
            converted = sum(_convert_if_earlier(connection, table, _columns_of(connection, table))
                            for table in tables if table != OWNERS)
        return "" if not converted else f"{converted} table{'s' if converted > 1 else ''}"

    def check_table_names(self, project: str, views: Sequence[FeatureView]) -> None:
        if not self.path.exists():
            return
        connection = self._connection(create=True)
        with self._errors("reading the tables' owners"):
            connection.execute(_CREATE_OWNERS)
            for view in views:
                _check_owner(self.path, _owner(connection, table_name(project, view.name)), project, view.name)

    def _claim_table(self, connection: sqlite3.Connection, project: str, view: FeatureView) -> None:
        """Record that project's view owns its table, refusing a table another project's view owns
        (`team` + `a_stats` and `team_a` + `stats` are both "team_a_stats"). A table written
        before owners were recorded is claimed by the first project that applies it."""
        table = table_name(project, view.name)
        _check_owner(self.path, _owner(connection, table), project, view.name)
        connection.execute(f'INSERT INTO "{OWNERS}" (table_name, project, view) VALUES (?, ?, ?) '
                           f"ON CONFLICT (table_name) DO NOTHING", (table, project, view.name))

    def _drop_tables(self, connection: sqlite3.Connection, project: str, views: Sequence[FeatureView]) -> None:
        """Drop the views' tables, never one another project's view owns."""
        for view in views:
            table = table_name(project, view.name)
            owner = _owner(connection, table)
            if owner is not None and owner[:2] != (project, view.name):
                continue
            connection.execute(f'DROP TABLE IF EXISTS "{table}"')
            connection.execute(f'DELETE FROM "{OWNERS}" WHERE table_name = ?', (table,))

    @contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE) on the owners' table and the views' tables."""
        connection = self._connection(create=True)
        with self._errors(action):
            connection.execute(_CREATE_OWNERS)
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                self._rollback(connection)
                raise

    def claim_generation(self, project: str, view: FeatureView, generation: str) -> str:
        table = table_name(project, view.name)
        with self._transaction(f"recording the generation of feature view {view.name!r}") as connection:
            self._claim_table(connection, project, view)
            _create_table(connection, table)
            connection.execute(f'UPDATE "{OWNERS}" SET generation = ? WHERE table_name = ? AND generation IS NULL',
                               (generation, table))
            return _owner(connection, table)[2]

    def reset_view(self, project: str, view: FeatureView, generation: str, expected: str) -> bool:
        table = table_name(project, view.name)
        with self._transaction(f"removing the values of feature view {view.name!r}") as connection:
            self._claim_table(connection, project, view)
            stored = _owner(connection, table)[2]
            if stored != expected:
                return False
            _create_table(connection, table)
            connection.execute(f'DELETE FROM "{table}"')
            connection.execute(f'UPDATE "{OWNERS}" SET generation = ? WHERE table_name = ?', (generation, table))
            return True

    def online_write_flat(self, project: str, view: FeatureView, rows: Iterable[tuple],
                          generation: str | None = None) -> int:
        """Rows bound as they arrive into one executemany per transaction of rows_per_transaction.

        rows is consumed one chunk at a time, and a chunk is collected before its transaction
        starts, so a slow producer (Spark's toLocalIterator) never holds the write lock. A view
        with more features than one statement may bind is written in parts, in the same
        transaction. Returns the number of rows that changed the store.
        """
        names = [f.name for f in view.features]
        table = table_name(project, view.name)
        parts = [(start, min(start + _MAX_FEATURES_PER_STATEMENT, len(names)))
                 for start in range(0, len(names), _MAX_FEATURES_PER_STATEMENT)]
        statements = [(_upsert_sql(table, names[start:end]), start, end) for start, end in parts]
        connection = self._connection(create=True)
        with self._errors(f"creating the table of feature view {view.name!r}"):
            _create_table(connection, table)
            self._seconds_only.discard(table)
            (cache_size,) = connection.execute("PRAGMA cache_size").fetchone()
            connection.execute(f"PRAGMA cache_size = {_WRITE_CACHE_SIZE}")
        try:
            rows = iter(rows)
            changed_values = 0
            while chunk := list(islice(rows, self.rows_per_transaction)):
                with self._errors(f"writing feature view {view.name!r}"):
                    changed_values += self._write_chunk(connection, statements, chunk, table,
                                                        None if generation is None else (view.name, generation))
            with self._errors("checkpointing the write-ahead log"):
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")  # never waits for readers
        finally:
            with self._errors("resetting the page cache"):
                connection.execute(f"PRAGMA cache_size = {int(cache_size)}")  # frees the writer's pages
        # Every value of a row shares the row's timestamps, so a row that is newer than the stored
        # one replaces all its values, and one that is not replaces none.
        return -(-changed_values // len(names))

    def _write_chunk(self, connection: sqlite3.Connection, statements: list[tuple[str, int, int]],
                     chunk: list[tuple], table: str, fence: tuple[str, str] | None) -> int:
        """One transaction, refused unless the table still holds the generation of fence (view
        name, generation) when given; returns the number of values inserted or replaced."""
        cursor = connection.cursor()
        changed_values = 0
        cursor.execute("BEGIN IMMEDIATE")
        try:
            if fence is not None:
                owner = _owner(connection, table)
                if owner is None or owner[2] != fence[1]:
                    raise changed_while(fence[0], "this write ran")
            if len(statements) == 1:
                cursor.executemany(statements[0][0], chunk)
                changed_values = cursor.rowcount
            else:
                for sql, start, end in statements:
                    cursor.executemany(sql, [(row[0], row[1], row[2], *row[3 + start:3 + end]) for row in chunk])
                    changed_values += cursor.rowcount
            cursor.execute("COMMIT")
        except BaseException:
            self._rollback(connection)
            raise
        return changed_values

    def online_read(self, project: str, view: FeatureView, entity_keys: Sequence[bytes],
                    feature_names: Sequence[str]) -> list[StoredFeatures | None]:
        """One SELECT by primary key (per 10,000 keys), each row tagged with its key's position.

        When most of the view's features are requested, the query reads each key's whole
        range of rows and drops the unrequested ones here, which is cheaper than one index
        probe per (key, feature); for a few features of a wide view it probes exactly.
        """
        if not entity_keys:
            return []
        connection = self._connection(create=False)
        table = table_name(project, view.name)
        whole_rows = 2 * len(feature_names) >= len(view.features)
        wanted = set(feature_names)
        stored: list[StoredFeatures | None] = [None] * len(entity_keys)
        for start in range(0, len(entity_keys), _MAX_KEYS_PER_QUERY):
            keys = entity_keys[start:start + _MAX_KEYS_PER_QUERY]
            listed = _listed_count(len(keys))
            keys = (*keys, *[_NO_KEY] * (listed - len(keys)))  # padding that matches no stored key
            micros = table not in self._seconds_only
            if whole_rows:
                sql, params = _select_sql(table, listed, 0, micros), keys
            else:
                sql, params = _select_sql(table, listed, len(feature_names), micros), (*keys, *feature_names)
            try:
                result = connection.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                if micros and "no such column: stored.event_micros" in str(error):  # Feast's table, or ours before #38
                    if _holds_earlier_rows(connection, table, _columns_of(connection, table)):
                        raise OnlineStoreError(
                            f"online store {self.path} holds feature view {view.name!r} in featurestore's earlier "
                            f"encodings (before it took Feast's); run `featurestore apply` once to convert the "
                            f"store (nothing is lost)") from None
                    self._seconds_only.add(table)
                    return self.online_read(project, view, entity_keys, feature_names)
                if "no such table" in str(error):
                    raise OnlineStoreError(
                        f"online store {self.path} has no table for feature view {view.name!r} of project "
                        f"{project!r}; run `featurestore apply` to create it and `featurestore materialize` "
                        f"to fill it") from None
                raise self._error(error, f"reading feature view {view.name!r}") from error
            for position, feature_name, value, event_ts in result:
                if feature_name in wanted:
                    entry = stored[start + position]
                    if entry is None:
                        stored[start + position] = stored_features({feature_name: value}, event_ts)
                    else:
                        entry.values[feature_name] = value
                        if event_ts > entry.event_ts:
                            set_event_ts(entry, event_ts)
        return stored

    def teardown(self, project: str, views: Sequence[FeatureView]) -> None:
        """Drop the views' tables; delete the file (with its -wal and -shm) once no table is left."""
        if not self.path.exists():
            return
        with self._transaction("dropping tables") as connection:
            self._drop_tables(connection, project, views)
            (remaining,) = connection.execute(
                f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name != '{OWNERS}'").fetchone()
        if remaining == 0:
            self.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            self._generation += 1
            connections, self._open_connections = self._open_connections, []
        for connection in connections:
            connection.close()

    # --- writing ---

    @staticmethod
    def _rollback(connection: sqlite3.Connection) -> None:
        if connection.in_transaction:
            connection.execute("ROLLBACK")

    def ping(self) -> None:
        """The file opens and answers a query."""
        with self._errors("answering a readiness check"):
            self._connection(create=False).execute("SELECT 1").fetchone()

    # --- connections ---

    def _connection(self, create: bool) -> sqlite3.Connection:
        """This thread's connection, (re)opened when missing, closed or the file was replaced.

        The file is stat'ed on every call (about a microsecond): an open connection to a
        deleted file would otherwise keep serving the old data after a teardown.
        """
        local = self._local
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            if getattr(local, "connection", None) is not None:
                self._forget(local.connection)  # it would keep serving the deleted file's data
                local.connection = local.identity = None
            if not create:
                raise OnlineStoreError(
                    f"online store {self.path} does not exist; run `featurestore apply` to create it and "
                    f"`featurestore materialize` to fill it (or check online_store.path in "
                    f"feature_store.yaml)") from None
            self._create_file()
            stat = os.stat(self.path)
        identity = (stat.st_dev, stat.st_ino, self._generation)
        if getattr(local, "identity", None) == identity:
            return local.connection
        if getattr(local, "connection", None) is not None:
            self._forget(local.connection)
        local.connection = self._open(create)
        local.identity = identity
        return local.connection

    def _open(self, writable: bool) -> sqlite3.Connection:
        with self._errors("opening the database"):
            connection = sqlite3.connect(self.path, timeout=self.busy_timeout_seconds, isolation_level=None,
                                         check_same_thread=False, cached_statements=512)
            try:
                self._set_up(connection, writable)
            except BaseException:
                connection.close()
                raise
        with self._lock:
            self._open_connections.append(connection)
        return connection

    def _set_up(self, connection: sqlite3.Connection, writable: bool) -> None:
        """WAL mode and the connection's pragmas, retried while the file is busy.

        Switching a new file to WAL, and reading a WAL file whose last user is just closing it
        (the closer checkpoints and removes the log), can answer SQLITE_BUSY at once, without
        sqlite3's busy timeout (featurestore.sqlite_retry). So the set-up is retried for up to
        busy_timeout_seconds. The switch is skipped once the file is in WAL mode, which persists
        in the file.
        """
        deadline = time.monotonic() + self.busy_timeout_seconds
        while not retry_while_busy(lambda: _in_wal_mode(connection, writable), deadline - time.monotonic()):
            if time.monotonic() + 0.05 > deadline:
                raise OnlineStoreError(
                    f"online store {self.path} could not be switched to WAL mode within "
                    f"{self.busy_timeout_seconds:g} s: another process keeps it open in another journal "
                    f"mode; stop it, then retry")
            time.sleep(0.05)

    def _forget(self, connection: sqlite3.Connection) -> None:
        with self._lock:
            if connection in self._open_connections:
                self._open_connections.remove(connection)
        connection.close()

    def _create_file(self) -> None:
        """The database file and its folder; owner-only, since feature values may be sensitive."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        except PermissionError as error:
            raise OnlineStoreError(
                f"cannot create online store {self.path}: {error.strerror} ({error.filename}); make its "
                f"folder writable or set online_store.path in feature_store.yaml to a writable location"
            ) from None

    # --- errors ---

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """`with self._errors("doing X"):` turns sqlite3 errors into OnlineStoreErrors."""
        try:
            yield
        except sqlite3.Error as error:
            raise self._error(error, action) from error

    def _error(self, error: sqlite3.Error, action: str) -> OnlineStoreError:
        """An OnlineStoreError naming the cause, the file and the fix."""
        code = getattr(error, "sqlite_errorname", "")
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return OnlineStoreError(
                f"online store {self.path} is locked: another process holds a lock on it (waited "
                f"{self.busy_timeout_seconds:g} s while {action}); wait for it to finish, e.g. a running "
                f"`featurestore materialize`, or stop it, then retry")
        if code.startswith("SQLITE_READONLY"):
            return OnlineStoreError(
                f"online store {self.path} is read-only ({error}) while {action}; make the file and its "
                f"folder writable by this user, or set online_store.path in feature_store.yaml to a writable "
                f"location")
        if code.startswith("SQLITE_CANTOPEN"):
            return OnlineStoreError(
                f"cannot open online store {self.path} ({error}) while {action}; check that the file and its "
                f"folder exist and are readable and writable by this user")
        return OnlineStoreError(f"online store {self.path}: SQLite failed while {action}: {error} ({code})")


def _owner(connection: sqlite3.Connection, table: str) -> tuple[str, str, str | None] | None:
    """(project, view, generation) recorded for a table; None when nothing is."""
    return connection.execute(f'SELECT project, view, generation FROM "{OWNERS}" WHERE table_name = ?',
                              (table,)).fetchone()


def _check_owner(path: Path, owner, project: str, view_name: str) -> None:
    if owner is not None and owner[:2] != (project, view_name):
        raise OnlineStoreError(
            f"online store {path}: feature view {view_name!r} of project {project!r} would be stored in table "
            f"{table_name(project, view_name)!r}, which holds feature view {owner[1]!r} of project {owner[0]!r}; "
            f"rename the view, or give one of the projects its own online_store.path")


_SELECTS: dict[tuple[str, int, int, bool], str] = {}
_NO_KEY = b""  # an entity key is never empty: a padding key that matches nothing


def _listed_count(key_count: int) -> int:
    """How many keys a SELECT lists for key_count keys: up to 8 exactly, then the next power of two
    (at most _MAX_KEYS_PER_QUERY). Every distinct count is one more compiled statement in SQLite's
    cache and in _SELECTS, and a client chooses the count: 1,000 requests of distinct sizes took
    a worker from 107 MB to 1 GB. Now a view has at most 19 statements per feature count.

    >>> [_listed_count(n) for n in (1, 8, 9, 100, 5000, 10_000)]
    [1, 8, 16, 128, 8192, 10000]
    """
    if key_count <= 8:
        return key_count
    return min(1 << (key_count - 1).bit_length(), _MAX_KEYS_PER_QUERY)


def _select_sql(table: str, key_count: int, feature_count: int, micros: bool = True) -> str:
    """SELECT by primary key a view's values of key_count keys and feature_count features (0: all),
    with each row's event time in microseconds (from event_ts's seconds where `micros` is false:
    a table Feast made, without featurestore's columns).

    The keys come in as a VALUES list numbered by position, and each row comes out with its
    key's position instead of the key: an int per row instead of a copy of the key blob, and
    no lookup by key to place it (~10% less time than `WHERE entity_key IN (...)` for 100 keys
    of 3 features). CROSS JOIN makes SQLite probe the primary key once per listed key.
    """
    sql = _SELECTS.get((table, key_count, feature_count, micros))
    if sql is None:
        keys = ", ".join(f"({position}, ?)" for position in range(key_count))
        event = "coalesce(stored.event_micros, stored.event_ts * 1000000)" if micros else "stored.event_ts * 1000000"
        sql = (f"WITH listed (position, entity_key) AS (VALUES {keys}) "
               f"SELECT listed.position, stored.feature_name, stored.value, {event} FROM listed "
               f'CROSS JOIN "{table}" AS stored ON stored.entity_key = listed.entity_key')
        if feature_count:
            sql += f" AND stored.feature_name IN ({', '.join(['?'] * feature_count)})"
        if len(_SELECTS) < 10_000:  # bounded: key counts vary with the callers' batch sizes
            _SELECTS[(table, key_count, feature_count, micros)] = sql
    return sql


def _in_wal_mode(connection: sqlite3.Connection, writable: bool) -> bool:
    """Switch the file to WAL (a writer only) and set the connection's pragmas; False when the
    file is still in another mode (another process holds it so)."""
    in_wal = not writable or _journal_mode(connection, "") == "wal"
    if not in_wal and _journal_mode(connection, " = WAL") == "wal":
        in_wal = True  # the switch answers the mode it left the file in
    if in_wal:
        # WAL keeps the database consistent with NORMAL; a power cut may lose the last
        # writes, which re-running materialization restores.
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute(f"PRAGMA wal_autocheckpoint = {_WAL_AUTOCHECKPOINT_PAGES}")
    return in_wal


def _journal_mode(connection: sqlite3.Connection, assignment: str) -> str:
    """PRAGMA journal_mode (with assignment " = WAL", the switch), answered in lower case."""
    return connection.execute(f"PRAGMA journal_mode{assignment}").fetchone()[0].lower()
