"""Servers a user's processes share, kept alive by leases: a folder holding a lock, the running
server's `pid port` and one lease file per process using it (named by its pid).

A process takes the lock, leaves its lease and reads the server file; a supervisor checks the
leases under the same lock and stops its server once no leased process has been alive for its
idle time. Used by the shared catalog (runtime.metastore_server) and the warm Spark
(runtime.warm_spark). This module never imports pyspark.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from featurestore.errors import SparkSetupError
from featurestore.runtime.processes import alive

LOCK_WAIT_SECONDS = 60  # a server shutting down holds the lock for at most ~15 s


@contextlib.contextmanager
def locked(folder: Path, timeout: float = LOCK_WAIT_SECONDS, holder: str = "a shared metastore server"):
    """Hold folder/lock; SparkSetupError after `timeout` seconds of waiting, saying for whom."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SparkSetupError(f"waited {timeout:g} s for {folder / 'lock'}, held by {holder} "
                                          f"shutting down or starting; try again, or see "
                                          f"{folder / 'server.log'}") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def add_lease(folder: Path, pid: int) -> None:
    (folder / "leases").mkdir(exist_ok=True, mode=0o700)
    (folder / "leases" / str(pid)).touch()


def live_leases(folder: Path) -> list[int]:
    """Pids of the leases whose process is alive; the others' files are removed."""
    live = []
    for lease in (folder / "leases").glob("*"):
        if lease.name.isdigit() and alive(int(lease.name)):
            live.append(int(lease.name))
        else:
            with contextlib.suppress(FileNotFoundError):
                lease.unlink()
    return live
