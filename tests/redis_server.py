"""The pytest fixtures of a throwaway redis-server (featurestore.testing.redis).

Loaded as a plugin (`pytest_plugins = ["tests.redis_server"]`). Without redis-server
installed, the Redis tests are skipped, except in CI (CI=true) where they fail, so a
broken CI image cannot turn the Redis half of the suite silently green.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from featurestore.testing.redis import TEST_PASSWORD, RedisServer, find_redis_server, start_redis_server


def _start_or_skip(directory: Path, password: str | None = None) -> RedisServer:
    if find_redis_server() is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI must run the Redis tests")
        pytest.skip(message)
    return start_redis_server(directory, password)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A redis-server without a password for the whole test run."""
    server = _start_or_skip(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def clean_redis(redis_server):
    """The session's redis-server, emptied before the test."""
    redis_server.flushall()
    return redis_server


@pytest.fixture(scope="session")
def password_redis_server(tmp_path_factory):
    """A redis-server that requires TEST_PASSWORD (its config reads it from PASSWORD_ENV)."""
    server = _start_or_skip(tmp_path_factory.mktemp("redis-password"), password=TEST_PASSWORD)
    yield server
    server.stop()
