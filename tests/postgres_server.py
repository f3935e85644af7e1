"""A throwaway PostgreSQL server for the tests (featurestore.runtime.postgres on a free
loopback port), loaded as a plugin like tests/redis_server.py. Without PostgreSQL
installed its tests are skipped, except under CI=true, where they fail."""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from featurestore.runtime.postgres import find_bin_dir, start_postgres


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    if find_bin_dir() is None:
        message = "PostgreSQL is not installed (apt-get install postgresql)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI must run the PostgreSQL tests")
        pytest.skip(message)
    # not under pytest's tmp_path: its folders are private to root, and under root the server
    # runs as the `postgres` user, which must reach its cluster folder
    folder = Path(tempfile.mkdtemp(prefix="featurestore-postgres-"))
    server = start_postgres(folder)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres_server):
    """The URL of a new, empty database on the session's server (dropped afterwards)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)
