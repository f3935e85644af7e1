"""Feast 0.67 reads the registry featurestore writes, and featurestore reads the one Feast writes
(featurestore/registry/feast_format.py). Feast runs in its own virtualenv, never in this process."""
from __future__ import annotations

import json
import subprocess
import sys

from featurestore import FeatureStore
from featurestore.testing.feast import run_feast, run_python
from tests.feast.conftest import feast_repo, sqlite_section

OURS = """
from datetime import timedelta
from featurestore import (Aggregation, DeltaLoggingDestination, Entity, FeatureService, FeatureView, Field,
                          FileLoggingDestination, FileSource, LoggingConfig, PushSource, RequestSource)
from featurestore.on_demand_feature_view import on_demand_feature_view
from featurestore.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, String, Struct, UnixTimestamp

driver = Entity(name="driver", join_keys=["driver_id"], description="a driver")
stats_source = FileSource(name="stats_source", path="data/stats.parquet", timestamp_field="event_timestamp",
                          created_timestamp_column="created")
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1), source=stats_source, tags={"team": "x"},
                    schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32),
                            Field(name="trips", dtype=Int64), Field(name="name", dtype=String),
                            Field(name="scores", dtype=Array(Float64)), Field(name="seen", dtype=UnixTimestamp),
                            Field(name="blob", dtype=Bytes), Field(name="ok", dtype=Bool),
                            Field(name="small", dtype=Int32),
                            Field(name="person", dtype=Struct({"name": String, "scores": Array(Float64)}))])
pushed = FeatureView(name="pushed", entities=[driver], ttl=timedelta(days=1),
                     source=PushSource(name="stats_push", batch_source=stats_source),
                     schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32)])
windows = FeatureView(name="windows", entities=[driver], ttl=timedelta(days=2), source=stats_source,
                      aggregations=[Aggregation(column="conv_rate", function="mean", time_window=timedelta(hours=1))],
                      schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32)])
request = RequestSource(name="request", schema=[Field(name="bonus", dtype=Float64)])


@on_demand_feature_view(sources=[stats, request], schema=[Field(name="adjusted", dtype=Float64)], mode="python")
def adjusted(inputs):
    return {"adjusted": [c + b for c, b in zip(inputs["conv_rate"], inputs["bonus"])]}


service = FeatureService(name="svc", features=[stats[["conv_rate", "trips"]], adjusted])
logged_file = FeatureService(name="logged_file", features=[stats[["trips"]]], logging_config=LoggingConfig(
    destination=FileLoggingDestination(path="logs"), sample_rate=0.5))
logged_delta = FeatureService(name="logged_delta", features=[stats[["trips"]]], logging_config=LoggingConfig(
    destination=DeltaLoggingDestination(table_name="trips_log"), max_mismatch_rate=0.0))
"""

FEAST_LISTS = """
import json
from feast import FeatureStore
store = FeatureStore(repo_path=".")
print(json.dumps({
    "entities": [(e.name, e.join_key, str(e.value_type)) for e in store.list_entities()],
    "views": {v.name: {"features": [(f.name, str(f.dtype)) for f in v.features],
                       "entity_columns": [c.name for c in v.entity_columns], "ttl": v.ttl.total_seconds(),
                       "source": v.batch_source.name, "stream_source": getattr(v.stream_source, "name", None),
                       "tags": v.tags} for v in store.list_feature_views()},
    "on_demand": {v.name: {"features": [(f.name, str(f.dtype)) for f in v.features],
                           "views": sorted(v.source_feature_view_projections),
                           "requests": sorted(v.source_request_sources)} for v in store.list_on_demand_feature_views()},
    "services": {s.name: [(p.name, [f.name for f in p.features]) for p in s.feature_view_projections]
                 for s in store.list_feature_services()},
    "sources": sorted((d.name, type(d).__name__) for d in store.list_data_sources()),
    "logging": {s.name: s.logging_config and (type(s.logging_config.destination).__name__,
                                              s.logging_config.destination.path, s.logging_config.sample_rate)
                for s in store.list_feature_services()},
}))
"""


