"""The default catalog: one Derby network server per user, started by the first process that
needs it and stopped when no process has used it for a while.

Embedded Derby admits one process at a time, so a notebook kept open would lock every
command and job out of its repo. Instead, by default (offline_store.metastore: shared),
every process reaches its repo's catalog (the same database files, data/metastore_db)
through a Derby network server on 127.0.0.1 that serves all of a user's repos:

1. a process about to start Spark takes STATE_DIR/lock, leaves a lease (a file named by
   its pid in STATE_DIR/leases/) and reads STATE_DIR/server (`pid port`). When that server
   answers, it uses it; else it starts one (`python -m featurestore.runtime.metastore_server
   serve`, detached) and waits until it listens (about 1 s; the JVM of Spark starts after);
2. the server's supervisor checks the leases every 2 s under the same lock. While the
   pid of some lease is alive, the server stays; once none has been for
   FEATURESTORE_METASTORE_IDLE_SECONDS (default 600), it removes STATE_DIR/server and stops
   Derby, still under the lock, and waits for it to exit. A process starting meanwhile
   waits for the lock (a bounded time) and then starts a new server: nobody ever
   connects to a server that is going away, and an exiting process never fails another.

STATE_DIR is FEATURESTORE_METASTORE_SERVER_DIR, else ~/.cache/featurestore/metastore-server
(owner-only). The server listens on loopback only, on a free port it records there; the
JDBC URL names each repo's own database by its absolute path. This module never imports
pyspark.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from featurestore.errors import SparkSetupError
from featurestore.runtime import replaced_catalogs
from featurestore.runtime.leases import add_lease, live_leases, locked
from featurestore.runtime.processes import alive, terminate_and_wait

HOST = "127.0.0.1"
IDLE_ENV = "FEATURESTORE_METASTORE_IDLE_SECONDS"
DIR_ENV = "FEATURESTORE_METASTORE_SERVER_DIR"
DEFAULT_IDLE_SECONDS = 600
START_TIMEOUT_SECONDS = 60


def state_dir() -> Path:
    given = os.environ.get(DIR_ENV)
    if given:
        return Path(given).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "featurestore" / "metastore-server"


def _server(folder: Path) -> tuple[int, int] | None:
    """(supervisor pid, port) of the running server, if its file names a live one that listens."""
    from featurestore.runtime.processes import listening

    try:
        pid, port = (int(word) for word in (folder / "server").read_text().split())
    except (OSError, ValueError):
        return None
    return (pid, port) if alive(pid) and listening(HOST, port) else None


def server_url(port: int) -> str:
    return f"jdbc:derby://{HOST}:{port}/{{metastore_dir}};create=true"


def current_url() -> str | None:
    """The running shared server's URL, without starting one (None when none runs)."""
    found = _server(state_dir())
    return server_url(found[1]) if found else None


def ensure_server(lease_pid: int | None = None, metastore_dir: Path | None = None) -> str:
    """The shared server's JDBC URL ({metastore_dir} to fill in), started if none runs; the
    caller's pid (or lease_pid) is leased so that it stays while that process lives. With
    metastore_dir, the database of a repo that was since deleted and made again, moved or
    copied is closed or relocated first (featurestore.runtime.replaced_catalogs)."""
    folder = state_dir()
    with locked(folder):
        add_lease(folder, lease_pid or os.getpid())
        found = _server(folder)
        port = found[1] if found else _start(folder)
        if metastore_dir is not None:
            replaced_catalogs.prepare(folder, HOST, port, metastore_dir)
        return server_url(port)


def _start(folder: Path) -> int:
    from featurestore.runtime.derby import server_classpath
    from featurestore.runtime.processes import free_port, listening

    server_classpath()  # Derby's jars found (or fetched) here, so that a failure is this process's one line

    port = free_port()
    log = folder / "server.log"
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "featurestore.runtime.metastore_server", "serve", "--port", str(port),
                                    "--state-dir", str(folder)], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if listening(HOST, port) and (folder / "server").is_file():
            return port
        if process.poll() is not None:
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
    raise SparkSetupError(f"the shared metastore server (Derby) did not start within {START_TIMEOUT_SECONDS} s: "
                          f"{tail[0]}; see {log}, or set offline_store.metastore: embedded for one process at a time")


def serve(folder: Path, port: int, idle_seconds: float) -> int:
    """Run Derby's network server and stop it once no lease has been alive for idle_seconds."""
    from featurestore.runtime.derby import server_command
    from featurestore.runtime.processes import listening

    derby = subprocess.Popen(server_command(folder, HOST, port, java_options=("-Xmx256m",)), stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not listening(HOST, port):
        if derby.poll() is not None or time.monotonic() > deadline:
            print(f"Derby did not listen on {HOST}:{port}", flush=True)
            derby.kill()
            return 1
        time.sleep(0.05)
    (folder / "server").write_text(f"{os.getpid()} {port}\n")
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} serving on {HOST}:{port}; stops after {idle_seconds:g} s idle",
          flush=True)
    last_used = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while derby.poll() is None:
            time.sleep(2)
            with locked(folder):
                if live_leases(folder):
                    last_used = time.monotonic()
                elif time.monotonic() - last_used > idle_seconds or not (folder / "server").is_file():
                    _stop(folder, derby)
                    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} idle: stopped", flush=True)
                    return 0
    except KeyboardInterrupt:  # SIGTERM: `stop()`
        with locked(folder):
            _stop(folder, derby)
    finally:
        if derby.poll() is None:  # whatever went wrong, never leave Derby running unsupervised
            _stop(folder, derby)
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop(folder: Path, derby: subprocess.Popen) -> None:
    """Forget the server, then stop Derby and wait for it to exit (its databases closed)."""
    with contextlib.suppress(FileNotFoundError):
        (folder / "server").unlink()
    derby.terminate()  # Derby shuts its databases down cleanly on SIGTERM
    try:
        derby.wait(timeout=15)
    except subprocess.TimeoutExpired:
        derby.kill()
        derby.wait()


def stop() -> bool:
    """Stop the shared server now (`python -m featurestore.runtime.metastore_server stop`); False if none ran."""
    folder = state_dir()
    found = _server(folder)
    if found is None:
        return False
    terminate_and_wait(found[0], 30)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The per-user Derby server behind the default shared catalog.")
    commands = parser.add_subparsers(dest="action", required=True)
    run = commands.add_parser("serve", help="run the server (started by featurestore itself)")
    run.add_argument("--port", type=int, required=True)
    run.add_argument("--state-dir", required=True)
    commands.add_parser("status", help="say whether it runs, where, and for which processes")
    commands.add_parser("stop", help="stop it now")
    args = parser.parse_args(argv)
    if args.action == "serve":
        idle = float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_SECONDS))
        return serve(Path(args.state_dir), args.port, idle)
    if args.action == "stop":
        print("Stopped the shared metastore server." if stop() else "No shared metastore server was running.")
        return 0
    found = _server(state_dir())
    if found is None:
        print(f"No shared metastore server runs (state in {state_dir()}).")
    else:
        leases = live_leases(state_dir())
        print(f"Shared metastore server pid {found[0]} on {HOST}:{found[1]}, used by pids "
              f"{', '.join(map(str, sorted(leases))) or 'none (idle)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
