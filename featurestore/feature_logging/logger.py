"""The request side of feature logging: sample, keep, hand over to a writer process; never block.

A logged request costs the caller a random number (when sampling), one marshal of the
lists the response already holds (featurestore.feature_logging.frames) and a deque append,
about 3 us. Every FLUSH_REQUESTS requests (or FLUSH_CELLS values, or FLUSH_SECONDS,
whichever comes first) the kept frames are written, without blocking, into a pipe to this
process's writer (featurestore.feature_logging.writer), a child process that turns them
into Arrow tables and appends them to the service's destination.
Arrow conversion and file writes hold the GIL for milliseconds; in a child process they
never delay a request of this one (docs/feature_logging.md has the measurements).

Bounded memory: what the pipe cannot take waits in a buffer of at most MAX_UNSENT_BYTES;
past it, new log rows are dropped, counted and warned about (at most once a minute),
and the request is answered as always. A writer that cannot write (a full disk, a path
that is a file) drops its batch and says so in the same way; a writer that died is
started again at the next flush.
"""
from __future__ import annotations

import atexit
import collections
import contextlib
import fcntl
import os
import random
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

from featurestore.feature_logging.frames import frames, message_frame, record_payload

FLUSH_REQUESTS = 1024  # kept requests handed over at once: the flush's cost falls on 1 request in 1024
FLUSH_CELLS = 20_000  # or this many values (large requests)
FLUSH_SECONDS = 0.25  # or this old, whatever the traffic
MAX_UNSENT_BYTES = 16 << 20  # what waits for the pipe; beyond it log rows are dropped
PIPE_BYTES = 1 << 20  # the pipe's capacity asked of the kernel (Linux caps it at pipe-max-size)
WARN_EVERY_SECONDS = 60.0
RESTART_SECONDS = 10.0  # a dead writer is replaced at most this often
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ, which Python's fcntl names only from 3.10 on some builds


