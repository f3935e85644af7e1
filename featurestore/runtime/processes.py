"""Pids and ports: one answer, for every server featurestore starts and watches, to "does it
still live?" and "which port is free?"."""
from __future__ import annotations

import os
import socket
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
