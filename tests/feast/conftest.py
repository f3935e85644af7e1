"""Fixtures of the Feast compatibility tests: Feast 0.67 from PyPI in its own virtualenv
(featurestore.testing.feast), and folders whose feature_store.yaml points Feast at a repo's
registry and online store. Without network the tests are skipped, except under CI=true,
where a Feast that cannot be installed is a failure."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from featurestore.testing.feast import feast_python
from featurestore.testing.repos import redis_online_store, sqlite_online_store


@pytest.fixture(scope="session")
def feast() -> Path:
    """Feast's python."""
    try:
        return feast_python()
    except (subprocess.CalledProcessError, OSError) as error:
        message = f"cannot install Feast from PyPI into its virtualenv: {error}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(params=["sqlite", "redis"])
def online(request, tmp_path) -> dict:
    """The online store both sides use: {"kind", "ours": our yaml section, "feast": Feast's},
    once a SQLite file and once the session's (emptied) redis-server."""
    if request.param == "sqlite":
        path = tmp_path / "shared" / "online_store.db"
        path.parent.mkdir()
        return {"kind": "sqlite", "ours": sqlite_online_store(str(path)),
                "feast": f"online_store:\n  type: sqlite\n  path: {path}\n"}
    server = request.getfixturevalue("clean_redis")
    return {"kind": "redis", "ours": redis_online_store(server.host, server.port),
            "feast": f"online_store:\n  type: redis\n  connection_string: {server.host}:{server.port}\n"}


def feast_repo(folder: Path, project: str, registry: Path, online_section: str) -> Path:
    """A folder whose feature_store.yaml makes Feast read `registry` and the online store of
    `online_section` (an online_store: section of Feast's)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feature_store.yaml").write_text(
        f"project: {project}\nregistry: {registry}\nprovider: local\n{online_section}"
        f"entity_key_serialization_version: 3\n")
    return folder


def sqlite_section(path: Path) -> str:
    return f"online_store:\n  type: sqlite\n  path: {path}\n"
