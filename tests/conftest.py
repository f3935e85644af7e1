"""Shared fixtures: one SparkSession for the whole run (local[2], UTC, few shuffle
partitions, a temporary warehouse and Derby metastore), and `repo_factory`, which writes
feature repos with featurestore.testing.repos."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ["TZ"] = "UTC"
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# A password Redis will refuse, for tests of a wrong password. Set before Spark starts:
# Python workers on the executors see only the environment the JVM was started with.
os.environ["FEATURESTORE_TEST_WRONG_REDIS_PASSWORD"] = "not-the-password"
# Each test repo would get a warm Spark of its own (a JVM kept for 15 minutes): CLI commands run
# by tests start Spark in their own process, except in tests/spark/test_warm_spark.py.
os.environ["FEATURESTORE_WARM_SPARK"] = "off"
import time

time.tzset()

from featurestore.testing.repos import write_repo  # noqa: E402
from tests.repo_helpers import online_store_section  # noqa: E402

pytest_plugins = ["tests.redis_server", "tests.postgres_server", "tests.browser", "tests.kafka_server"]


@pytest.fixture(scope="session")
def spark_dir():
    path = Path(tempfile.mkdtemp(prefix="featurestore-spark-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def shared_metastore_server():
    """The default catalog's Derby server (featurestore.runtime.metastore_server), kept in a folder of
    this run's and stopped at its end; it stops itself 30 s after its last user otherwise."""
    from featurestore.runtime import metastore_server

    folder = Path(tempfile.mkdtemp(prefix="featurestore-metastore-server-"))
    os.environ[metastore_server.DIR_ENV] = str(folder)
    os.environ[metastore_server.IDLE_ENV] = "30"
    yield folder
    metastore_server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def spark(spark_dir):
    """The one SparkSession of the test run, made by the library's own factory."""
    from featurestore.runtime.session import get_spark

    os.environ["FEATURESTORE_DATA_DIR"] = str(spark_dir)
    session = get_spark(None, app_name="featurestore-tests", master="local[2]",
                        overrides={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"})
    yield session
    session.stop()


@pytest.fixture
def repo_factory(tmp_path):
    """make(definitions, name="repo", project=..., online_store=..., registry=...) -> a repo under tmp_path."""
    def make(definitions: str | None, name: str = "repo", **kwargs) -> Path:
        return write_repo(tmp_path / name, definitions, **kwargs)
    return make


@pytest.fixture(params=["sqlite", "redis"])
def online_config(request):
    """The online_store section, once for SQLite and once for Redis."""
    return online_store_section(request, request.param)
