"""Feature repos for tests and benchmarks: the one place that writes feature_store.yaml.

    write_repo(tmp_path / "repo", DEFINITIONS, project="demo",
               online_store=redis_online_store(server.host, server.port))

Tests get it through the `repo_factory` fixture (tests/conftest.py); benchmarks and users'
own tests import it from here. Tests of feature_store.yaml itself (test_config.py, the yaml cases of
test_bad_input.py) write their broken YAML by hand on purpose.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path


def sqlite_online_store(path: str = "data/online_store.db") -> str:
    """The online_store section for a SQLite file (relative paths are relative to the repo)."""
    return f"online_store:\n  type: sqlite\n  path: {path}\n"


def redis_online_store(host: str, port: int, **settings) -> str:
    """The online_store section for a Redis server; settings such as password_env or socket_timeout_seconds."""
    lines = ["online_store:", "  type: redis", f"  host: {host}", f"  port: {port}"]
    lines += [f"  {key}: {value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def offline_store(spark_conf: dict | None = None, **settings) -> str:
    """The offline_store section: settings such as warehouse_dir, and spark_conf overrides."""
    lines = ["offline_store:", "  type: spark"] + [f"  {key}: {value}" for key, value in settings.items()]
    if spark_conf:
        lines += ["  spark_conf:"] + [f"    {key}: {json.dumps(str(value))}" for key, value in spark_conf.items()]
    return "\n".join(lines) + "\n"


def feature_store_yaml(project: str = "test_project", online_store: str = "",
                       registry: str | Path = "data/registry.db", offline: str = "") -> str:
    """feature_store.yaml's text. online_store is a section from sqlite_online_store or
    redis_online_store (default: SQLite at data/online_store.db); offline one from offline_store."""
    return f"project: {project}\nregistry: {registry}\n" + (online_store or sqlite_online_store()) + offline


def write_repo(path: Path, definitions: str | None = None, project: str = "test_project", online_store: str = "",
               registry: str | Path = "data/registry.db", offline: str = "") -> Path:
    """A feature repo folder: feature_store.yaml and, when given, the definitions as features.py."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "feature_store.yaml").write_text(feature_store_yaml(project, online_store, registry, offline))
    if definitions is not None:
        (path / "features.py").write_text(textwrap.dedent(definitions))
    return path