def test_feasts_sdk_and_cli_list_what_featurestore_applied(feast, repo_factory, tmp_path):
    repo = repo_factory(OURS, project="wire")
    FeatureStore(repo_path=repo).apply(None, partial=False, validate=False)
    theirs = feast_repo(tmp_path / "feast", "wire", repo / "data" / "registry.db",
                        sqlite_section(repo / "data" / "online_store.db"))

    listed = run_python(feast, FEAST_LISTS, theirs)
    assert listed.returncode == 0, listed.stderr[-3000:]
    seen = json.loads(listed.stdout.strip().splitlines()[-1])
    assert seen["entities"] == [["driver", "driver_id", "ValueType.INT64"]]
    assert seen["views"] == {
        "stats": {"features": [["conv_rate", "Float32"], ["trips", "Int64"], ["name", "String"],
                               ["scores", "Array(Float64)"], ["seen", "UnixTimestamp"], ["blob", "Bytes"],
                               ["ok", "Bool"], ["small", "Int32"],
                               ["person", "Struct({name: String, scores: Array(Float64)})"]],
                  "entity_columns": ["driver_id"], "ttl": 86400.0, "source": "stats_source", "stream_source": None,
                  "tags": {"team": "x"}},
        "pushed": {"features": [["conv_rate", "Float32"]], "entity_columns": ["driver_id"], "ttl": 86400.0,
                   "source": "stats_source", "stream_source": "stats_push", "tags": {}},
        # an aggregating view shows the features it serves
        "windows": {"features": [["conv_rate_mean_1h", "Float64"]], "entity_columns": ["driver_id"],
                    "ttl": 172800.0, "source": "stats_source", "stream_source": None, "tags": {}},
    }
    assert seen["on_demand"] == {"adjusted": {"features": [["adjusted", "Float64"]], "views": ["stats"],
                                              "requests": ["request"]}}
    assert seen["services"] == {"svc": [["stats", ["conv_rate", "trips"]], ["adjusted", ["adjusted"]]],
                                "logged_file": [["stats", ["trips"]]], "logged_delta": [["stats", ["trips"]]]}
    # Feast's file destination is Feast's; a Delta table is featurestore's alone, which Feast does not see
    assert seen["logging"] == {"svc": None, "logged_file": ["FileLoggingDestination", "logs", 0.5],
                               "logged_delta": None}
    assert seen["sources"] == [["request", "RequestSource"], ["stats_push", "PushSource"],
                               ["stats_source", "FileSource"]]

    views = run_feast(feast, ["feature-views", "list"], theirs)
    assert views.returncode == 0, views.stderr[-3000:]
    assert [line.split()[0] for line in views.stdout.splitlines()[1:]] == ["pushed", "stats", "windows", "adjusted"]
    for command in (["entities", "list"], ["feature-services", "list"], ["data-sources", "list"],
                    ["feature-views", "describe", "windows"]):
        result = run_feast(feast, command, theirs)
        assert result.returncode == 0, (command, result.stderr[-3000:])

    # and featurestore still reads every definition, with what Feast has no field for
    store = FeatureStore(repo_path=repo)
    assert store.get_feature_view("windows").aggregations[0].name == "conv_rate_mean_1h"
    assert store.get_on_demand_feature_view("adjusted").udf_code.file == "features.py"
    assert repr(store.get_feature_service("logged_delta").logging_config) == \
        "LoggingConfig(destination=DeltaLoggingDestination(table_name='trips_log'), sample_rate=1.0, max_mismatch_rate=0.0)"


FEAST_DEFINITIONS = """
from datetime import timedelta
from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, RequestSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float32, Float64, Int64, String

driver = Entity(name="driver", join_keys=["driver_id"], description="a driver")
source = FileSource(name="stats_source", path="data/stats.parquet", timestamp_field="event_timestamp",
                    created_timestamp_column="created")
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1), source=source, tags={"team": "x"},
                    schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32),
                            Field(name="trips", dtype=Int64), Field(name="name", dtype=String)])
pushed = FeatureView(name="pushed", entities=[driver], ttl=timedelta(hours=2),
                     source=PushSource(name="stats_push", batch_source=source),
                     schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32)])
request = RequestSource(name="request", schema=[Field(name="bonus", dtype=Float64)])


@on_demand_feature_view(sources=[stats, request], schema=[Field(name="adjusted", dtype=Float64)], mode="python")
def adjusted(inputs):
    return {"adjusted": [c + b for c, b in zip(inputs["conv_rate"], inputs["bonus"])]}


service = FeatureService(name="svc", features=[stats[["conv_rate"]], adjusted])
"""

