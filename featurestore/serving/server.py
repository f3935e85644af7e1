"""`featurestore serve`: the feature server's processes, on uvicorn (httptools, uvloop). No JVM starts.

uvicorn was chosen by measurement (docs/performance.md, "Feature server"): on this
repository's 2-core machine it answered 1 x 3 requests 1.3x faster than the standard
library's threading server at one connection and 2.7x at 32, where threads fight for
the GIL; granian was slower at one connection and no faster at 8 or 32.

One process binds the port, then either serves on it itself (one worker, the default) or
forks `workers` processes that all accept on the same socket, the kernel handing each
connection to one of them. Each worker opens its own registry and online-store
connections after the fork (a connection is never shared between processes) and counts
into its own slot of the shared metrics. The parent only supervises: a worker that dies
is replaced (and the server gives up if workers keep dying at start), and SIGTERM or
SIGINT stops every worker gracefully: no new connections, requests in flight finish, idle
keep-alive connections close.

Loopback by default; binding beyond it without an API key prints a warning.
"""
from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import sys
import threading
import time

from featurestore import feature_logging
from featurestore.config import ServeConfig
from featurestore.errors import ConfigError
from featurestore.serving.app import MAX_BODY_BYTES, MAX_ROWS, FeatureApp
from featurestore.serving.metrics import Metrics

HOST = ServeConfig.host  # loopback (feature_store.yaml's serve: defaults)
PORT = ServeConfig.port  # Feast's feature server port
IDLE_SECONDS = 5  # a keep-alive connection idle longer is closed
GRACE_SECONDS = 30  # SIGTERM waits at most this long for requests in flight
LOOPBACK = ("127.0.0.1", "localhost", "::1")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before any worker starts (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as error:
        raise ConfigError(_cannot_listen(host, port, error)) from None
    sock.set_inheritable(True)
    return sock


def _cannot_listen(host: str, port: int, error: OSError) -> str:
    where = f"cannot listen on {host}:{port}"
    if error.errno == errno.EADDRINUSE:
        return (f"{where}: the port is already in use by another process; pass another --port (0 picks a free "
                f"one), or stop the process holding it (`ss -ltnp 'sport = :{port}'` shows it)")
    if error.errno == errno.EACCES:
        return f"{where}: ports below 1024 need root; pass --port 1024 or above (0 picks a free one)"
    if error.errno in (errno.EADDRNOTAVAIL, socket.EAI_NONAME) or isinstance(error, socket.gaierror):
        return f"{where}: {host} is not an address of this machine; pass --host 127.0.0.1 (this machine only)"
    return f"{where}: {error.strerror or error}"


def _uvicorn(app):
    import uvicorn

    from featurestore.serving.protocol import GuardedHttpProtocol, allow_connections

    allow_connections()
    config = uvicorn.Config(app, http=GuardedHttpProtocol, loop="uvloop", lifespan="off", access_log=False,
                            log_config=None, log_level="warning", server_header=False,
                            timeout_keep_alive=IDLE_SECONDS, timeout_graceful_shutdown=GRACE_SECONDS)
    return uvicorn.Server(config)


class FeatureServer:
    """One worker serving in a background thread of this process: for tests and for embedding
    the server in a Python program. start() binds and returns; stop() is graceful."""

    def __init__(self, feature_store, host: str = HOST, port: int = PORT, max_rows: int = MAX_ROWS,
                 max_body_bytes: int = MAX_BODY_BYTES, access_log=None, api_key: str | None = None):
        self.app = FeatureApp(feature_store, Metrics(), max_rows, max_body_bytes, api_key, access_log)
        self.metrics = self.app.metrics
        self._socket = listen(host, port)
        self.server_address = self._socket.getsockname()[:2]
        self._server = _uvicorn(self.app)
        self._thread = None

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://{host}:{port}"

    def start(self) -> FeatureServer:
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="featurestore-serve", daemon=True)
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Graceful: stop accepting, let requests in flight finish, close the socket."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(GRACE_SECONDS + 5)
        self._socket.close()


