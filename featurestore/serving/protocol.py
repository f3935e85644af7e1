"""The HTTP connection as the feature server reads it: uvicorn's httptools protocol with every
limit a client could otherwise stretch, and every refusal a JSON error.

uvicorn bounds the idle time between requests (keep-alive) and nothing else: a client
could hold a connection forever by sending a header a byte a minute (slowloris: 20,000 of
them starved every other client), send a 150 MB header (read whole, stalling the worker),
or trickle a body. Here, per connection:

    limit                          answer                      setting
    headers within HEADER_SECONDS   408 and close               from the first byte of a request
    header bytes <= MAX_HEADER_BYTES 431 and close              counted as they arrive
    headers <= MAX_HEADERS          431 and close
    body within BODY_SECONDS        408 and close               from the end of the headers
    connections <= MAX_CONNECTIONS  503 and close               per worker, at accept; fewer where
                                                                the open-file limit is lower
    a malformed request             400 JSON (uvicorn's is plain text)

A connection that sends nothing is a request that has not begun: it gets HEADER_SECONDS
too. None of these reaches the application, so none needs an API key to be refused.

On a stop signal, uvicorn closes idle kept-alive connections at once, so a client that sent
its next request at that moment got a reset (9 of 13,500 under load). Here an idle
connection stays open DRAIN_SECONDS: a request arriving meanwhile is answered with
`Connection: close`, and the client knows to reconnect (elsewhere) before anything is lost.
"""
from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from featurestore.serving.api import error_json

HEADER_SECONDS = 10.0
BODY_SECONDS = 30.0
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 100
DRAIN_SECONDS = 1.0
MAX_CONNECTIONS = 15_000  # above the 10,000 slow connections of the test under attack

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large",
            503: b"Service Unavailable"}


def allow_connections() -> int:
    """Raise this process's open-file limit to its hard limit (each connection is a file) and
    return how many connections a worker accepts: MAX_CONNECTIONS, or fewer where the limit
    leaves less room (256 files kept for the stores, logs and the registry)."""
    import resource

    global _connection_limit
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, MAX_CONNECTIONS + 256)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    _connection_limit = max(16, min(MAX_CONNECTIONS, soft - 256))
    return _connection_limit


_connection_limit = MAX_CONNECTIONS


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines and header size limits."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._header_bytes = 0
        self._reading_headers = True
        self._deadline = None
        self._refused = False
        self._draining = False
        if len(self.connections) > _connection_limit:
            self._refuse(503, f"this worker holds its limit of {_connection_limit:,} connections; retry shortly")
            return
        self._arm(HEADER_SECONDS, 408, f"the request's headers did not arrive within {HEADER_SECONDS:g} s")

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._reading_headers:
            if self._deadline is None:  # the first bytes of a request on a kept-alive connection
                self._arm(HEADER_SECONDS, 408, f"the request's headers did not arrive within {HEADER_SECONDS:g} s")
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES + 256 * 1024:  # far past the limit: stop reading at once
                self._refuse(431, f"the request's headers exceed {MAX_HEADER_BYTES:,} bytes")
                return
        super().data_received(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if len(self.headers) > MAX_HEADERS:
            self._refuse(431, f"the request has more than {MAX_HEADERS} headers")
        elif sum(len(n) + len(v) for n, v in self.headers) > MAX_HEADER_BYTES:
            self._refuse(431, f"the request's headers exceed {MAX_HEADER_BYTES:,} bytes")

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._reading_headers = False
        self._disarm()
        self._arm(BODY_SECONDS, 408, f"the request's body did not arrive within {BODY_SECONDS:g} s")
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # stopping: this answer says Connection: close

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if not self._refused:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        self._reading_headers, self._header_bytes = True, 0  # the next request's deadline starts with its bytes
        super().on_response_complete()

    def shutdown(self) -> None:
        """A stop signal: finish what is in flight, answer what arrives within DRAIN_SECONDS with
        Connection: close, then close."""
        self._draining = True
        if self.cycle is None or self.cycle.response_complete:
            self.loop.call_later(DRAIN_SECONDS, self._close_if_idle)
        else:
            self.cycle.keep_alive = False

    def _close_if_idle(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
        else:
            self.cycle.keep_alive = False  # a request that arrived during the drain: closed after its answer

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, f"malformed HTTP request: {msg}")

    def _arm(self, seconds: float, status: int, message: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._refuse, status, message)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()
            self._deadline = None

    def _refuse(self, status: int, message: str) -> None:
        """Answer with a JSON error and close, whatever the request's state."""
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the application's receive() sees a disconnect
            self.cycle.message_event.set()
        if self.cycle is None or not self.cycle.response_started:
            body = error_json(status, message)
            self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                                 b"connection: close\r\n\r\n%s" % (status, _REASONS[status], len(body), body))
        self.transport.close()