STATS_PARQUET = """
from datetime import datetime, timezone
import pandas as pd
when = datetime(2026, 1, 1, tzinfo=timezone.utc)
pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [when, when], "created": [when, when],
              "conv_rate": [0.5, 0.25], "trips": [3, 4], "name": ["a", "b"]}).to_parquet("data/stats.parquet")
"""


def test_featurestore_reads_the_registry_feast_applied(feast, repo_factory, tmp_path):
    theirs = feast_repo(tmp_path / "feast", "fr", tmp_path / "feast" / "data" / "registry.db",
                        sqlite_section(tmp_path / "feast" / "data" / "online_store.db"))
    (theirs / "data").mkdir()
    (theirs / "definitions.py").write_text(FEAST_DEFINITIONS)
    assert run_python(feast, STATS_PARQUET, theirs).returncode == 0
    applied = run_feast(feast, ["apply"], theirs)
    assert applied.returncode == 0, applied.stderr[-3000:]

    ours = repo_factory(None, project="fr", registry=theirs / "data" / "registry.db")
    store = FeatureStore(repo_path=ours)
    stats = store.get_feature_view("stats")
    assert [(f.name, repr(f.dtype)) for f in stats.features] == [("conv_rate", "Float32"), ("trips", "Int64"),
                                                                 ("name", "String")]
    assert (stats.join_keys, stats.ttl.total_seconds(), stats.tags) == (["driver_id"], 86400.0, {"team": "x"})
    assert (stats.source.path, stats.source.timestamp_field, stats.source.created_timestamp_column) == (
        "data/stats.parquet", "event_timestamp", "created")
    pushed = store.get_feature_view("pushed")
    assert (pushed.push_source, pushed.source.name, pushed.ttl.total_seconds()) == ("stats_push", "stats_source", 7200.0)
    adjusted = store.get_on_demand_feature_view("adjusted")
    assert [p.view_name for p in adjusted.source_projections] == ["stats"]
    assert [f.name for f in adjusted.request_fields] == ["bonus"] and adjusted.mode == "python"
    assert store.get_feature_service("svc").feature_refs() == ["stats:conv_rate", "adjusted:adjusted"]
    assert sorted(store.list_data_sources(), key=lambda s: s.name)[0].name == "stats_source"
    listed = subprocess.run([sys.executable, "-m", "featurestore.cli", "feature-views", "list", "--repo", str(ours)],
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["pushed\tentities=driver features=1 ttl=2:00:00",
                                          "stats\tentities=driver features=3 ttl=1 day, 0:00:00"]


def test_feasts_sql_registry_reads_a_featurestore_sql_registry(feast, repo_factory, tmp_path):
    database = tmp_path / "registry.sqlite"
    repo = repo_factory(OURS, project="wire", registry=f"\n  registry_type: sql\n  path: sqlite:///{database}")
    store = FeatureStore(repo_path=repo)
    store.apply(None, partial=False, validate=False)
    store.apply(None, objects_to_delete=[store.get_feature_view("pushed")], partial=True, validate=False)  # version 2
    theirs = tmp_path / "feast"
    theirs.mkdir()
    (theirs / "feature_store.yaml").write_text(
        f"project: wire\nregistry:\n  registry_type: sql\n  path: sqlite:///{database}\n  cache_ttl_seconds: 0\n"
        f"provider: local\n{sqlite_section(tmp_path / 'online.db')}entity_key_serialization_version: 3\n")
    listed = run_python(feast, FEAST_LISTS, theirs)
    assert listed.returncode == 0, listed.stderr[-3000:]
    seen = json.loads(listed.stdout.strip().splitlines()[-1])
    assert sorted(seen["views"]) == ["stats", "windows"]  # the newest version: "pushed" is gone
    assert seen["views"]["windows"]["features"] == [["conv_rate_mean_1h", "Float64"]]
    assert seen["services"] == {"svc": [["stats", ["conv_rate", "trips"]], ["adjusted", ["adjusted"]]],
                                "logged_file": [["stats", ["trips"]]], "logged_delta": [["stats", ["trips"]]]}
    assert seen["logging"]["logged_file"] == ["FileLoggingDestination", "logs", 0.5]
    assert [version.version for version in store.registry_store.history()] == [2, 1]  # the history is kept
