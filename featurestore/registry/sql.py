"""A registry in a SQL database (SQLite or PostgreSQL) that keeps every version.

    registry:
      registry_type: sql
      path: postgresql://featurestore@127.0.0.1:5432/features   # or sqlite:///data/registry.sqlite

One table, `featurestore_registry`, one row per version of a project's registry:

    project       TEXT     the project (several projects can share one database)
    version       BIGINT   1, 2, 3, ...; (project, version) is the primary key
    committed_at  TEXT     ISO-8601 UTC time of the write
    username      TEXT     who wrote it (the OS user), hostname TEXT: on which machine
    command       TEXT     what wrote it: apply, materialize, migrate, ...
    summary       TEXT     the change as `featurestore plan` renders it
    registry      BLOB     the serialized Registry message, the same bytes a registry.db holds

Every write also makes Feast's SQL registry tables (entities, feature_views, ...) hold the new
version, in the same transaction (featurestore/registry/feast_sql.py), so Feast's SDK pointed
at the same database reads the project too.

The newest row is the registry. A write is optimistic: read the newest version N, apply
the change to it, insert N + 1. When another process inserted N + 1 first, the primary
key refuses the insert, and the change is applied again to the new newest version (an
`apply` fails in one line instead when that version changed an object it changes too;
featurestore.apply). Nothing is locked while Spark validates, and a process killed at any
point leaves the registry at the old or the new version: one INSERT is one transaction.

Readers need no JVM: SQLite is Python's own sqlite3, PostgreSQL is psycopg
(`pip install 'featurestore[postgres]'`). load() asks for the newest version number
first and parses the message only when it changed (or, with registry.cache_ttl_seconds,
at most once per that many seconds).
"""
from __future__ import annotations

import getpass
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from featurestore.errors import NotFoundError, RegistryError
from featurestore.registry import feast_sql
from featurestore.registry.state import RegistryState, copy_state, parse_registry, stamp_write

TABLE = "featurestore_registry"
SCHEMES = ("sqlite", "postgresql", "postgres")
MAX_ATTEMPTS = 200  # optimistic retries of one write before giving up (each is one short round trip)
_DRIVER_SUFFIX = re.compile(r"^(postgresql|postgres|sqlite)\+[A-Za-z0-9_]+://")  # SQLAlchemy's postgresql+psycopg://


@dataclass(frozen=True)
class RegistryVersion:
    """One entry of a SQL registry's history."""
    version: int
    committed_at: datetime
    user: str
    host: str
    command: str
    summary: str


def normalize_url(url: str) -> str:
    """`postgresql+psycopg://...` (SQLAlchemy's spelling, which Feast users have) as `postgresql://...`."""
    match = _DRIVER_SUFFIX.match(url)
    return f"{match.group(1)}://{url[match.end():]}" if match else url


def redact(url: str) -> str:
    """The URL with its password (if any) replaced by ***: safe for messages and logs."""
    return re.sub(r"^([A-Za-z+]+://[^:/@]*):[^@/]*@", r"\1:***@", url)


def sqlite_path(url: str, repo_path: Path | None) -> Path:
    """The file of sqlite:///relative/to/repo.sqlite or sqlite:////absolute/path.sqlite."""
    rest = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
    if not rest:
        raise RegistryError(f"registry path {url!r} names no file; use sqlite:///data/registry.sqlite (relative "
                            f"to the repo) or sqlite:////absolute/path.sqlite")
    path = Path(rest).expanduser()
    return path if path.is_absolute() else (Path(repo_path or ".") / path).resolve()


def writer_identity() -> tuple[str, str]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = f"uid {os.getuid()}"
    return user, socket.gethostname()


class _Sqlite:
    placeholder = "?"
    blob = "BLOB"

    def __init__(self, path: Path):
        self.path = path

    def connect(self):
        import sqlite3

        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():  # owner-only, as every file featurestore creates that holds data
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        from featurestore.sqlite_retry import retry_while_busy

        connection = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        retry_while_busy(lambda: connection.execute("PRAGMA journal_mode=WAL"), timeout_seconds=60)
        return connection

    def is_duplicate(self, error: Exception) -> bool:
        import sqlite3

        return isinstance(error, sqlite3.IntegrityError)

    def errors(self) -> tuple:
        import sqlite3

        return (sqlite3.Error,)

    def create_table(self, connection, statement: str) -> None:
        connection.execute(statement)  # SQLite's write lock already serializes two creators

    @contextmanager
    def transaction(self, connection) -> Iterator[None]:
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


