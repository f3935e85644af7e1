"""Pids and ports: one answer, for every server featurestore starts and watches, to "does it
still live?" and "which port is free?"."""
from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path


def alive(pid: int) -> bool:
    """True while `pid` runs (or cannot be asked about: another user's process).

    A zombie (exited, not yet reaped) is gone for our purpose, but a JVM whose main thread
    has ended shows state Z too while its other threads still shut Spark down: those count
    as alive until their last thread ends.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        fields = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if ":\t" in line)
    except OSError:
        return True
    return not (fields.get("State", "").startswith("Z") and fields.get("Threads", "1").strip() == "1")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (a server started next may still lose it to another)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def launch(command: list[str], log_path: Path, pid_path: Path, pid_line: str = "", **popen_options):
    """Start `command` in a session of its own (so its whole process group can be stopped),
    its output appended to log_path, and `<pid> <pid_line>` written to pid_path. Returns the
    Popen: the one way the Spark Connect server, the Derby server and a cluster are started."""
    import subprocess

    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   **popen_options)
    Path(pid_path).write_text(f"{process.pid} {pid_line}".rstrip() + "\n")
    return process


def stop_launched(pid_path: Path, timeout: float, gone=None, kill: bool = True) -> bool:
    """Stop what launch() started: SIGTERM to its process group, then wait until gone()
    (default: the pid has exited; the Derby server waits for its port to close), SIGKILL
    after `timeout` when kill is true. The pid file is removed. False when none was running."""
    import signal
    import time

    pid_path = Path(pid_path)
    if not pid_path.is_file():
        return False
    pid = int(pid_path.read_text().split()[0])
    gone = gone or (lambda: not alive(pid))
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_path.unlink()
        return False
    deadline = time.monotonic() + timeout
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.2)
    if kill and alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        while alive(pid):
            time.sleep(0.1)
    pid_path.unlink()
    return True


def stop_group(process, timeout: float = 30) -> None:
    """Stop a child started with start_new_session=True (a Popen) and everything it started:
    SIGTERM to its process group, SIGKILL after `timeout`; returns once it is reaped."""
    import signal
    import subprocess

    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def terminate_and_wait(pid: int, timeout: float) -> None:
    """SIGTERM to `pid`, then wait up to `timeout` seconds until it has exited (a supervisor
    stopping its server cleanly before it goes)."""
    import signal

    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
