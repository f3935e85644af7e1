"""Which Hive metastore a session uses, and the plumbing around Derby.

By default (offline_store.metastore: shared) the repo's Derby database under
data/metastore_db is reached through the per-user Derby network server of
featurestore/runtime/metastore_server.py, so any number of processes share it. `embedded`
opens it in-process, ONE process at a time, checked here before Spark starts
(check_metastore_free). offline_store.metastore_url (or FEATURESTORE_METASTORE_URL)
names another catalog: jdbc:postgresql:... (a team's, with PostgreSQL's JDBC jar) or
thrift://... (a Hive metastore service); a JDO URL in spark_conf works too. `make
metastore-up` still starts a Derby server at a fixed port (featurestore.runtime.derby), for
setups that want one. See docs/deployment.md.

`{metastore_dir}` in a URL stands for the repo's own metastore folder, so each repo keeps
its own catalog (and can go back to embedded mode with the same tables).

This module never imports pyspark.
"""
from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

from featurestore.errors import SparkSetupError
from featurestore.runtime.jars import DERBY_VERSION, POSTGRES_JDBC, derby_jar, postgres_jar  # noqa: F401 - named here

URL_KEY = "spark.hadoop.javax.jdo.option.ConnectionURL"
DRIVER_KEY = "spark.hadoop.javax.jdo.option.ConnectionDriverName"
ENV_URL = "FEATURESTORE_METASTORE_URL"
CLIENT_DRIVER = "org.apache.derby.jdbc.ClientDriver"


def embedded_url(metastore_dir: Path) -> str:
    return f"jdbc:derby:;databaseName={metastore_dir};create=true"


def is_network_derby(url: str) -> bool:
    return url.startswith("jdbc:derby://")


def is_embedded_derby(url: str) -> bool:
    return url.startswith("jdbc:derby:") and not is_network_derby(url)


MODE_ENV = "FEATURESTORE_METASTORE"  # shared | embedded: overrides offline_store.metastore
MODES = ("shared", "embedded")
URIS_KEY = "spark.hadoop.hive.metastore.uris"
POSTGRES_DRIVER = "org.postgresql.Driver"


def is_postgres(url: str) -> bool:
    return url.startswith("jdbc:postgresql:")


def connection_conf(conf: dict, metastore_dir: Path, mode: str = "shared", configured_url: str = "",
                    password_env: str = "", start: bool = True) -> dict[str, str]:
    """The metastore settings for a session.

    The URL is the first of FEATURESTORE_METASTORE_URL, offline_store.metastore_url, the
    JDO URL in conf (spark_conf over spark-defaults.conf); else, by mode
    (FEATURESTORE_METASTORE over offline_store.metastore), the per-user shared Derby server
    (featurestore.runtime.metastore_server; started unless start=False) or the embedded database.
    A thrift:// URL is a remote Hive metastore service; a jdbc:postgresql: URL a metastore
    database in PostgreSQL, whose tables DataNucleus creates on first use.
    """
    url = os.environ.get(ENV_URL) or configured_url or conf.get(URL_KEY)
    if not url:
        mode = os.environ.get(MODE_ENV) or mode
        if mode not in MODES:
            raise SparkSetupError(f"{MODE_ENV}={mode!r}: choose 'shared' (many processes, the default) or "
                                  f"'embedded' (one process at a time)")
        if mode == "embedded":
            url = embedded_url(metastore_dir)
        else:
            from featurestore.runtime import metastore_server

            url = metastore_server.ensure_server(metastore_dir=metastore_dir) if start else (metastore_server.current_url() or "")
    if url.startswith("thrift://"):
        return {URIS_KEY: url}
    settings = {URL_KEY: url.replace("{metastore_dir}", str(metastore_dir))}
    if is_network_derby(url) and DRIVER_KEY not in conf:
        settings[DRIVER_KEY] = CLIENT_DRIVER
    if is_postgres(url):
        settings.setdefault(DRIVER_KEY, conf.get(DRIVER_KEY, POSTGRES_DRIVER))
        # DataNucleus creates the metastore's tables on first use. Not their foreign keys: on
        # PostgreSQL, adding one (TBL_PRIVS -> TBLS) from DataNucleus' schema connection waits for
        # the lock the same Hive call's open transaction holds on TBLS, and the first CREATE
        # TABLE hangs forever (seen with Spark 4.0's Hive 2.3.10 client).
        settings["spark.hadoop.datanucleus.schema.autoCreateTables"] = "true"
        settings["spark.hadoop.datanucleus.schema.autoCreateColumns"] = "true"
        settings["spark.hadoop.datanucleus.schema.autoCreateConstraints"] = "false"
        settings["spark.hadoop.hive.metastore.schema.verification"] = "false"
        if password_env:
            if password_env not in os.environ:
                raise SparkSetupError(f"offline_store.metastore_password_env names {password_env}, which is not set; "
                                      f"export it with the metastore database's password")
            settings["spark.hadoop.javax.jdo.option.ConnectionPassword"] = os.environ[password_env]
    return settings


def embedded_database(url: str) -> Path:
    """The database folder of an embedded Derby URL (jdbc:derby:;databaseName=X;... or jdbc:derby:X;...)."""
    name = url[len("jdbc:derby:"):]
    parts = name.split(";")
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if key.strip() == "databaseName":
            return Path(value)
    return Path(parts[0])


