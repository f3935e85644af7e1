"""What a client controls, bounded by the feature server's connection protocol
(featurestore.serving.protocol): header and body deadlines, header size and count, malformed
requests, each answered with a JSON error and a closed connection, before the application
(or its API key check) sees anything. Deadlines are shortened for the test."""
import socket
import time

import pytest

from featurestore.serving import protocol
from featurestore.serving.server import FeatureServer
from featurestore.store import FeatureStore
from featurestore.testing.repos import write_repo
from tests.http_helpers import parsed


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setattr(protocol, "HEADER_SECONDS", 0.5)
    monkeypatch.setattr(protocol, "BODY_SECONDS", 0.5)
    store = FeatureStore(write_repo(tmp_path / "repo"))
    running = FeatureServer(store, port=0).start()
    yield running.server_address[:2]
    running.stop()


def exchange(address, *parts, pause=0.0):
    """Send the parts (pausing between them), then read the whole answer until the server closes."""
    with socket.create_connection(address, timeout=10) as connection:
        for part in parts:
            try:
                connection.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(pause)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), parsed(body)["error"]["message"]


def test_headers_that_never_end_are_cut_at_the_deadline(server):
    started = time.monotonic()
    status, message = exchange(server, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert (status, message) == (408, "the request's headers did not arrive within 0.5 s")
    assert time.monotonic() - started < 5


def test_a_connection_that_sends_nothing_is_closed_at_the_deadline(server):
    assert exchange(server)[0] == 408


def test_a_body_that_never_ends_is_cut_at_the_deadline(server):
    status, message = exchange(server, b"POST /push HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\"")
    assert (status, message) == (408, "the request's body did not arrive within 0.5 s")


def test_oversized_or_too_many_headers_are_431(server):
    status, message = exchange(server, b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
    assert (status, message) == (431, "the request's headers exceed 65,536 bytes")
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(150))
    status, message = exchange(server, b"GET /health HTTP/1.1\r\n" + many + b"\r\n")
    assert (status, message) == (431, "the request has more than 100 headers")


def test_a_malformed_request_is_a_json_400(server):
    status, message = exchange(server, b"NOT HTTP AT ALL\r\n\r\n")
    assert status == 400 and message.startswith("malformed HTTP request")


def test_a_well_formed_request_still_answers(server):
    with socket.create_connection(server, timeout=10) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert connection.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(1.0)  # kept alive past the header deadline: the next request's clock starts with its bytes
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert connection.recv(65536).startswith(b"HTTP/1.1 200")


def test_a_websocket_upgrade_is_a_json_400(server):
    """It was a plain-text 500 ("ASGI callable returned without completing handshake")."""
    status, message = exchange(server, b"GET /health HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade"
                                       b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13"
                                       b"\r\n\r\n")
    assert status == 400 and message.startswith("this server answers HTTP requests, not WebSocket upgrades")
