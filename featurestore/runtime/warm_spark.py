"""The warm Spark: one Spark Connect server per feature repo, started by the first command that
needs Spark, shared by every process of the user on that repo, stopped once idle.

A JVM with the Hive catalog and Delta takes 5 to 15 s to start; the work of an everyday
command (materialize ten rows, a small training set, a profile) takes about one. So, by
default (offline_store.warm_spark: cli), the CLI's Spark commands run on a Spark Connect
server (featurestore.runtime.spark_server.server_command: Spark's own server with exactly a
local session's settings for the repo) kept running between commands:

1. a command about to start Spark takes STATE_DIR/lock, leaves a lease (a file named by its
   pid in STATE_DIR/leases/) and reads STATE_DIR/server (`pid port`). When that server
   answers, it connects (featurestore.runtime.session.remote_session, which checks that it
   serves this repo's warehouse and catalog). Else it starts one, still holding the lock so
   that two commands never start two: a supervisor (featurestore.runtime.warm_spark_server,
   detached) launches the server, waits until it listens, warms it up (the catalog
   and Delta initialized, one query run) and only then writes STATE_DIR/server;
2. the supervisor checks the leases every 2 s under the same lock. While the pid of some
   lease is alive (a command running, a notebook holding its session), the server stays;
   once none has been for offline_store.warm_spark_idle_seconds (default 900;
   FEATURESTORE_WARM_SPARK_IDLE_SECONDS wins), it forgets the server file and stops Spark,
   under the lock. A server that dies (killed, out of memory) is forgotten the same way:
   the next command starts a new one.

STATE_DIR is ~/.cache/featurestore/warm-spark/<settings_key> (owner-only): one server per
repo and settings, because a JVM's warehouse, catalog and settings are fixed when it
starts. What one holds: a JVM of spark-defaults.conf's spark.driver.memory (4g at most;
about 1 GB resident after some work) running the master of spark-defaults.conf, one free
loopback port (Spark Connect has no authentication, so it is never bound elsewhere), the
repo's lease on the shared catalog server, and its log in STATE_DIR/spark.log.

Which processes use it: the `featurestore` CLI's commands (`cli`, the default); with
`always`, also the Python API (FeatureStore, get_spark) of a process that has no session of
its own. Never: spark-submit jobs and a process that already runs Spark (they use theirs),
`featurestore stream` (a long-running query keeps its own JVM), SPARK_REMOTE or
offline_store.spark_remote (the named server wins), and the embedded catalog (one process
at a time: the server would lock every other one out). Turn it off with
`offline_store.warm_spark: off`, or FEATURESTORE_WARM_SPARK=off for one shell; stop it now
with `featurestore spark stop` (`featurestore spark status` says whether one runs). This
module is the client's side; it never imports pyspark.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from featurestore.errors import SparkSetupError
from featurestore.runtime.leases import add_lease, locked
from featurestore.runtime.processes import alive, free_port, listening, terminate_and_wait

HOST = "127.0.0.1"
MODE_ENV = "FEATURESTORE_WARM_SPARK"  # cli | always | off: wins over offline_store.warm_spark
IDLE_ENV = "FEATURESTORE_WARM_SPARK_IDLE_SECONDS"
DIR_ENV = "FEATURESTORE_WARM_SPARK_DIR"  # the folder holding every repo's STATE_DIR (tests)
START_TIMEOUT_SECONDS = 180
HOLDER = "the repo's warm Spark"


def mode(config) -> str:
    return os.environ.get(MODE_ENV) or (config.offline_store.warm_spark if config is not None else "off")


def wanted(config, from_cli: bool) -> bool:
    """Whether this process should use the repo's warm Spark rather than start its own."""
    from featurestore.runtime import metastore

    chosen = mode(config)
    if config is None or chosen == "off" or (chosen == "cli" and not from_cli):
        return False
    named_catalog = os.environ.get(metastore.ENV_URL) or config.offline_store.metastore_url or \
        metastore.URL_KEY in config.offline_store.spark_conf
    embedded = (os.environ.get(metastore.MODE_ENV) or config.offline_store.metastore) == "embedded"
    return not (embedded and not named_catalog)