class _Postgres:
    placeholder = "%s"
    blob = "BYTEA"

    def __init__(self, url: str):
        self.url = url

    def _psycopg(self):
        try:
            import psycopg
        except ImportError:
            raise RegistryError("a postgresql:// registry needs psycopg: pip install 'featurestore[postgres]'"
                                ) from None
        return psycopg

    def connect(self):
        psycopg = self._psycopg()
        timeout = {} if "connect_timeout" in self.url else {"connect_timeout": 10}
        return psycopg.connect(self.url, autocommit=True, **timeout)

    def is_duplicate(self, error: Exception) -> bool:
        return type(error).__name__ == "UniqueViolation"

    def errors(self) -> tuple:
        return (self._psycopg().Error,)

    def create_table(self, connection, statement: str) -> None:
        """CREATE TABLE IF NOT EXISTS under a lock: two processes creating it at once otherwise both insert
        the table's row type and one fails with 'type ... already exists' (PostgreSQL does not serialize them)."""
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (statement,))
            connection.execute(statement)

    @contextmanager
    def transaction(self, connection) -> Iterator[None]:
        with connection.transaction():
            yield


class SqlRegistry:
    """A project's registry in a SQL database: load, optimistic update, history, delete."""

    keeps_history = True

    def __init__(self, url: str, project: str, repo_path: Path | None = None, cache_ttl_seconds: float = 0):
        self.url = normalize_url(url)
        self.project = project
        self.cache_ttl_seconds = cache_ttl_seconds
        scheme = self.url.split("://", 1)[0]
        if scheme == "sqlite":
            self.path = sqlite_path(self.url, repo_path)
            self._backend = _Sqlite(self.path)
            self.location = f"sqlite:///{self.path}"
        elif scheme in ("postgresql", "postgres"):
            self.path = None
            self._backend = _Postgres(self.url)
            self.location = redact(self.url)
        else:
            raise RegistryError(f"registry path {redact(url)!r}: a SQL registry is a sqlite:/// or postgresql:// URL")
        self._local = threading.local()
        self._cached: tuple[float, RegistryState, tuple] | None = None  # (when, state, (version, committed_at))

    # --- connections ---------------------------------------------------------------------
    def _connection(self):
        """This thread's connection (a new one after a fork), with the table created."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid() or local.connection is None:
            try:
                local.connection = self._backend.connect()
            except RegistryError:
                raise
            except Exception as error:
                raise self._unreachable(error) from None
            local.pid = os.getpid()
            self._create_table(local.connection)
        return local.connection

    def _unreachable(self, error: Exception) -> RegistryError:
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        return RegistryError(f"registry {self.location} cannot be reached: {redact(reason)}; check that the database "
                             f"server runs and registry.path in feature_store.yaml")

    def _create_table(self, connection) -> None:
        statement = (f"CREATE TABLE IF NOT EXISTS {TABLE} (project TEXT NOT NULL, version BIGINT NOT NULL, "
                     f"committed_at TEXT NOT NULL, username TEXT NOT NULL, hostname TEXT NOT NULL, "
                     f"command TEXT NOT NULL, summary TEXT NOT NULL, registry {self._backend.blob} NOT NULL, "
                     f"PRIMARY KEY (project, version))")
        try:
            self._backend.create_table(connection, statement)
            feast_sql.create_tables(lambda sql: self._backend.create_table(connection, sql), self._backend.blob)
        except self._backend.errors() as error:
            raise self._unreachable(error) from None

    @contextmanager
    def _transaction(self) -> Iterator[Callable[[str, tuple], list]]:
        """One transaction on this thread's connection, as a query function (`?` placeholders)."""
        connection, backend = self._connection(), self._backend

        def query(sql: str, args: tuple = ()) -> list:
            cursor = connection.execute(sql.replace("?", backend.placeholder), args)
            return cursor.fetchall() if cursor.description is not None else []
        try:
            with backend.transaction(connection):
                yield query
        except backend.errors() as error:
            if backend.is_duplicate(error):
                raise
            self._local.connection = None  # reconnect on the next call
            raise self._unreachable(error) from None

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        sql = sql.replace("?", self._backend.placeholder)
        for attempt in (1, 2):
            connection = self._connection()
            try:
                cursor = connection.execute(sql, args)
                return cursor.fetchall() if cursor.description is not None else []
            except self._backend.errors() as error:
                if self._backend.is_duplicate(error):
                    raise
                self._local.connection = None  # a dropped connection: reconnect once
                if attempt == 2:
                    raise self._unreachable(error) from None
        return []

    # --- reading ---------------------------------------------------------------------------
    def exists(self) -> bool:
        return self._head_version() > 0

    def _head_version(self) -> int:
        rows = self._query(f"SELECT MAX(version) FROM {TABLE} WHERE project = ?", (self.project,))
        return int(rows[0][0] or 0)

    def load(self) -> RegistryState:
        """The newest version (an empty registry when there is none). Treat it as read-only."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self.cache_ttl_seconds:
            return self._cached[1]
        rows = self._query(f"SELECT version, committed_at FROM {TABLE} WHERE project = ? ORDER BY version DESC "
                           f"LIMIT 1", (self.project,))
        head = rows[0] if rows else (0, "")
        # keyed by the version's number and commit time: after teardown and a new apply, version
        # 1 is another registry (registry_id), and a cache keyed by the number alone served the old
        if self._cached is not None and self._cached[2] == head:
            self._cached = (now, self._cached[1], head)
            return self._cached[1]
        state = self.load_version(int(head[0])) if head[0] else RegistryState(project=self.project)
        self._cached = (now, state, head)
        return state

    def load_bytes(self, version: int | None = None) -> bytes | None:
        """The stored message of `version` (default: the newest), None when there is none."""
        version = self._head_version() if version is None else version
        rows = self._query(f"SELECT registry FROM {TABLE} WHERE project = ? AND version = ?", (self.project, version))
        return bytes(rows[0][0]) if rows else None

    def load_version(self, version: int) -> RegistryState:
        """The registry as it was at `version` (NotFoundError naming the versions there are)."""
        data = self.load_bytes(version)
        if data is None:
            head = self._head_version()
            have = f"versions 1 to {head}" if head else "no version yet (run `featurestore apply`)"
            raise NotFoundError(f"registry {self.location} has no version {version} of project {self.project!r}; "
                                f"it has {have} (`featurestore registry history` lists them)")
        return parse_registry(data, f"{self.location} version {version}", self.project)

    def history(self, limit: int | None = None) -> list[RegistryVersion]:
        """The versions, newest first."""
        sql = (f"SELECT version, committed_at, username, hostname, command, summary FROM {TABLE} "
               f"WHERE project = ? ORDER BY version DESC")
        rows = self._query(sql + (f" LIMIT {int(limit)}" if limit else ""), (self.project,))
        return [RegistryVersion(int(v), datetime.fromisoformat(at), user, host, command, summary)
                for v, at, user, host, command, summary in rows]

    # --- writing ---------------------------------------------------------------------------
    def update(self, mutate: Callable[[RegistryState], None], command: str = "", summary: str = "") -> RegistryState:
        """Apply `mutate` to the newest version and insert the result as the next one.

        When another writer got that version number first, `mutate` runs again on the new
        newest version, so it must only change what it means to change (as apply's diff and
        materialization's interval do). `mutate` may raise to abort: nothing is written.
        """
        user, host = writer_identity()
        for attempt in range(MAX_ATTEMPTS):
            head = self._head_version()
            base = self.load_version(head) if head else RegistryState(project=self.project)
            state = copy_state(base)
            mutate(state)
            stamp_write(state, head + 1)
            try:
                self.insert(state.to_bytes(), state.version, state.last_updated, user, host,
                            command, summary)
            except Exception as error:
                if not self._backend.is_duplicate(error):
                    raise
                time.sleep(random.uniform(0, 0.005 * min(attempt + 1, 20)))  # another writer won: try again
                continue
            self._cached = None
            return state
        raise RegistryError(f"registry {self.location}: {MAX_ATTEMPTS} writes in a row lost to other writers; "
                            f"try again")

    def insert(self, data: bytes, version: int, committed_at: datetime, user: str, host: str, command: str,
               summary: str) -> None:
        """Insert one version as it is (the primary key refuses a version that exists), and in the same
        transaction make Feast's SQL registry tables hold it (featurestore.registry.feast_sql)."""
        with self._transaction() as query:
            query(f"INSERT INTO {TABLE} (project, version, committed_at, username, hostname, command, summary, "
                  f"registry) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                  (self.project, version, committed_at.astimezone(UTC).isoformat(), user, host, command, summary,
                   data))
            feast_sql.mirror(query, self.project, version, data)

    def delete(self) -> None:
        """Remove every version of the project, and its rows of Feast's tables (teardown)."""
        with self._transaction() as query:
            query(f"DELETE FROM {TABLE} WHERE project = ?", (self.project,))
            feast_sql.forget(query, self.project)
        self._cached = None
