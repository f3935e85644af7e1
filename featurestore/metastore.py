"""Which Hive metastore a session uses, and the plumbing around Derby.

By default (offline_store.metastore: shared) the repo's Derby database under
data/metastore_db is reached through the per-user Derby network server of
featurestore/metastore_server.py, so any number of processes share it. `embedded`
opens it in-process, ONE process at a time, checked here before Spark starts
(check_metastore_free). offline_store.metastore_url (or FEATURESTORE_METASTORE_URL)
names another catalog: jdbc:postgresql:... (a team's, with PostgreSQL's JDBC jar) or
thrift://... (a Hive metastore service); a JDO URL in spark_conf works too. `make
metastore-up` still starts a Derby server at a fixed port (start_server), for setups
that want one. See docs/deployment.md.

`{metastore_dir}` in a URL stands for the repo's own metastore folder, so each repo keeps
its own catalog (and can go back to embedded mode with the same tables).

This module never imports pyspark.
"""
from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from featurestore.errors import SparkSetupError

URL_KEY = "spark.hadoop.javax.jdo.option.ConnectionURL"
DRIVER_KEY = "spark.hadoop.javax.jdo.option.ConnectionDriverName"
ENV_URL = "FEATURESTORE_METASTORE_URL"
DERBY_VERSION = "10.16.1.1"  # pyspark 4.0.1's bundled derby; derbynet/derbyclient must match it
CLIENT_DRIVER = "org.apache.derby.jdbc.ClientDriver"
HOST, PORT = "127.0.0.1", 1527


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
POSTGRES_JDBC = "org.postgresql:postgresql:42.7.14"


def is_postgres(url: str) -> bool:
    return url.startswith("jdbc:postgresql:")


def connection_conf(conf: dict, metastore_dir: Path, mode: str = "shared", configured_url: str = "",
                    password_env: str = "", start: bool = True) -> dict[str, str]:
    """The metastore settings for a session.

    The URL is the first of FEATURESTORE_METASTORE_URL, offline_store.metastore_url, the
    JDO URL in conf (spark_conf over spark-defaults.conf); else, by mode
    (FEATURESTORE_METASTORE over offline_store.metastore), the per-user shared Derby server
    (featurestore.metastore_server; started unless start=False) or the embedded database.
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
            from featurestore import metastore_server

            url = metastore_server.ensure_server() if start else (metastore_server.current_url() or "")
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


def _jar_folders(subfolder: str) -> list[Path]:
    """Where a metastore jar is looked for: FEATURESTORE_JARS_DIR (and its `subfolder`), the
    checkout's jars/<subfolder> (`make setup`), the per-user cache's <subfolder>."""
    from featurestore.spark import checkout_root, jar_cache_dir

    folders = []
    if os.environ.get("FEATURESTORE_JARS_DIR"):
        given = Path(os.environ["FEATURESTORE_JARS_DIR"])
        folders += [given, given / subfolder]
    if checkout_root() is not None:
        folders.append(checkout_root() / "jars" / subfolder)
    return [*folders, jar_cache_dir() / subfolder]


def _find_jar(coordinate: str, subfolder: str) -> Path | None:
    _, artifact, version = coordinate.split(":")
    for folder in _jar_folders(subfolder):
        if (folder / f"{artifact}-{version}.jar").is_file():
            return folder / f"{artifact}-{version}.jar"
    return None


def _jar(coordinate: str, subfolder: str, what: str, fetch: bool = True) -> Path | None:
    """The jar of `coordinate` from a jars folder (see _jar_folders), else (fetch=True) fetched
    once into the per-user cache with Spark's package resolution, as the Delta jars are."""
    jar = _find_jar(coordinate, subfolder)
    if jar is not None or not fetch:
        return jar
    from featurestore.spark import fetch_jars, jar_cache_dir

    return fetch_jars([coordinate], jar_cache_dir() / subfolder, what=what)[0]


def derby_jar(artifact: str) -> Path:
    """derbynet or derbyclient, found or fetched once (see _jar)."""
    return _jar(f"org.apache.derby:{artifact}:{DERBY_VERSION}", "derby", "Derby jars")