@contextlib.contextmanager
def _listening(host: str, port: int):
    """The bound socket and an event set by SIGTERM or SIGINT, for as long as the server runs;
    then the socket is closed and the previous signal handlers are back."""
    sock = listen(host, port)
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda signum, frame: stopping.set()) for sig in STOP_SIGNALS}
    try:
        yield sock, stopping
    finally:
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def serve(feature_store, host: str = HOST, port: int = PORT, workers: int = 1, max_rows: int = MAX_ROWS,
          max_body_bytes: int = MAX_BODY_BYTES, access_log=None, ready=print, api_key: str | None = None,
          warn=print) -> int:
    """Serve until SIGTERM or SIGINT, then stop gracefully; 0, or 1 when workers kept dying."""
    if host not in LOOPBACK and api_key is None:
        warn(f"warning: serving on {host}, beyond this machine, with no API key: anyone who reaches the port reads "
             f"and writes features; set serve.api_key_env (or --api-key-env VARIABLE)")
    settings = dict(metrics=Metrics(workers), max_rows=max_rows, max_body_bytes=max_body_bytes, api_key=api_key,
                    access_log=access_log)
    with _listening(host, port) as (sock, stopping):
        ready(f"Serving feature repo {feature_store.repo_path} (project {feature_store.project}) with {workers} "
              f"worker{'s' if workers > 1 else ''} at {_url(sock)}")
        if workers == 1:
            _serve_here(FeatureApp(feature_store, **settings), sock, stopping)
            feature_logging.close()  # what was logged is written before the server says it stopped
            status = 0
        else:
            status = _supervise(feature_store.config, sock, workers, settings, stopping, warn)
    ready("Stopped: requests in flight finished.")
    return status


def serve_app(app, host: str, port: int, what: str, ready=print, warn=print) -> int:
    """Serve another application of this stack (the catalog) in this process until SIGTERM or
    SIGINT, gracefully; `what` names it in the ready line."""
    if host not in LOOPBACK:
        warn(f"warning: serving the {what} on {host}, beyond this machine: anyone who reaches the port reads it")
    with _listening(host, port) as (sock, stopping):
        ready(f"Serving the {what} at {_url(sock)}/")
        _serve_here(app, sock, stopping)
    ready("Stopped.")
    return 0


def _serve_here(app, sock: socket.socket, stopping: threading.Event) -> None:
    """uvicorn in this process's main thread until SIGTERM or SIGINT, then a graceful stop.

    A signal that comes before uvicorn has put in its own handlers (or after it restored
    ours and raised the signal again) lands in ours, which asks uvicorn to exit too."""
    server = _uvicorn(app)

    def on_signal(signum, frame):
        stopping.set()
        server.should_exit = True

    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    if not stopping.is_set():
        server.run(sockets=[sock])


def _worker(config, sock: socket.socket, slot: int, settings: dict) -> None:
    """A forked worker's life: its own stores, its metrics slot, uvicorn until SIGTERM (which
    may come while the worker is still starting: it is remembered from the fork on)."""
    stopping = threading.Event()
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda signum, frame: stopping.set())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by the parent around the fork
    from featurestore.store import FeatureStore

    settings["metrics"].use_slot(slot)
    _serve_here(FeatureApp(FeatureStore(config=config), **settings), sock, stopping)
    feature_logging.close()  # the worker ends with os._exit, which runs no atexit hook


START_FAILURES = 5  # workers dying within STARTUP_SECONDS of their start, in a row: give up
STARTUP_SECONDS = 2.0


def _supervise(config, sock: socket.socket, workers: int, settings: dict, stopping: threading.Event,
               warn) -> int:
    children: dict[int, tuple[int, float]] = {}  # pid -> (slot, started at)

    def start(slot: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        # signals wait until each side has its own handlers (the worker's are set in _worker)
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _worker(config, sock, slot, settings)
            except BaseException as error:
                print(f"featurestore serve: worker {slot} failed: {type(error).__name__}: {error}", file=sys.stderr)
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        children[pid] = (slot, time.monotonic())

    for slot in range(workers):
        start(slot)
    failures = 0
    while not stopping.is_set():
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            stopping.wait(0.2)
            continue
        slot, started = children.pop(pid)
        failures = failures + 1 if time.monotonic() - started < STARTUP_SECONDS else 0
        warn(f"featurestore serve: worker {slot} (pid {pid}) exited ({_exit_text(status)}); "
             f"{'giving up: workers keep dying at start' if failures >= START_FAILURES else 'starting another'}")
        if failures >= START_FAILURES:
            _stop_children(children)
            return 1
        start(slot)
    _stop_children(children)
    return 0


def _stop_children(children: dict) -> None:
    """SIGTERM to every worker, then wait: each finishes its requests in flight."""
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + GRACE_SECONDS + 5
    while children and time.monotonic() < deadline:
        pid, _ = os.waitpid(-1, os.WNOHANG)
        if pid:
            children.pop(pid, None)
        else:
            time.sleep(0.05)
    for pid in children:  # past the grace period
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.WEXITSTATUS(status)}"
