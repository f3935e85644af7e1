"""Feast 0.67's own servers over what featurestore wrote: `feast serve` answers from our online
store with our registry, and `feast ui`'s registry API lists our definitions. Feast runs in its
own virtualenv."""
from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta

from featurestore import FeatureStore
from featurestore.runtime.processes import free_port, stop_group
from featurestore.testing.feast import feast_env
from tests.feast.conftest import feast_repo

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

OURS = """
from datetime import timedelta
from featurestore import Aggregation, Entity, FeatureService, FeatureView, Field, FileSource, PushSource
from featurestore.types import Float64, Int64, String

driver = Entity(name="driver", join_keys=["driver_id"])
source = FileSource(name="src", path="data/stats.parquet", timestamp_field="ts")
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1),
                    source=PushSource(name="stats_push", batch_source=source),
                    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64),
                            Field(name="name", dtype=String)])
windows = FeatureView(name="windows", entities=[driver], ttl=timedelta(days=1), source=source,
                      aggregations=[Aggregation(column="rate", function="max", time_window=timedelta(hours=2))],
                      schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
service = FeatureService(name="svc", features=[stats])
"""


def started(feast, arguments: list[str], folder, probe: str):
    """Feast's server in its own process group, once `probe` answers."""
    process = subprocess.Popen([str(feast), "-m", "feast.cli.cli", *arguments], cwd=folder, env=feast_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(probe, timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read()[-3000:]) from None
            time.sleep(0.5)
    stop_group(process)
    raise AssertionError(f"{' '.join(arguments)} did not answer {probe} within 120 s")


def get_json(url: str, body: dict | None = None):
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_feast_serve_and_feast_ui_serve_what_featurestore_wrote(feast, online, repo_factory, tmp_path):
    repo = repo_factory(OURS, project="wire", online_store=online["ours"])
    store = FeatureStore(repo_path=repo)
    store.apply(None, partial=False, validate=False)
    store.push("stats_push", {"driver_id": [1, 2], "ts": [NOW, NOW], "rate": [0.5, 0.25], "name": ["a", "b"]})
    theirs = feast_repo(tmp_path / "feast", "wire", repo / "data" / "registry.db", online["feast"])

    port = free_port()
    server = started(feast, ["serve", "--host", "127.0.0.1", "--port", str(port)], theirs,
                     f"http://127.0.0.1:{port}/health")
    try:
        answer = get_json(f"http://127.0.0.1:{port}/get-online-features",
                          {"entities": {"driver_id": [1, 2, 3]}, "feature_service": "svc"})
    finally:
        stop_group(server)
    ours = store.get_online_features(store.get_feature_service("svc"), [{"driver_id": d} for d in (1, 2, 3)])
    names = answer["metadata"]["feature_names"]  # in Feast's order
    assert {name: result["values"] for name, result in zip(names, answer["results"])} == ours.to_dict()
    # driver 3 has nothing stored: NOT_FOUND from SQLite, but Feast's Redis store answers a missing
    # hash as present nulls (its own values too), so only the stored drivers' statuses are compared
    assert answer["results"][names.index("rate")]["statuses"][:2] == ours.statuses()["rate"][:2] == ["PRESENT"] * 2

    port = free_port()
    ui = started(feast, ["ui", "--host", "127.0.0.1", "--port", str(port)], theirs,
                 f"http://127.0.0.1:{port}/api/v1/projects")
    try:
        views = get_json(f"http://127.0.0.1:{port}/api/v1/feature_views?project=wire")
        entities = get_json(f"http://127.0.0.1:{port}/api/v1/entities?project=wire")
    finally:
        stop_group(ui)
    listed = views.get("featureViews", views)
    assert sorted(v["spec"]["name"] for v in listed) == ["stats", "windows"]
    assert [e["spec"]["name"] for e in entities.get("entities", entities)] == ["driver"]
