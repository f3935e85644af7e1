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


def feast_repo(folder: Path, project: str, registry: Path, online_store: Path) -> Path:
    """A folder whose feature_store.yaml makes Feast read `registry` and the SQLite `online_store`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feature_store.yaml").write_text(
        f"project: {project}\nregistry: {registry}\nprovider: local\n"
        f"online_store:\n  type: sqlite\n  path: {online_store}\nentity_key_serialization_version: 3\n")
    return folder
