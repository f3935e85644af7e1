"""Feast itself, from PyPI, in a virtualenv of its own: the oracle that the compatibility tests
(tests/feast/) and the serving benchmark hold featurestore to, never an imitation of it.

    python = feast_python()          # created and filled once per user, then reused
    run_feast(python, ["feature-views", "list"], cwd=folder)

The virtualenv lives in the per-user cache (~/.cache/featurestore/bench/feast-VERSION), so a
second run starts at once; it is never imported into featurestore's own interpreter.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FEAST_VERSION = "0.67.0"


EXTRAS = "redis,grpcio"  # the Redis online store; grpcio for `feast ui`'s registry API


def feast_python() -> Path:
    """Feast's virtualenv's python, created and filled from PyPI (feast[redis,grpcio]) once."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "featurestore" / "bench"
    venv = base / f"feast-{FEAST_VERSION}"
    python = venv / "bin" / "python"
    marker = venv / f".installed-{EXTRAS.replace(',', '-')}"
    if not marker.exists():
        print(f"installing feast[{EXTRAS}]=={FEAST_VERSION} into {venv} (once)", file=sys.stderr)
        base.mkdir(parents=True, exist_ok=True)
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"feast[{EXTRAS}]=={FEAST_VERSION}"], check=True)
        marker.touch()
    return python


def feast_env() -> dict:
    """The environment Feast runs in: no usage reporting, none of featurestore's PYTHONPATH."""
    return dict(os.environ, FEAST_USAGE="False", PYTHONPATH="")


def run_feast(python: Path, arguments: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """`feast ARGUMENTS` in `cwd` (its feature_store.yaml), output captured, not checked."""
    return subprocess.run([str(python), "-m", "feast.cli.cli", *arguments], cwd=cwd, env=feast_env(),
                          capture_output=True, text=True, timeout=timeout)


def run_python(python: Path, code: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Python `code` run by Feast's interpreter in `cwd`, output captured, not checked."""
    return subprocess.run([str(python), "-c", code], cwd=cwd, env=feast_env(), capture_output=True, text=True,
                          timeout=timeout)