class FeatureLogger:
    """One process's feature log: its writer process and the requests waiting for it."""

    def __init__(self):
        self.pid = os.getpid()
        self.logged = self.written = self.dropped = 0  # log rows, since this logger started
        self._lock = threading.Condition(threading.Lock())  # a plain lock: cheaper than the default RLock
        self._pending: collections.deque = collections.deque()  # (layout key, frame, rows)
        self._pending_cells = 0
        self._layouts: dict[int, dict] = {}
        self._sent_layouts: set[int] = set()
        self._unsent = bytearray()
        self._flushed: set[int] = set()
        self._next_token = 0
        self._last_warning = 0.0
        self._last_send = time.monotonic()
        self._writer = None
        self._next_restart = 0.0
        self._status = b""
        self._closed = False
        self._start_writer()
        self._thread = threading.Thread(target=self._run, name="featurestore-feature-log", daemon=True)
        self._thread.start()

    # --- the request path -------------------------------------------------------------------------
    def add(self, key: int, layout: dict, record: tuple, rows: int, cells: int) -> None:
        """Keep one request's record (log_served) for the layout `key`, serialized at once (bytes
        are invisible to the garbage collector, where kept lists and dicts made its passes
        longer). No lock on this path: a deque's append is atomic, and whoever sees enough
        waiting hands it over under the lock."""
        if self._closed:
            return
        if key not in self._layouts:
            self._layouts[key] = layout
        self._pending.append((key, record_payload(key, record), rows))
        self._pending_cells += cells  # may miss a concurrent increment: it only times the next hand-over
        if len(self._pending) >= FLUSH_REQUESTS or self._pending_cells >= FLUSH_CELLS:
            with self._lock:
                self._send_locked()

    # --- handing over -----------------------------------------------------------------------------
    def _send_locked(self) -> None:
        if self._writer is None or self._writer.poll() is not None:
            self._restart_locked()  # before the frames are made: a new writer gets its layouts again
        pending = []
        take, put = self._pending.popleft, pending.append
        with contextlib.suppress(IndexError):
            while True:
                put(take())
        self._pending_cells = 0
        self._last_send = time.monotonic()
        if pending:
            rows = sum(rows for _, _, rows in pending)
            self.logged += rows
            layouts = [message_frame(("layout", key, self._layouts[key]))
                       for key in {key for key, _, _ in pending} if key not in self._sent_layouts]
            data = b"".join(layouts) + frames(payload for _, payload, _ in pending)
            if len(self._unsent) + len(data) > MAX_UNSENT_BYTES:
                self._drop_locked(rows, "the writer is behind and its buffer is full")
            else:
                self._unsent += data
                self._sent_layouts.update(key for key, _, _ in pending)
        self._drain_locked()
        self._report_locked()

    def _drain_locked(self) -> None:
        while self._unsent:
            if self._writer is None or self._writer.poll() is not None:
                self._restart_locked()
                if self._writer is None:
                    return
            try:
                written = os.write(self._writer.stdin.fileno(), self._unsent)
            except BlockingIOError:
                return
            except (BrokenPipeError, OSError):
                self._restart_locked()
                return
            del self._unsent[:written]

    def _restart_locked(self) -> None:
        """The writer died: what it had not taken is lost (warned about), and a new one starts,
        at most once every RESTART_SECONDS (a writer that cannot start must not be started
        again on every hand-over; meanwhile frames wait, then are dropped and counted)."""
        old, self._writer = self._writer, None
        if old is not None:
            with contextlib.suppress(OSError):
                old.kill()
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                old.wait(1)
            for stream in (old.stdin, old.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
            if self._unsent:
                self._unsent.clear()
                self._warn_locked("the log writer process stopped; rows it had not taken are lost")
        if time.monotonic() < self._next_restart:
            return
        self._next_restart = time.monotonic() + RESTART_SECONDS
        self._sent_layouts.clear()
        with contextlib.suppress(OSError):
            self._start_writer()

    def _drop_locked(self, rows: int, why: str) -> None:
        self.dropped += rows
        self._warn_locked(f"{rows} log rows dropped: {why}")

    def _warn_locked(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_SECONDS:
            self._last_warning = now
            print(f"featurestore: feature logging: {message} (requests are answered as always; dropped rows "
                  f"are counted in /metrics as featurestore_feature_log_rows_total{{outcome=\"dropped\"}})",
                  file=sys.stderr, flush=True)

    def _report_locked(self) -> None:
        listener = _COUNTS_LISTENER
        if listener is not None:
            listener(self.logged, self.written, self.dropped)

    # --- the writer process -------------------------------------------------------------------------
    def _start_writer(self) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        self._writer = subprocess.Popen([sys.executable, "-m", "featurestore.feature_logging.writer"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True)
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._writer.stdin.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
        for stream in (self._writer.stdin, self._writer.stdout):
            flags = fcntl.fcntl(stream.fileno(), fcntl.F_GETFL)
            fcntl.fcntl(stream.fileno(), fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self._status = b""

    def _run(self) -> None:
        """Background: read the writer's reports, hand over what waits longer than FLUSH_SECONDS."""
        while True:
            with self._lock:
                if self._closed:
                    return
                writer = self._writer
            if writer is not None:
                with contextlib.suppress(OSError, ValueError):
                    select.select([writer.stdout], [], [], FLUSH_SECONDS / 2)
                self._read_status(writer)
            else:
                time.sleep(FLUSH_SECONDS / 2)
            with self._lock:
                if self._closed:
                    return
                if self._pending and time.monotonic() - self._last_send >= FLUSH_SECONDS:
                    self._send_locked()
                elif self._unsent:
                    self._drain_locked()

    def _read_status(self, writer) -> None:
        try:
            data = os.read(writer.stdout.fileno(), 65536)
        except (BlockingIOError, OSError, ValueError):
            return
        if not data:
            return
        with self._lock:
            if writer is not self._writer:
                return
            self._status += data
            *lines, self._status = self._status.split(b"\n")
            for line in lines:
                kind, _, value = line.decode().partition(" ")
                if kind == "written":
                    self.written += int(value)
                elif kind == "dropped":
                    self.dropped += int(value)
                elif kind == "flushed":
                    self._flushed.add(int(value))
            self._report_locked()
            self._lock.notify_all()

    # --- flush and close ---------------------------------------------------------------------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Hand everything over and wait until the writer has written it; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._closed:
                return True
            self._send_locked()
            token = self._next_token = self._next_token + 1
            self._unsent += message_frame(("flush", token))
            while self._unsent and time.monotonic() < deadline:
                self._drain_locked()
                if self._unsent:
                    self._lock.wait(0.01)
            while token not in self._flushed and time.monotonic() < deadline:
                if self._writer is None or self._writer.poll() is not None:
                    return False
                self._lock.wait(0.05)
            return token in self._flushed

    def close(self, timeout: float = 30.0) -> None:
        """Flush, then let the writer finish and exit."""
        if os.getpid() != self.pid:
            return  # a forked child's copy: the writer is its parent's
        self.flush(timeout)
        with self._lock:
            self._closed = True
            writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.stdin.close()
            try:
                writer.wait(timeout)
            except subprocess.TimeoutExpired:
                writer.kill()
                writer.wait()
            self._read_status(writer)
            with contextlib.suppress(OSError):
                writer.stdout.close()


# --- the process's logger and the hook called by every get_online_features ------------------------

_LOGGER: FeatureLogger | None = None
_LOGGER_LOCK = threading.Lock()
_TARGETS: dict[tuple, tuple] = {}  # (id(registry), service, full names, id(config)) -> (registry, target)
_MAX_TARGETS = 256
_COUNTS_LISTENER = None


def logger() -> FeatureLogger:
    """This process's logger (a forked child gets its own, with its own writer: _forget_after_fork)."""
    global _LOGGER
    current = _LOGGER
    if current is not None:
        return current
    with _LOGGER_LOCK:
        if _LOGGER is None:
            _LOGGER = FeatureLogger()
        return _LOGGER


def _forget_after_fork() -> None:
    """In a forked child (a server worker): the parent's logger and its writer are the parent's."""
    global _LOGGER, _LOGGER_LOCK
    _LOGGER = None
    _LOGGER_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def on_counts(listener) -> None:
    """Call listener(logged, written, dropped) whenever this process's log counts change
    (the feature server's metrics); one listener per process, the last one set."""
    global _COUNTS_LISTENER
    _COUNTS_LISTENER = listener


def flush(timeout: float = 30.0) -> bool:
    """Wait until everything this process logged so far is in its destination."""
    current = _LOGGER
    if current is None or current.pid != os.getpid():
        return True
    return current.flush(timeout)


def close(timeout: float = 30.0) -> None:
    """Flush and stop this process's writer (the server calls it as a worker stops; atexit too)."""
    global _LOGGER
    current = _LOGGER
    if current is not None and current.pid == os.getpid():
        current.close(timeout)
        _LOGGER = None


atexit.register(close)  # whatever a process logged is written before it exits


def log_served(config, registry, service, entity_rows: list, response, full_feature_names: bool) -> None:
    """Log one get_online_features of `service`, if its applied definition asks for it."""
    target = _target(config, registry, service, full_feature_names)
    if target is None:
        return
    key, layout, rate, request_fields, cells_per_row = target
    if rate < 1.0 and random.random() >= rate:
        return
    rows = len(entity_rows)
    values, statuses, times = response.parts()
    requested = [[row.get(f) for row in entity_rows] for f in request_fields] if request_fields else None
    record = (time.time_ns() // 1000, rows, values, statuses, times, requested)
    logger().add(key, layout, record, rows, rows * cells_per_row)


def _target(config, registry, service, full_feature_names: bool):
    """(layout key, layout, sample rate, request fields, cells per row), or None when the
    registry's service of that name logs nothing; cached per registry object."""
    name = getattr(service, "name", None)
    if name is None:
        return None
    cache_key = (id(registry), name, full_feature_names, id(config))
    cached = _TARGETS.get(cache_key)
    if cached is not None and cached[0] is registry:
        return cached[1]
    target = _new_target(config, registry, name, full_feature_names)
    if len(_TARGETS) >= _MAX_TARGETS:
        _TARGETS.clear()
    _TARGETS[cache_key] = (registry, target)
    return target


def _new_target(config, registry, name: str, full_feature_names: bool):
    from featurestore.feature_logging.layout import destination_of, layout_of
    from featurestore.online.read import request_plan

    applied = registry.feature_services.get(name)
    logging_config = getattr(applied, "logging_config", None)
    if logging_config is None:
        return None
    plan = request_plan(registry, applied, full_feature_names)
    layout = layout_of(registry, applied, plan, destination_of(config, logging_config))
    key = hash((layout.service, layout.registry, full_feature_names, repr(layout.destination)))
    cells = len(layout.keys) + len(layout.request_fields) + 3 * len(layout.features)
    return key, layout.to_dict(), logging_config.sample_rate, [f for f, _ in layout.request_fields], cells
