"""The feature server as an ASGI application: routing, limits, the API key, errors, metrics.

The endpoints themselves are featurestore.serving.api's plain functions; this module turns
HTTP into their calls and their answers (or errors) into JSON. Every answer is JSON but
GET /metrics (Prometheus text) and /docs (HTML; /openapi.json describes every endpoint). A
bad request gets a 4xx JSON error that says what and where, never a traceback, in Feast's
form (api.error_json: a JSON string of {"module", "class", "message", "status"}, which
Feast's clients raise as that feast.errors exception); an online store that fails
mid-request gives 503 and the server keeps serving.

An endpoint runs on the worker's event loop itself, not in a thread: a request is a few
hundred microseconds of Python and one store round trip, and handing it to a thread costs
more than it saves (docs/performance.md). Parallelism comes from worker processes.

Nothing secret is logged: the access log has method, path, status and time. With an API
key, every request but GET /health needs `Authorization: Bearer <key>` (401 otherwise),
compared in constant time.
"""
from __future__ import annotations

import base64
import hmac
import json
import re
import sys
import time
from datetime import datetime
from typing import NamedTuple

from featurestore import __version__, feature_logging
from featurestore.config import ServeConfig
from featurestore.context import Context
from featurestore.errors import (
    DefinitionChangedError,
    FeatureStoreError,
    NotFoundError,
    OnlineStoreError,
    RegistryError,
)
from featurestore.jsonio import encode
from featurestore.online.feast_time import MICROS_PER_SECOND
from featurestore.serving import api, materialize_endpoints, openapi
from featurestore.serving.metrics import Metrics
from featurestore.values import datetime_to_micros

MAX_ROWS = ServeConfig.max_rows  # feature_store.yaml's serve: defaults, the one place they are set
MAX_BODY_BYTES = ServeConfig.max_body_bytes

POST = {"/get-online-features": api.get_online_features, "/push": api.push,
        "/write-to-online-store": api.write_to_online_store,
        "/materialize": materialize_endpoints.materialize,  # coroutines: a Spark job each, awaited
        "/materialize-incremental": materialize_endpoints.materialize_incremental}
SLOW_POST = ("/materialize", "/materialize-incremental")
GET = ("/health", "/ready", "/metrics", "/openapi.json", "/docs")


class TimedStore:
    """An online store, with the time spent in it counted in the metrics."""

    def __init__(self, store, metrics: Metrics):
        self._store, self._metrics = store, metrics

    def online_read_many(self, project, requests):
        started = time.perf_counter()
        try:
            return self._store.online_read_many(project, requests)
        finally:
            self._metrics.store("read", time.perf_counter() - started)

    def online_write_flat(self, project, view, rows, generation=None):
        started = time.perf_counter()
        try:
            return self._store.online_write_flat(project, view, rows, generation)
        finally:
            self._metrics.store("write", time.perf_counter() - started)

    def __getattr__(self, name):
        return getattr(self._store, name)


class ServedRegistry:
    """The registry store as the server reads it: one that existed when serving began and is
    gone now (deleted, moved) is a fault of the server's, not an empty registry. A registry that
    cannot be read is answered 503 and flips /ready, so a load balancer stops sending traffic."""

    def __init__(self, store):
        self._store = store

    def load(self):
        state = self._store.load()
        if state.version == 0 and not self._store.exists():  # asked only when nothing was found: off the hot path
            raise RegistryError(f"the registry {getattr(self._store, 'path', self._store)} no longer exists (deleted "
                                f"or moved while serving); restore it, or run `featurestore apply`")
        return state

    def __getattr__(self, name):
        return getattr(self._store, name)