def client_jar() -> Path | None:
    """derbyclient.jar, which a session needs on its driver class path to reach a Derby server."""
    return _find_jar(f"org.apache.derby:derbyclient:{DERBY_VERSION}", "derby")


def client_classpath(conf: dict) -> str | None:
    """The driver class-path entry a session needs for conf's metastore URL, if any."""
    url = conf.get(URL_KEY, "")
    if is_postgres(url):
        return str(postgres_jar())
    if not is_network_derby(url):
        return None
    return str(derby_jar("derbyclient"))


def postgres_jar(fetch: bool = True) -> Path | None:
    """PostgreSQL's JDBC driver, found (the checkout's jars/postgres after `make setup`) or
    fetched once (see _jar)."""
    return _jar(POSTGRES_JDBC, "postgres", "PostgreSQL's JDBC driver", fetch)


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
    """The port of the Spark Connect server (featurestore.spark_server) running as `pid`, else None."""
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


# --- a Derby network server ------------------------------------------------------------------

def server_classpath() -> list[Path]:
    """derby, derbyshared, derbytools from pyspark's jars plus derbynet (fetched by `make setup`)."""
    import pyspark

    bundled = Path(pyspark.__file__).resolve().parent / "jars"
    jars = [bundled / f"{name}-{DERBY_VERSION}.jar" for name in ("derby", "derbyshared", "derbytools")]
    for jar in jars:
        if not jar.is_file():
            raise SparkSetupError(f"{jar} not found: pyspark's bundled Derby is not version {DERBY_VERSION}; "
                                  f"update featurestore.metastore.DERBY_VERSION and the Makefile to match it")
    return [*jars, derby_jar("derbynet")]


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


def server_command(state_dir: Path, host: str, port: int, java_options: tuple[str, ...] = ()) -> list[str]:
    """The command line of a Derby network server on host:port with its home in state_dir."""
    classpath = os.pathsep.join(str(j) for j in server_classpath())
    return [_java(), *java_options, "-cp", classpath, f"-Dderby.system.home={state_dir}",
            "org.apache.derby.drda.NetworkServerControl", "start", "-h", host, "-p", str(port), "-noSecurityManager"]


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def server_url(host: str = HOST, port: int = PORT) -> str:
    return f"jdbc:derby://{host}:{port}/{{metastore_dir}};create=true"


def start_server(state_dir: Path, host: str = HOST, port: int = PORT, timeout: float = 30.0) -> str:
    """Start a Derby network server (logs and pid in state_dir); returns the URL to use."""
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    pid_file = state_dir / "derby.pid"
    if listening(host, port):
        raise SparkSetupError(f"{host}:{port} is already in use (a metastore server may run: pid file {pid_file}); "
                              f"stop it with `make metastore-down`, or choose another port")
    command = server_command(state_dir, host, port)
    with open(state_dir / "derby-server.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    pid_file.write_text(f"{process.pid} {host} {port}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(host, port):
            return server_url(host, port)
        if process.poll() is not None:
            break
        time.sleep(0.3)
    stop_server(state_dir)
    tail = (state_dir / "derby-server.log").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
    raise SparkSetupError(f"the Derby network server did not start on {host}:{port} within {timeout:g} s: {tail[0]}; "
                          f"see {state_dir / 'derby-server.log'}")


def stop_server(state_dir: Path, timeout: float = 15.0) -> bool:
    """Stop the server started by start_server; False when none was running."""
    pid_file = Path(state_dir) / "derby.pid"
    if not pid_file.is_file():
        return False
    pid, host, port = pid_file.read_text().split()
    try:
        os.killpg(int(pid), signal.SIGTERM)  # Derby shuts its databases down cleanly on SIGTERM
    except ProcessLookupError:
        pid_file.unlink()
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and listening(host, int(port)):
        time.sleep(0.2)
    pid_file.unlink()
    return True


def main(argv: list[str] | None = None) -> int:
    import argparse

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
