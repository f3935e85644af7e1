"""Retrying what SQLite refuses at once while another process holds the file.

sqlite3's busy timeout covers ordinary reads and writes, but some steps answer SQLITE_BUSY
(or SQLITE_LOCKED) at once: switching a new file to WAL mode, or opening a WAL file whose
last user is just closing it. With many processes opening one file together (eight
`featurestore apply` runs on one SQL registry) that happens, so those steps are retried
here with a growing pause.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def retry_while_busy(action: Callable[[], T], timeout_seconds: float) -> T:
    """action(), tried again after a pause (5 ms doubling to 100 ms) while SQLite answers busy or
    locked, until timeout_seconds have passed; then the last error is raised."""
    deadline = time.monotonic() + timeout_seconds
    pause = 0.005
    while True:
        try:
            return action()
        except sqlite3.OperationalError as error:
            busy = getattr(error, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
            if not busy or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
