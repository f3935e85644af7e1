"""The writer process of feature logging: records in from a pipe, Arrow tables out to destinations.

Started by featurestore.feature_logging.logger, one per logging process, reading frames
(featurestore.feature_logging.frames) from its stdin:

    ("layout", key, layout)   a service's log layout (featurestore.feature_logging.layout)
    ("rows", key, record)     one request logged under that layout
    ("flush", token)          write everything now, then answer "flushed <token>"

Rows are written every WRITE_SECONDS, or sooner when a layout holds WRITE_ROWS of them,
and when stdin closes (the process that logs stopped); then the writer exits. It reports
on stdout, a line each: "written <rows>", "dropped <rows>", "flushed <token>"; a
destination that fails is reported once a minute on stderr, and its rows are dropped,
never kept without bound.

Destinations (featurestore.feature_logging.destinations): a folder of parquet files, or a
Delta table in the repo's warehouse.
"""
from __future__ import annotations

import contextlib
import os
import select
import sys
import time
import uuid

from featurestore.feature_logging.frames import read_frames

WRITE_SECONDS = 1.0
WRITE_ROWS = 100_000
WARN_EVERY_SECONDS = 60.0
NICENESS = 10


class Batches:
    """Log rows waiting to be written, per layout, as Python lists per column."""

    def __init__(self, report):
        self.layouts: dict[int, object] = {}
        self.waiting: dict[int, list] = {}  # key -> records
        self.rows: dict[int, int] = {}
        self.report = report
        self.token = uuid.uuid4().hex[:12]  # request ids: <token>-<n>, unique across processes
        self.requests = 0
        self.last_warning: dict[str, float] = {}

    def add_layout(self, key: int, layout: dict) -> None:
        from featurestore.feature_logging.layout import LogLayout

        self.layouts[key] = LogLayout.from_dict(layout)

    def add_rows(self, key: int, records: list) -> None:
        self.waiting.setdefault(key, []).extend(records)
        self.rows[key] = self.rows.get(key, 0) + sum(r[1] for r in records)
        if self.rows[key] >= WRITE_ROWS:
            self.write(key)

    def write_all(self) -> None:
        for key in list(self.waiting):
            self.write(key)

    def write(self, key: int) -> None:
        from featurestore.feature_logging.destinations import append

        records = self.waiting.pop(key, [])
        rows = self.rows.pop(key, 0)
        if not records:
            return
        layout = self.layouts.get(key)
        try:
            table = self.table(layout, records)
            append(layout.destination, table)
        except Exception as error:
            self.report(f"dropped {rows}")
            where = layout.destination if layout is not None else "an unknown layout"
            self.warn(str(where), f"featurestore: feature logging: could not write {rows} log rows of service "
                                  f"{getattr(layout, 'service', '?')!r} to {where}: {type(error).__name__}: {error}; "
                                  f"they are dropped (requests were answered as always)")
            return
        self.report(f"written {rows}")

    def warn(self, where: str, message: str) -> None:
        now = time.monotonic()
        if now - self.last_warning.get(where, -WARN_EVERY_SECONDS) >= WARN_EVERY_SECONDS:
            self.last_warning[where] = now
            print(message, file=sys.stderr, flush=True)

    def table(self, layout, records: list):
        from featurestore.feature_logging.arrow_columns import log_table

        first = self.requests
        self.requests += len(records)
        return log_table(layout, records, self.token, first)


def main() -> int:
    with contextlib.suppress(OSError):
        os.nice(NICENESS)  # background work: the kernel gives the CPU to the serving process first
    stdin = sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw") else sys.stdin.buffer
    fd = stdin.fileno()
    out = sys.stdout

    def report(line: str) -> None:
        try:
            out.write(line + "\n")
            out.flush()
        except (BrokenPipeError, OSError):
            pass  # the logging process is gone; the rows are written all the same

    batches = Batches(report)
    buffer = bytearray()
    next_write = time.monotonic() + WRITE_SECONDS
    while True:
        timeout = max(0.0, next_write - time.monotonic())
        ready, _, _ = select.select([fd], [], [], timeout)
        if ready:
            data = os.read(fd, 1 << 20)
            if not data:
                break
            buffer += data
            for message in read_frames(buffer):
                kind = message[0]
                if kind == "layout":
                    batches.add_layout(message[1], message[2])
                elif kind == "rows":
                    batches.add_rows(message[1], [message[2]])
                elif kind == "flush":
                    batches.write_all()
                    report(f"flushed {message[1]}")
        if time.monotonic() >= next_write:
            batches.write_all()
            next_write = time.monotonic() + WRITE_SECONDS
    batches.write_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
