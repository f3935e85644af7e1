"""Feast 0.67's remote online store (its SDK with `online_store: {type: remote}`) against
`featurestore serve`: reads, writes of every feature type, and Feast's own exceptions for the
server's errors (featurestore/serving/api.py). Feast runs in its own virtualenv."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from featurestore import FeatureStore
from featurestore.runtime.processes import stop_group
from featurestore.testing.feast import run_python
from tests.feast.conftest import feast_repo

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

OURS = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, FileSource, PushSource
from featurestore.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, Map, String, UnixTimestamp

driver = Entity(name="driver", join_keys=["driver_id"])
source = FileSource(name="src", path="data/stats.parquet", timestamp_field="ts", created_timestamp_column="created_at")
schema = [Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float32), Field(name="score", dtype=Float64),
          Field(name="trips", dtype=Int64), Field(name="small", dtype=Int32), Field(name="name", dtype=String),
          Field(name="blob", dtype=Bytes), Field(name="ok", dtype=Bool), Field(name="seen", dtype=UnixTimestamp),
          Field(name="scores", dtype=Array(Float64)), Field(name="attrs", dtype=Map)]
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1),
                    source=PushSource(name="stats_push", batch_source=source), schema=schema)
doomed = FeatureView(name="doomed", entities=[driver], ttl=timedelta(days=1), source=source, schema=schema[:2])
"""

FEAST_CLIENT = """
import json
from datetime import datetime, timezone
import pandas as pd
from feast import FeatureStore
from feast.errors import FeatureViewNotFoundException

store = FeatureStore(repo_path=".")
now = datetime.fromisoformat({now!r})
store.write_to_online_store("stats", pd.DataFrame({{
    "driver_id": [2], "ts": [now], "created_at": [now], "rate": [0.25], "score": [2.5], "trips": [20], "small": [-2],
    "name": ["feast"], "blob": [None], "ok": [False], "seen": [now], "scores": [[3.0]],
    "attrs": [{{"tier": "gold"}}]}}))
features = ["stats:" + f for f in ("rate", "score", "trips", "small", "name", "ok", "seen", "scores")]
answer = store.get_online_features(features=features, entity_rows=[{{"driver_id": 1}}, {{"driver_id": 2}}]).to_dict()
try:
    store.get_online_features(features=["doomed:rate"], entity_rows=[{{"driver_id": 1}}])
    error = None
except FeatureViewNotFoundException as raised:
    error = [type(raised).__name__, str(raised)]
print(json.dumps({{"answer": answer, "error": error}}, default=str))
"""


def test_feasts_remote_client_reads_writes_and_gets_feasts_exceptions(feast, repo_factory, tmp_path):
    repo = repo_factory(OURS, project="wire")
    store = FeatureStore(repo_path=repo)
    store.apply(None, partial=False, validate=False)
    store.push("stats_push", {"driver_id": [1], "ts": [NOW], "created_at": [NOW], "rate": [0.5], "score": [1.5],
                              "trips": [10], "small": [-1], "name": ["ann"], "blob": [b"\x00"], "ok": [True],
                              "seen": [NOW], "scores": [[1.0, 2.0]], "attrs": [{"tier": "silver"}]})
    feasts_registry = tmp_path / "feast_registry.db"
    shutil.copy(repo / "data" / "registry.db", feasts_registry)  # Feast still knows "doomed" ...
    store.apply(None, objects_to_delete=[store.get_feature_view("doomed")], partial=True, validate=False)  # ... we do not
    server = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "serve", "--port", "0", "--repo", str(repo)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = server.stdout.readline()
        assert " at http://127.0.0.1:" in line, server.stderr.read()
        url = line.strip().rsplit(" at ", 1)[1]
        theirs = feast_repo(tmp_path / "feast", "wire", feasts_registry,
                            f"online_store:\n  type: remote\n  path: {url}\n")
        result = run_python(feast, FEAST_CLIENT.format(now=NOW.isoformat()), theirs)
        assert result.returncode == 0, result.stderr[-3000:]
        seen = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        stop_group(server)
    assert seen["error"] == ["FeatureViewNotFoundException",
                             "feature reference 'doomed:rate': no feature view 'doomed' in project 'wire'. Run "
                             "`featurestore feature-views list` to see them"]
    answer = seen["answer"]
    assert (answer["driver_id"], answer["rate"], answer["score"], answer["trips"]) == ([1, 2], [0.5, 0.25],
                                                                                       [1.5, 2.5], [10, 20])
    assert (answer["small"], answer["name"], answer["ok"], answer["scores"]) == ([-1, -2], ["ann", "feast"],
                                                                                [True, False], [[1.0, 2.0], [3.0]])
    # Feast's client sends timestamps as epoch seconds and maps as JSON text (its own client cannot send
    # bytes: requests' JSON refuses them, so that column goes as null)
    ours = store.get_online_features(["stats:blob", "stats:seen", "stats:attrs"], [{"driver_id": 2}]).to_dict()
    assert ours == {"driver_id": [2], "blob": [None], "seen": [NOW], "attrs": [{"tier": "gold"}]}
