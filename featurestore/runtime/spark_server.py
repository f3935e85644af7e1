"""A Spark Connect server for one feature repo, so that commands need not start a JVM each.

    make spark-up REPO=driver_repo         # or: python -m featurestore.runtime.spark_server up --repo driver_repo
    export SPARK_REMOTE=sc://127.0.0.1:15002
    featurestore plan                      # about 1 s instead of about 7 s
    make spark-down

The server is Spark's own (`spark-submit --class ...SparkConnectServer`, what Spark's
start-connect-server.sh runs) with exactly the settings a local session of the repo
gets (featurestore.runtime.session.session_conf: spark-defaults.conf, offline_store.spark_conf,
Hive with the repo's warehouse and metastore, Delta, UTC, the Delta jars), master
local[2], listening on 127.0.0.1 only: Spark Connect has no authentication, so it is
never bound to other interfaces. It runs in the repo's folder, so a relative path in a
query resolves as it does for `featurestore plan` run there. Warehouse and metastore are
fixed when a JVM starts, so one server serves one repo; a client checks that the server
it reaches uses its repo's warehouse and metastore (featurestore.runtime.session.check_server_serves).

With the default shared catalog, processes that start their own Spark on that repo (a job
without SPARK_REMOTE, `make materialize`) work beside it; the server holds a lease on the
shared Derby server while it lives. With `metastore: embedded` it holds the catalog, and
such a process is refused with one line until `make spark-down` (docs/deployment.md).
The pid, port and repo are kept in STATE_DIR/spark-connect-PORT.pid
and Spark's output in STATE_DIR/spark-connect-PORT.log.

Starting it pays the cold costs once (JVM, Hive metastore, Delta): `up` returns after a
warm-up query through the server itself, so the first command is as fast as the next.

This module imports pyspark only to find spark-submit and for the warm-up client.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from featurestore.errors import SparkSetupError
from featurestore.runtime import metastore
from featurestore.runtime.processes import launch, listening, stop_launched

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
HOST = "127.0.0.1"
MASTER = "local[2]"


def pid_file(state_dir: Path, port: int) -> Path:
    return Path(state_dir) / f"spark-connect-{port}.pid"


def log_file(state_dir: Path, port: int) -> Path:
    return Path(state_dir) / f"spark-connect-{port}.log"


def server_command(config, host: str = HOST, port: int | None = None, master: str = MASTER,
                   settings: dict | None = None) -> list[str]:
    """The spark-submit command line of a Spark Connect server with the repo's session settings
    (and `settings` of the server's own)."""
    import pyspark

    from featurestore.runtime.session import CONNECT_PORT, session_conf

    conf = session_conf(config, master=master, overrides={
        "spark.app.name": f"featurestore Spark Connect server ({config.project})",
        "spark.connect.grpc.binding.address": host,
        "spark.connect.grpc.binding.port": str(port or CONNECT_PORT),
        **(settings or {}),
    })
    spark_home = Path(pyspark.__file__).resolve().parent
    command = [str(spark_home / "bin" / "spark-submit"), "--class", SERVER_CLASS]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    return command


def server_env() -> dict[str, str]:
    """The server's environment: what a local session sets (featurestore.runtime.session.get_spark)."""
    import pyspark

    return dict(os.environ, SPARK_HOME=str(Path(pyspark.__file__).resolve().parent), TZ="UTC",
                SPARK_LOCAL_IP=os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"), PYSPARK_PYTHON=sys.executable)


def start_server(repo_path: str | Path, state_dir: str | Path, host: str = HOST, port: int | None = None,
                 master: str = MASTER, timeout: float = 180.0) -> str:
    """Start a Spark Connect server for the repo and warm it up; returns its sc:// URL."""
    from featurestore.config import load_config
    from featurestore.runtime.session import CONNECT_PORT

    port = port or CONNECT_PORT
    config = load_config(repo_path)
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    pids, log = pid_file(state_dir, port), log_file(state_dir, port)
    if listening(host, port):
        raise SparkSetupError(f"{host}:{port} is already in use (a Spark Connect server may run: pid file {pids}); "
                              f"stop it with `make spark-down`, or choose another port (SPARK_CONNECT_PORT=)")
    command = server_command(config, host, port, master)
    url_key = next((c.split("=", 1)[1] for c in command if c.startswith(f"{metastore.URL_KEY}=")), "")
    metastore.check_metastore_free(url_key)
    config.warehouse_dir.mkdir(parents=True, exist_ok=True)
    config.metastore_dir.parent.mkdir(parents=True, exist_ok=True)
    process = launch(command, log, pids, f"{host} {port} {config.repo_path}", cwd=config.repo_path, env=server_env())
    if metastore.is_network_derby(url_key):  # the shared catalog server stays while this server lives
        from featurestore.runtime import metastore_server

        metastore_server.add_lease(metastore_server.state_dir(), process.pid)
    url = f"sc://{host}:{port}"
    deadline = time.monotonic() + timeout
    while not listening(host, port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_server(state_dir, port)
            lines = log.read_text(errors="replace").strip().splitlines()
            last = next((line for line in reversed(lines) if "Exception" in line or "Error" in line),
                        lines[-1] if lines else "no output")
            why = "exited" if process.returncode is not None else f"did not listen within {timeout:g} s"
            raise SparkSetupError(f"the Spark Connect server {why}: {last.strip()[:300]}; see {log}")
        time.sleep(0.3)
    warm_up(url)
    return url


def warm_up(url: str) -> None:
    """One catalog call and one query through the server: the Hive metastore client, Delta's
    classes and query execution are initialized once here instead of in the first command."""
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(url).getOrCreate()
    try:
        tables = session.sql("SHOW TABLES").collect()
        if tables:
            session.table(f"`{tables[0]['tableName']}`").schema  # noqa: B018 - reads a table's metadata
        session.range(1).collect()
    finally:
        session.stop()  # ends this client's session only; the server keeps running


def stop_server(state_dir: str | Path, port: int | None = None, timeout: float = 30.0) -> bool:
    """Stop the server started by start_server on `port`; False when none was running.

    SIGTERM lets Spark stop cleanly (and release the metastore); SIGKILL after `timeout`.
    Returns once the process has exited, so a local session may take the metastore at once.
    """
    from featurestore.runtime.session import CONNECT_PORT

    return stop_launched(pid_file(state_dir, port or CONNECT_PORT), timeout)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from featurestore.errors import FeatureStoreError
    from featurestore.runtime.session import CONNECT_PORT

    parser = argparse.ArgumentParser(description="A Spark Connect server for one feature repo.")
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--repo", default=".", help="the feature repo whose warehouse and metastore it serves")
    parser.add_argument("--state-dir", default=".spark-connect", help="where the pid and log files go")
    parser.add_argument("--port", type=int, default=CONNECT_PORT)
    parser.add_argument("--master", default=MASTER)
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            started = time.monotonic()
            url = start_server(args.repo, Path(args.state_dir), port=args.port, master=args.master)
            print(f"Spark Connect server for {Path(args.repo).resolve()} at {url} ({args.master}, ready in "
                  f"{time.monotonic() - started:.1f} s; log in {log_file(Path(args.state_dir), args.port)}). "
                  f"Use it with:\n  export SPARK_REMOTE={url}")
        else:
            print("Stopped the Spark Connect server." if stop_server(Path(args.state_dir), args.port)
                  else f"No Spark Connect server was running on port {args.port} (no pid file in "
                       f"{args.state_dir}).")
    except FeatureStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
