"""The warm Spark's supervisor: the detached process that runs a repo's Spark Connect server and
stops it once no process has leased it for the idle time (see featurestore.runtime.warm_spark,
the client's side, for the whole protocol).

    featurestore spark status   # runs? where? for whom?   (status_or_stop)
    featurestore spark stop     # stop it now
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from featurestore.runtime.leases import live_leases, locked
from featurestore.runtime.processes import listening
from featurestore.runtime.warm_spark import HOLDER, HOST, IDLE_ENV, START_TIMEOUT_SECONDS, running_server, state_dir, stop

# The CLI's processes share one session (warm_spark.ensure), and each numbers its plans from 0:
# Spark Connect's per-session plan cache, keyed by the plan's message, answered one process's
# catalog question (tableExists, before init's tables were registered) to the next one.
SERVER_SETTINGS = {"spark.connect.session.planCache.enabled": "false"}


def serve(folder: Path, repo: Path, port: int, idle_seconds: float | None) -> int:
    """Run the repo's Spark Connect server; stop it once no lease has been alive for the idle time."""
    from featurestore.config import load_config
    from featurestore.runtime.spark_server import server_command, server_env, warm_up

    config = load_config(repo)
    idle = idle_seconds if idle_seconds is not None else float(config.offline_store.warm_spark_idle_seconds)
    config.warehouse_dir.mkdir(parents=True, exist_ok=True)
    config.metastore_dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # leases the shared catalog for this process
    command = server_command(config, HOST, port, master=None, settings=SERVER_SETTINGS)
    with open(folder / "spark.log", "ab") as out:
        spark = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 cwd=config.repo_path, env=server_env(), start_new_session=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not listening(HOST, port):
            if spark.poll() is not None or time.monotonic() > deadline:
                print(f"Spark did not listen on {HOST}:{port}; see {folder / 'spark.log'}", flush=True)
                return 1
            time.sleep(0.2)
        listening_after = time.monotonic() - started
        warm_up(f"sc://{HOST}:{port}")
        (folder / "server").write_text(f"{os.getpid()} {port} {uuid.uuid4()} {config.repo_path}\n")
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} serving {config.repo_path} on {HOST}:{port}; stops after "
              f"{idle:g} s idle (listening after {listening_after:.1f} s, catalog and Delta ready after "
              f"{time.monotonic() - started:.1f} s)", flush=True)
        last_used = time.monotonic()
        while spark.poll() is None:
            time.sleep(2)
            with locked(folder, holder=HOLDER):
                if live_leases(folder):
                    last_used = time.monotonic()
                elif time.monotonic() - last_used > idle or not (folder / "server").is_file():
                    _forget(folder)
                    _stop_spark(spark)  # under the lock: no command connects to a server going away
                    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} idle: stopped", flush=True)
                    return 0
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} Spark exited ({spark.returncode}); the next command starts "
              f"a new one", flush=True)
        return 1
    except KeyboardInterrupt:  # SIGTERM: `stop`
        return 0
    finally:
        with locked(folder, holder=HOLDER):
            _forget(folder)
            _stop_spark(spark)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _forget(folder: Path) -> None:
    """Remove the server file if it still names this supervisor (a dead server's successor may
    have written its own meanwhile)."""
    with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
        if int((folder / "server").read_text().split()[0]) == os.getpid():
            (folder / "server").unlink()


def _stop_spark(spark: subprocess.Popen) -> None:
    """SIGTERM to Spark's process group (it stops cleanly, releasing the catalog), SIGKILL after 30 s."""
    if spark.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(spark.pid, signal.SIGTERM)
    try:
        spark.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(spark.pid, signal.SIGKILL)
        spark.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a feature repo's warm Spark (started by featurestore itself; "
                                                 "`featurestore spark status|stop` for users).")
    parser.add_argument("action", choices=("serve",))
    parser.add_argument("--repo", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)
    idle = os.environ.get(IDLE_ENV)
    return serve(Path(args.state_dir), Path(args.repo), args.port, float(idle) if idle else None)


def status_or_stop(config, action: str) -> str:
    """What `featurestore spark status|stop` prints (stopping the repo's server for `stop`)."""
    if action == "stop":
        return "Stopped the repo's warm Spark." if stop(config) else "No warm Spark was running for this repo."
    folder = state_dir(config)
    found = running_server(folder)
    if found is None:
        return f"No warm Spark runs for {config.repo_path} (state in {folder})."
    users = ", ".join(map(str, sorted(live_leases(folder)))) or "none (idle)"
    return (f"Warm Spark for {config.repo_path}: supervisor pid {found[0]}, sc://{HOST}:{found[1]}, used by pids "
            f"{users}; log in {folder / 'spark.log'}")


if __name__ == "__main__":
    sys.exit(main())