def state_dir(config) -> Path:
    """The folder of the server for this repo as it is configured now (see settings_key)."""
    base = os.environ.get(DIR_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / \
        "featurestore" / "warm-spark"
    return Path(base) / settings_key(config)


def settings_key(config) -> str:
    """16 hex digits naming the repo and everything its session's settings come from:
    feature_store.yaml, spark-defaults.conf, the environment variables that override them,
    and the id of the repo's own catalog (runtime.replaced_catalogs: a repo deleted and made
    again at the same path has a new one). A change to any of them names another server,
    started on next use, while the old one serves the commands that hold it until it idles
    out: no command ever runs on a Spark set up for what the repo no longer is."""
    from featurestore.runtime import metastore
    from featurestore.runtime.jars import spark_conf_file
    from featurestore.runtime.replaced_catalogs import catalog_identity

    defaults = spark_conf_file("spark-defaults.conf")
    named_catalog = os.environ.get(metastore.ENV_URL) or config.offline_store.metastore_url
    parts = [str(Path(config.repo_path).resolve()), (Path(config.repo_path) / "feature_store.yaml").read_text(),
             str(defaults), defaults.read_text() if defaults.is_file() else "",
             *(os.environ.get(name, "") for name in (metastore.ENV_URL, metastore.MODE_ENV)),
             "" if named_catalog else catalog_identity(config.metastore_dir)]
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:16]


def running_server(folder: Path) -> tuple[int, int, str] | None:
    """(supervisor pid, port, shared session id) of the repo's server, if its file names a live
    one that listens."""
    try:
        words = (folder / "server").read_text().split()
        pid, port, session = int(words[0]), int(words[1]), words[2]
    except (OSError, ValueError, IndexError):
        return None
    return (pid, port, session) if alive(pid) and listening(HOST, port) else None


def ensure(config, on_start=None) -> tuple[str, str]:
    """(URL of the server's shared session, URL of a session of one's own) of the repo's warm
    Spark, started (and waited for) if none runs; this process is leased, so the server stays
    while it lives. on_start(line) is told before a start.

    The CLI's commands share one session on the server (its id in the server file): a
    session's first queries pay for its catalog and planner state, about 0.5 s of a small
    materialization. featurestore's commands set no session state (no settings, no temporary
    views) and never stop it; the Python API gets sessions of its own, which user code may
    change or stop."""
    folder = state_dir(config)
    with locked(folder, timeout=START_TIMEOUT_SECONDS + 30, holder=HOLDER):
        add_lease(folder, os.getpid())
        found = running_server(folder)
        if found is None:
            if on_start is not None:
                on_start("starting the repo's warm Spark (a Spark Connect server kept for the next commands; "
                         "offline_store.warm_spark: off turns it off): 10 to 20 s, once")
            _start(folder, config)
            found = running_server(folder)
        own = f"sc://{HOST}:{found[1]}"
        return f"{own}/;session_id={found[2]}", own


def _start(folder: Path, config) -> None:
    from featurestore.runtime.jars import session_jars

    session_jars()  # found (or fetched) here, so that a failure is this command's one line, not the server's log
    port = free_port()
    log = folder / "server.log"
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "featurestore.runtime.warm_spark_server", "serve", "--repo",
                                    str(config.repo_path), "--port", str(port), "--state-dir", str(folder)],
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=config.repo_path)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if running_server(folder) is not None:
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    lines = log.read_text(errors="replace").strip().splitlines()
    why = "exited" if process.poll() is not None else f"did not start within {START_TIMEOUT_SECONDS} s"
    raise SparkSetupError(f"the repo's warm Spark {why}: {(lines or ['no output'])[-1].strip()[:300]}; see {log}, "
                          f"or set offline_store.warm_spark: off to start Spark in each process")


def stop(config) -> bool:
    """Stop the repo's warm Spark now; False if none ran. Returns once it has exited."""
    found = running_server(state_dir(config))
    if found is None:
        return False
    terminate_and_wait(found[0], 60)
    return True
