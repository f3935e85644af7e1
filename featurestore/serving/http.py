"""`featurestore serve`: the feature server over HTTP, in pure Python (no JVM starts).

A threading HTTP/1.1 server (keep-alive) from the standard library, bound to 127.0.0.1 by
default. Every answer is JSON: the endpoints of featurestore.serving.api, GET /health
(liveness), GET /ready (the online store answers; 503 while it does not) and GET /metrics
(Prometheus text). A bad request gets a 4xx JSON error {"error": {"status", "message"}}
that says what and where, never a traceback; an online store that fails mid-request gives
503 and the server keeps serving. SIGTERM or SIGINT stops it gracefully: no new
connections, requests in flight finish, idle keep-alive connections close.

Nothing secret is logged: the access log (--access-log) has method, path, status and time.
With --api-key-env VARIABLE every request but /health needs `Authorization: Bearer <key>`
(401 otherwise); the key is read from the environment, never from a file or a log. Binding
beyond loopback without a key prints a warning.
"""
from __future__ import annotations

import hmac
import json
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from featurestore.context import Context
from featurestore.errors import FeatureStoreError, OnlineStoreError
from featurestore.jsonio import json_safe
from featurestore.serving import api
from featurestore.serving.metrics import Metrics

HOST = "127.0.0.1"
PORT = 6566  # Feast's feature server port
MAX_ROWS = 10_000
MAX_BODY_BYTES = 10 * 1024 * 1024
IDLE_SECONDS = 5.0  # a keep-alive connection idle longer is closed (and shutdown never waits longer)

POST = {"/get-online-features": api.get_online_features, "/push": api.push,
        "/write-to-online-store": api.write_to_online_store}


class _TimedStore:
    """The online store, with the time spent in it counted in the metrics."""

    def __init__(self, store, metrics: Metrics):
        self._store, self._metrics = store, metrics

    def online_read_many(self, project, requests):
        started = time.perf_counter()
        try:
            return self._store.online_read_many(project, requests)
        finally:
            self._metrics.store("read", time.perf_counter() - started)

    def online_write_flat(self, project, view, rows):
        started = time.perf_counter()
        try:
            return self._store.online_write_flat(project, view, rows)
        finally:
            self._metrics.store("write", time.perf_counter() - started)

    def __getattr__(self, name):
        return getattr(self._store, name)


class FeatureServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for requests in flight
    allow_reuse_address = True

    def __init__(self, feature_store, host: str = HOST, port: int = PORT, max_rows: int = MAX_ROWS,
                 max_body_bytes: int = MAX_BODY_BYTES, access_log=None, api_key: str | None = None):
        self.metrics = Metrics()
        online = _TimedStore(feature_store.online_store, self.metrics)
        self.served = Context(feature_store.config, feature_store.registry_store, lambda: online, feature_store.context.spark_of)
        self.max_rows, self.max_body_bytes, self.access_log = max_rows, max_body_bytes, access_log
        self.api_key = api_key  # None: no check (loopback); else every request needs "Bearer <key>"
        self.stopping = False
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Graceful: stop accepting, let requests in flight finish, close the socket."""
        self.stopping = True
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS
    server: FeatureServer

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        self._answer(self._get)

    def do_POST(self):
        self._answer(self._post)

    def _get(self):
        if self.path == "/health":
            return 200, {"status": "ok"}
        if self.path == "/ready":
            try:
                self.server.served.online_store.ping()
            except OnlineStoreError as error:
                return 503, {"status": "unavailable", "error": {"status": 503, "message": str(error)}}
            return 200, {"status": "ready"}
        if self.path == "/metrics":
            return 200, self.server.metrics.text()
        if self.path in POST:
            raise api.RequestError(405, f"{self.path} takes POST with a JSON body")
        raise api.RequestError(404, f"no endpoint {self.path}; the endpoints are {', '.join(sorted(POST))} "
                                    f"(POST) and /health, /ready, /metrics (GET)")

    def _post(self):
        endpoint = POST.get(self.path)
        if endpoint is None:
            if self.path in ("/health", "/ready", "/metrics"):
                raise api.RequestError(405, f"{self.path} takes GET")
            raise api.RequestError(404, f"no endpoint {self.path}; POST takes {', '.join(sorted(POST))}")
        body = self._body()
        return 200, endpoint(self.server.served, body, self.server.max_rows)

    def _authorize(self) -> None:
        key = self.server.api_key
        if key is None or self.path == "/health":
            return
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
            self.close_connection = True
            raise api.RequestError(401, "this server needs the header 'Authorization: Bearer <key>' with the key "
                                        "its --api-key-env variable holds")

    def _body(self):
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise api.RequestError(411, "send the body with a Content-Length header")
        if int(length) > self.server.max_body_bytes:
            self.close_connection = True  # the body is left unread
            raise api.RequestError(413, f"the body of {int(length):,} bytes exceeds this server's limit of "
                                        f"{self.server.max_body_bytes:,} (featurestore serve --max-body-bytes)")
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise api.RequestError(400, f"the body is not JSON: {error}") from None

    def _answer(self, handle) -> None:
        started = time.perf_counter()
        try:
            self._authorize()
            status, payload = handle()
        except api.RequestError as error:
            status, payload = error.status, _error(error.status, str(error))
        except OnlineStoreError as error:
            status, payload = 503, _error(503, f"the online store failed: {error}")
        except FeatureStoreError as error:
            status, payload = 422, _error(422, str(error))
        except Exception as error:  # still JSON, never a traceback to the client
            status, payload = 500, _error(500, f"unexpected {type(error).__name__}; see the server's log")
            print(f"featurestore serve: unexpected {type(error).__name__} on {self.command} {self.path}: {error}",
                  file=sys.stderr)
        if isinstance(payload, str):
            data, kind = payload.encode(), "text/plain; version=0.0.4"
        else:
            data, kind = json.dumps(json_safe(payload), allow_nan=False, default=_json_value).encode(), \
                "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        if self.server.stopping or self.close_connection:
            self.send_header("Connection", "close")
            self.close_connection = True
        # headers and body in one write: two small writes meet delayed ACKs and cost ~40 ms
        self._headers_buffer.append(b"\r\n" + data)
        self.flush_headers()
        seconds = time.perf_counter() - started
        endpoint = self.path if self.path in POST or self.path in ("/health", "/ready", "/metrics") else "other"
        self.server.metrics.request(endpoint, status, seconds)
        if self.server.access_log is not None:
            print(f"{self.command} {self.path} {status} {seconds * 1000:.2f} ms", file=self.server.access_log)

    def log_message(self, format, *args):
        """Quiet: the access log above is the one log, and has nothing from the body."""


def _json_value(value):
    """Values JSON has no type for, as protobuf's JSON mapping writes them: bytes in base64,
    timestamps in ISO-8601 UTC."""
    import base64
    from datetime import datetime

    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"{type(value).__name__} is not JSON")


def _error(status: int, message: str) -> dict:
    return {"error": {"status": status, "message": message}}


def serve(feature_store, host: str = HOST, port: int = PORT, max_rows: int = MAX_ROWS,
          max_body_bytes: int = MAX_BODY_BYTES, access_log=None, ready=print, api_key: str | None = None,
          warn=print) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully."""
    if host not in ("127.0.0.1", "localhost", "::1") and api_key is None:
        warn(f"warning: serving on {host}, beyond this machine, with no API key: anyone who reaches the port reads "
             f"and writes features; give --api-key-env VARIABLE")
    server = FeatureServer(feature_store, host, port, max_rows, max_body_bytes, access_log, api_key)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    thread = threading.Thread(target=server.serve_forever, name="featurestore-serve", daemon=True)
    thread.start()
    ready(f"Serving feature repo {feature_store.repo_path} (project {feature_store.project}) at {server.url}")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        ready("Stopped: requests in flight finished.")