class FeatureApp:
    """One worker's application over a FeatureStore; `metrics` may be shared with other workers."""

    def __init__(self, feature_store, metrics: Metrics | None = None, max_rows: int = MAX_ROWS,
                 max_body_bytes: int = MAX_BODY_BYTES, api_key: str | None = None, access_log=None):
        self.metrics = metrics or Metrics()
        online = TimedStore(feature_store.online_store, self.metrics)
        self.context = Context(feature_store.config, ServedRegistry(feature_store.registry_store), lambda: online,
                               feature_store.context.spark_of)
        self.max_rows, self.max_body_bytes = max_rows, max_body_bytes
        # arrays and objects a body may hold: a list-valued column per row for up to 64 columns
        self.max_brackets = 64 * (max_rows + 1) + 1024
        self.api_key = api_key  # None: no check; else every request but /health needs "Bearer <key>"
        self.access_log = access_log
        self.fault = None  # the last unexpected error, until a request succeeds again: /ready says 503
        feature_logging.on_counts(self.metrics.log_rows)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket":
            await refuse_websocket(scope, receive, send)
            return
        if scope["type"] != "http":  # lifespan is off
            return
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        headers = dict(scope["headers"])
        close = False
        try:
            self._authorize(path, headers)
            if method == "POST":
                endpoint = self._post_endpoint(path)
                body = await self._body(headers, receive)
                if path in SLOW_POST:
                    status, payload = 200, await endpoint(self.context, body, _query(scope))
                else:
                    status, payload = 200, endpoint(self.context, body, self.max_rows)
            elif method in ("GET", "HEAD"):  # HEAD: GET's status and headers, no body
                status, payload = self._get(path)
            else:
                raise api.RequestError(405, f"{method} is not served; {path} takes "
                                            f"{'GET' if path in GET else 'POST with a JSON body'}")
        except api.RequestError as error:
            status, payload = error.status, _Error(error.status, str(error))
            close = error.status in (401, 413)  # an unread body, or a client without the key
        except OnlineStoreError as error:
            status, payload = 503, _Error(503, f"the online store failed: {error}")
        except RegistryError as error:  # the server's registry, not the request, is at fault
            status, payload = 503, _Error(503, f"the registry cannot be read: {error}")
        except DefinitionChangedError as error:  # an apply changed the view while the rows were written
            status, payload = 409, _Error(409, str(error))
        except NotFoundError as error:  # Feast's status and exception class for the kind of object
            status, payload = 404, _Error(404, str(error), error.feast_class)
        except FeatureStoreError as error:
            status, payload = 422, _Error(422, str(error))
        except Exception as error:  # still JSON, never a traceback to the client
            status, payload = 500, _Error(500, f"unexpected {type(error).__name__}; see the server's log")
            self.fault = f"the last request failed on the server: unexpected {type(error).__name__}"
            print(f"featurestore serve: unexpected {type(error).__name__} on {printable(method)} {printable(path)}: "
                  f"{printable(str(error))}", file=sys.stderr)
        if status == 200 and method == "POST":
            self.fault = None  # the server does its work again
        if isinstance(payload, _Error):
            data, kind = api.error_json(*payload), b"application/json"
        elif isinstance(payload, _Page):
            data, kind = payload.encode(), b"text/html; charset=utf-8"
        elif isinstance(payload, str):
            data, kind = payload.encode(), b"text/plain; version=0.0.4"
        else:
            data, kind = encode(payload, default=_json_value), b"application/json"
        response_headers = [(b"content-type", kind), (b"content-length", str(len(data)).encode())]
        if close:
            response_headers.append((b"connection", b"close"))
        seconds = time.perf_counter() - started
        # counted before the answer leaves: a client that reads /metrics right after sees its request
        self.metrics.request(path if path in POST or path in GET else "other", status, seconds)
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else data})
        if self.access_log is not None:
            print(f"{printable(method)} {printable(path)} {status} {seconds * 1000:.2f} ms", file=self.access_log,
                  flush=True)

    def _get(self, path: str):
        if path == "/health":
            return 200, {"status": "ok"}
        if path == "/ready":
            from featurestore.materialize import lost_data

            if self.fault is not None:
                return 503, {"status": "unavailable", "error": {"status": 503, "message": self.fault}}
            try:
                registry = self.context.registry  # read (cached by the file's identity): it must parse
                self.context.online_store.ping()
                if lost_data(self.context, list(registry.feature_views.values())):
                    raise OnlineStoreError("it lost what was materialized into it (a Redis restarted without "
                                           "persistence?); run `featurestore materialize-incremental` to write it "
                                           "again")
            except (OnlineStoreError, RegistryError) as error:
                return 503, {"status": "unavailable", "error": {"status": 503, "message": str(error)}}
            return 200, {"status": "ready"}
        if path == "/metrics":
            return 200, self.metrics.text()
        if path == "/openapi.json":
            return 200, openapi.document(__version__)
        if path == "/docs":
            return 200, _Page(openapi.docs_page(__version__))
        if path in POST:
            raise api.RequestError(405, f"{path} takes POST with a JSON body")
        raise api.RequestError(404, f"no endpoint {path}; the endpoints are {', '.join(sorted(POST))} "
                                    f"(POST) and {', '.join(GET)} (GET)")

    @staticmethod
    def _post_endpoint(path: str):
        endpoint = POST.get(path)
        if endpoint is None:
            if path in GET:
                raise api.RequestError(405, f"{path} takes GET")
            raise api.RequestError(404, f"no endpoint {path}; POST takes {', '.join(sorted(POST))}")
        return endpoint

    def _authorize(self, path: str, headers: dict) -> None:
        if self.api_key is None or path == "/health":
            return
        scheme, _, token = headers.get(b"authorization", b"").strip().partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.api_key.encode()):
            raise api.RequestError(401, "this server needs the header 'Authorization: Bearer <key>' with the key "
                                        "its serve.api_key_env variable holds")

    async def _body(self, headers: dict, receive):
        """The request's JSON body, refused past max_body_bytes before it is read (Content-Length)
        or while it is read (chunked)."""
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            raise api.RequestError(413, f"the body of {int(length):,} bytes exceeds this server's limit of "
                                        f"{self.max_body_bytes:,} (serve.max_body_bytes)")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise api.RequestError(400, "the client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise api.RequestError(413, f"the body exceeds this server's limit of {self.max_body_bytes:,} "
                                            f"bytes (serve.max_body_bytes)")
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        brackets = body.count(b"[") + body.count(b"{")
        if brackets > self.max_brackets:  # counted before parsing: a body of `[[],[],...]` parsed to 240 MB
            raise api.RequestError(413, f"the body holds {brackets:,} arrays and objects, more than a request of "
                                        f"{self.max_rows:,} rows (serve.max_rows) needs ({self.max_brackets:,})")
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise api.RequestError(400, f"the body is not JSON: {error}") from None
        except RecursionError:
            raise api.RequestError(400, "the body nests arrays or objects too deeply to be a request") from None
        if b"\\u" in body and _LONE_SURROGATE.search(body):
            raise api.RequestError(400, "the body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff not in a "
                                        "pair), which is no character; send valid Unicode")
        return parsed