def client_classpath(conf: dict) -> str | None:
    """The driver class-path entry a session needs for conf's metastore URL, if any."""
    url = conf.get(URL_KEY, "")
    if is_postgres(url):
        return str(postgres_jar())
    if not is_network_derby(url):
        return None
    return str(derby_jar("derbyclient"))


# --- is the embedded metastore free? -------------------------------------------------------

def lock_holder(path: Path) -> int | None:
    """The pid holding a write lock on `path` (Derby's dbex.lck), -1 when held by an unknown
    process, None when the file is not locked."""
    import fcntl

    with open(path, "rb") as file:
        if sys.platform.startswith("linux"):
            # struct flock: l_type, l_whence, l_start, l_len, l_pid (+ padding); F_GETLK asks
            # who would block a write lock without taking one.
            layout = "hhqqi4x"
            answer = fcntl.fcntl(file.fileno(), fcntl.F_GETLK, struct.pack(layout, fcntl.F_WRLCK, 0, 0, 0, 0))
            kind, _, _, _, pid = struct.unpack(layout, answer)
            if kind == fcntl.F_UNLCK:
                return None
            return pid if pid > 0 else (_proc_locks_holder(path) or -1)
    with open(path, "r+b") as file:  # elsewhere: try the lock itself, and give it back at once
        try:
            fcntl.lockf(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return -1
        fcntl.lockf(file.fileno(), fcntl.LOCK_UN)
        return None


def _proc_locks_holder(path: Path) -> int | None:
    """The pid /proc/locks gives for the file's inode (lines like `1: POSIX ADVISORY WRITE 4242 08:01:1234 0 EOF`)."""
    inode = os.stat(path).st_ino
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[5].rsplit(":", 1)[-1] == str(inode) and fields[4].isdigit():
            return int(fields[4]) or None
    return None


def _own_processes() -> set[int]:
    """This process, its JVM (a child pyspark started) and, under spark-submit, the parent JVM."""
    own = {os.getpid()}
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        own.add(os.getppid())
    return own


def _parent_of(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def describe_process(pid: int) -> str:
    """`pid 4242: python notebook.py ...` from /proc, or just `pid 4242`."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"pid {pid}"
    words = [a.decode(errors="replace") for a in args if a]
    if words and Path(words[0]).name == "java":  # a JVM: show its main class, not its class path
        parent = _parent_of(pid)
        main = next((w for w in words[1:] if not w.startswith("-") and ":" not in w and "/" not in w), "")
        owner = f" started by {describe_process(parent)}" if parent and parent > 1 else ""
        return f"pid {pid}: java {main}{owner}".rstrip()
    text = " ".join(" ".join(words).split())  # one line, even for `python -c "<several lines>"`
    return f"pid {pid}: {text[:100]}{'...' if len(text) > 100 else ''}"


def connect_server_port(pid: int) -> int | None:
    """The port of the Spark Connect server (featurestore.runtime.spark_server) running as `pid`, else None."""
    try:
        args = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    except OSError:
        return None
    if "org.apache.spark.sql.connect.service.SparkConnectServer" not in args:
        return None
    key = "spark.connect.grpc.binding.port="
    return next((int(a[len(key):]) for a in args if a.startswith(key) and a[len(key):].isdigit()), 15002)


def check_metastore_free(url: str) -> None:
    """Refuse at once, in one line, when another process holds the embedded Derby metastore.

    Derby would let Hive retry for about 30 s and then fail with pages of stack traces.
    Only embedded Derby URLs are checked; a metastore server admits many processes.
    """
    if not is_embedded_derby(url):
        return
    database = embedded_database(url)
    lock = database / "dbex.lck"
    if not lock.is_file():
        return
    try:
        holder = lock_holder(lock)
    except OSError:  # unreadable lock file: Derby itself will say what is wrong
        return
    if holder is None or holder in _own_processes() or (holder > 0 and _parent_of(holder) == os.getpid()):
        return
    who = f"pid {holder} ({describe_process(holder).split(': ', 1)[-1]})" if holder > 0 else "another process"
    port = connect_server_port(holder) if holder > 0 else None
    if port is not None:
        raise SparkSetupError(
            f"{database}: the embedded Derby metastore is held by a Spark Connect server ({who}); use it with "
            f"SPARK_REMOTE=sc://127.0.0.1:{port}, or stop it (`make spark-down`) to start Spark in this process")
    raise SparkSetupError(
        f"{database}: the embedded Derby metastore is held by {who} and admits one process at a time; stop that "
        f"Spark session (spark.stop(), or shut its notebook kernel down), or share the catalog: "
        f"offline_store.metastore: shared, the default (docs/deployment.md)")


def main(argv: list[str] | None = None) -> int:
    import argparse

    from featurestore.runtime.derby import HOST, PORT, start_server, stop_server

    parser = argparse.ArgumentParser(description="A Derby network server for metastores several processes share.")
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--state-dir", default=".metastore")
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            url = start_server(Path(args.state_dir), args.host, args.port)
            print(f"Derby network server on {args.host}:{args.port} (log in {args.state_dir}/derby-server.log). "
                  f"Use it with:\n  export {ENV_URL}='{url}'")
        else:
            print("Stopped the Derby network server." if stop_server(Path(args.state_dir))
                  else f"No Derby network server was running (no pid file in {args.state_dir}).")
    except SparkSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
