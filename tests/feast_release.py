"""Feast's own release from PyPI, for tests that hold us to what Feast ships (its `feast init`
templates), never a copy kept in this repository.

The wheel is downloaded once per user (`pip download feast==VERSION --no-deps`, into
~/.cache/featurestore/feast-wheel) and read as a zip: nothing of Feast is imported. Without
network the tests that need it are skipped, except under CI=true, where that is a failure.
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from featurestore.testing.feast import FEAST_VERSION


def feast_wheel() -> Path:
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "featurestore" / "feast-wheel"
    wheel = folder / f"feast-{FEAST_VERSION}-py3-none-any.whl"
    if not wheel.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--dest", str(folder),
                                 f"feast=={FEAST_VERSION}"], capture_output=True, text=True, timeout=600)
        if result.returncode != 0 or not wheel.is_file():
            message = f"cannot download feast=={FEAST_VERSION} from PyPI: {result.stderr.strip()[-500:]}"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
    return wheel


def template_files(template: str) -> dict[str, str]:
    """The files of `feast init -t TEMPLATE`'s feature_repo/, by name, as the wheel holds them."""
    prefix = f"feast/templates/{template}/feature_repo/"
    with zipfile.ZipFile(feast_wheel()) as wheel:
        return {name[len(prefix):]: wheel.read(name).decode("utf-8") for name in wheel.namelist()
                if name.startswith(prefix) and "/" not in name[len(prefix):]}


def renamed(text: str) -> str:
    """Feast's text with `feast` replaced by `featurestore` in imports, the one change a user makes."""
    return "\n".join(line.replace("from feast", "from featurestore").replace("import feast", "import featurestore")
                     for line in text.splitlines()) + "\n"
