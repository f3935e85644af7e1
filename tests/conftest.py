"""Shared fixtures: one SparkSession for the whole run (local[2], UTC, few shuffle
partitions, a temporary warehouse and Derby metastore), plus small repo helpers."""
from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

os.environ["TZ"] = "UTC"
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
import time  # noqa: E402

time.tzset()

pytest_plugins = ["tests.redis_server"]


@pytest.fixture(scope="session")
def spark_dir():
    path = Path(tempfile.mkdtemp(prefix="featurestore-spark-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def spark(spark_dir):
    """The one SparkSession of the test run, made by the library's own factory."""
    from featurestore.spark import get_spark

    os.environ["FEATURESTORE_DATA_DIR"] = str(spark_dir)
    session = get_spark(None, app_name="featurestore-tests", master="local[2]",
                        overrides={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"})
    yield session
    session.stop()


def write_repo(path: Path, definitions: str, project: str = "test_project", online_store: str = "") -> Path:
    """A feature repo folder with feature_store.yaml and one definitions file."""
    path.mkdir(parents=True, exist_ok=True)
    yaml = f"project: {project}\nregistry: data/registry.db\n"
    yaml += online_store or "online_store:\n  type: sqlite\n  path: data/online_store.db\n"
    (path / "feature_store.yaml").write_text(yaml)
    (path / "features.py").write_text(textwrap.dedent(definitions))
    return path


@pytest.fixture
def repo_factory(tmp_path):
    def make(definitions: str, name: str = "repo", **kwargs) -> Path:
        return write_repo(tmp_path / name, definitions, **kwargs)
    return make