# \\uD800-\\uDBFF not followed by \\uDC00-\\uDFFF, or the latter not preceded by the former
_LONE_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                             rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def _query(scope) -> dict[str, str]:
    """The query string's parameters (the last of a repeated one)."""
    from urllib.parse import parse_qsl

    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


def printable(text: str) -> str:
    """Client-sent text as it may appear in a log line: control characters, non-ASCII and lone
    surrogates written as escapes, so that a path holding "\\n" cannot forge a line."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if c.isascii() and c.isprintable() else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


async def refuse_websocket(scope, receive, send) -> None:
    """A WebSocket upgrade is not served: a 400 JSON answer (ASGI's denial response), where uvicorn
    answered a plain-text 500 when the application returned without a handshake."""
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        data = api.error_json(400, "this server answers HTTP requests, not WebSocket upgrades; send the request "
                                   "without 'Upgrade: websocket'")
        await send({"type": "websocket.http.response.start", "status": 400,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
        await send({"type": "websocket.http.response.body", "body": data})
    else:
        await send({"type": "websocket.close", "code": 1008})


def _json_value(value):
    """Values JSON has no type for, as Feast's server writes them: bytes in base64, a timestamp
    feature in epoch seconds (an integer, or a fraction where the time has microseconds, which
    Feast's client truncates to its whole seconds)."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime):
        micros = datetime_to_micros(value)
        return micros // MICROS_PER_SECOND if micros % MICROS_PER_SECOND == 0 else micros / MICROS_PER_SECOND
    raise TypeError(f"{type(value).__name__} is not JSON")


class _Page(str):
    """An HTML answer (/docs)."""


class _Error(NamedTuple):
    """An error answer, sent as api.error_json writes it."""
    status: int
    message: str
    feast_class: str = "FeastError"
