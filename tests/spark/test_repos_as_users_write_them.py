"""Repos as users write them, run in fresh processes that imported nothing before the repo.

The repo imports pandas and numpy at the top (as Feast's templates do), keeps a helper in a
sibling module and settings in a subpackage with relative imports and a dataclass, has an
`if __name__ == "__main__":` block and a pandas-mode on-demand view. Each command runs in
its own interpreter, so nothing the test process imported can hide a loader that breaks
numpy ("cannot load module more than once per process").
"""
import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from featurestore.runtime.processes import free_port
from featurestore.testing.repos import write_repo

pytestmark = pytest.mark.spark

NOW = datetime.now(UTC).replace(microsecond=0)

DEFINITIONS = '''
import numpy as np
import pandas as pd

from featurestore import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource
from featurestore import on_demand_feature_view
from featurestore.types import Float64, Int64

from helpers import source_path
from team.settings import SETTINGS

driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=SETTINGS.ttl, schema=[Field(name="rate", dtype=Float64)],
                    source=FileSource(name="stats_source", path=source_path(), timestamp_field="event_timestamp"))
request = RequestSource(name="request", schema=[Field(name="bonus", dtype=Float64)])


@on_demand_feature_view(sources=[stats, request], schema=[Field(name="boosted", dtype=Float64)])
def boosted(inputs: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"boosted": np.round(inputs["rate"] * 10 + inputs["bonus"], 6)})


ranking = FeatureService(name="ranking", features=[stats, boosted])

if __name__ == "__main__":
    raise SystemExit("script code must not run when the repo is loaded")
'''

SETTINGS = '''
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .units import DAY


@dataclass(frozen=True)
class Settings:
    ttl: timedelta = DAY


SETTINGS = Settings()
'''


def run(repo, *argv, timeout=300):
    """One featurestore command in a fresh interpreter (nothing imported before it)."""
    result = subprocess.run([sys.executable, "-m", "featurestore.cli", "--repo", str(repo), *argv],
                            capture_output=True, text=True, timeout=timeout, env={**os.environ, "TZ": "UTC"})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    import pandas as pd

    folder = write_repo(tmp_path_factory.mktemp("users") / "repo", textwrap.dedent(DEFINITIONS))
    (folder / "helpers.py").write_text("def source_path():\n    return 'data/stats.parquet'\n")
    (folder / "team").mkdir()
    (folder / "team" / "__init__.py").write_text("")
    (folder / "team" / "settings.py").write_text(textwrap.dedent(SETTINGS))
    (folder / "team" / "units.py").write_text("from datetime import timedelta\n\nDAY = timedelta(days=1)\n")
    (folder / "data").mkdir(exist_ok=True)
    pd.DataFrame({"driver_id": [1, 1, 2], "rate": [0.1, 0.2, 0.5],
                  "event_timestamp": pd.to_datetime([NOW - timedelta(hours=3), NOW - timedelta(hours=1),
                                                     NOW - timedelta(hours=2)], utc=True)}
                 ).to_parquet(folder / "data" / "stats.parquet")
    return folder


def test_apply_plan_materialize_read_and_serve_in_fresh_processes(repo):
    assert "5 to add, 0 to change, 0 to delete." in run(repo, "apply")
    assert run(repo, "plan").strip() == "No changes: the registry already matches the definitions."
    run(repo, "materialize-incremental", (NOW + timedelta(seconds=1)).isoformat())
    out = json.loads(run(repo, "get-online-features", "--feature-service", "ranking",
                         "-e", "driver_id=1,bonus=1", "-e", "driver_id=2,bonus=0"))
    assert out["values"] == {"driver_id": [1, 2], "rate": [0.2, 0.5], "boosted": [3.0, 5.0]}

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "--repo", str(repo), "serve",
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = json.dumps({"feature_service": "ranking", "entities": {"driver_id": [2], "bonus": [2.0]}}).encode()
        answer = _post_when_up(f"http://127.0.0.1:{port}/get-online-features", body, server)
        assert _values(answer) == {"driver_id": [2], "rate": [0.5], "boosted": [7.0]}
    finally:
        server.terminate()
        server.wait(timeout=30)


def _values(answer: dict) -> dict:
    """Feast's response shape: metadata.feature_names beside results[i].values."""
    names = answer["metadata"]["feature_names"]
    return {name: result["values"] for name, result in zip(names, answer["results"])}


def _post_when_up(url, body, server, attempts=200):
    import time

    for _ in range(attempts):
        if server.poll() is not None:
            raise AssertionError(server.stdout.read())
        try:
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not answer")
