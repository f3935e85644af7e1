"""A throwaway redis-server for tests and benchmarks: on a free loopback port, in a
folder of its own, persistence off; stopped by RedisServer.stop(). The pytest fixtures
built on it are in the test suite (tests/redis_server.py)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from featurestore.config import RedisOnlineStoreConfig
from featurestore.runtime.processes import free_port

TEST_PASSWORD = "correct-horse-battery"
PASSWORD_ENV = "FEATURESTORE_TEST_REDIS_PASSWORD"


def find_redis_server() -> str | None:
    return shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server")
                                            else None)


def send_command(host: str, port: int, *args: str | bytes, password: str | None = None,
                 timeout: float = 2.0) -> bytes:
    """Send one command over RESP and return the raw first reply line, without a client library."""
    def encode(*words: str | bytes) -> bytes:
        parts = [f"*{len(words)}\r\n".encode()]
        for word in words:
            data = word.encode() if isinstance(word, str) else word
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(parts)

    with socket.create_connection((host, port), timeout=timeout) as connection:
        reader = connection.makefile("rb")
        if password is not None:
            connection.sendall(encode("AUTH", password))
            reply = reader.readline()
            if not reply.startswith(b"+OK"):
                raise RuntimeError(f"AUTH failed on {host}:{port}: {reply!r}")
        connection.sendall(encode(*args))
        return reader.readline()


@dataclass
class RedisServer:
    """A running redis-server; `config()` gives a RedisOnlineStoreConfig pointing at it."""
    host: str
    port: int
    password: str | None
    process: subprocess.Popen
    log_file: Path

    def config(self, **overrides) -> RedisOnlineStoreConfig:
        if self.password is not None:
            overrides.setdefault("password_env", PASSWORD_ENV)
        return RedisOnlineStoreConfig(host=self.host, port=self.port, **overrides)

    def command(self, *args: str | bytes) -> bytes:
        return send_command(self.host, self.port, *args, password=self.password)

    def flushall(self) -> None:
        reply = self.command("FLUSHALL")
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL on {self.host}:{self.port} answered {reply!r}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_redis_server(directory: Path, password: str | None = None, timeout: float = 10.0) -> RedisServer:
    """Start redis-server in `directory` on a free port and wait until it answers PING."""
    executable = find_redis_server()
    if executable is None:
        raise FileNotFoundError("redis-server is not installed; on Debian or Ubuntu: "
                                "apt-get install redis-server")
    directory.mkdir(parents=True, exist_ok=True)
    last_log = ""
    for _attempt in range(3):  # another process may grab the free port before the server binds it
        port = free_port()
        log_file = directory / f"redis-{port}.log"
        arguments = [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", str(directory), "--logfile", str(log_file)]
        if password is not None:
            arguments += ["--requirepass", password]
        process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        server = RedisServer("127.0.0.1", port, password, process, log_file)
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if server.command("PING").startswith(b"+PONG"):
                    return server
            except OSError:
                pass  # not listening yet
            time.sleep(0.02)
        server.stop()
        last_log = log_file.read_text() if log_file.exists() else ""
    raise RuntimeError(f"redis-server did not answer PING within {timeout:g} s; its log:\n{last_log}")
