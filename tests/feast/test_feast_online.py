"""Feast 0.67's SQLite and Redis online stores read what featurestore writes, and featurestore
reads what Feast materialized: the same table and hash layouts, entity keys and Value messages
(online/codec.py, online/sqlite.py, online/redis_store.py). Feast runs in its own virtualenv."""
from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

from featurestore import FeatureStore
from featurestore.push import encoded_rows
from featurestore.testing.feast import run_feast, run_python
from tests.feast.conftest import feast_repo

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

OURS = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, FileSource, PushSource
from featurestore.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp

driver = Entity(name="driver", join_keys=["driver_id"])
source = FileSource(name="stats_source", path="data/stats.parquet", timestamp_field="event_timestamp")
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1),
                    source=PushSource(name="stats_push", batch_source=source),
                    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float32),
                            Field(name="score", dtype=Float64), Field(name="trips", dtype=Int64),
                            Field(name="small", dtype=Int32), Field(name="name", dtype=String),
                            Field(name="blob", dtype=Bytes), Field(name="ok", dtype=Bool),
                            Field(name="seen", dtype=UnixTimestamp), Field(name="scores", dtype=Array(Float64)),
                            Field(name="tags", dtype=Array(String))])
"""

FEATURES = ["rate", "score", "trips", "small", "name", "blob", "ok", "seen", "scores", "tags"]

FEAST_READ = """
import json, sys
from feast import FeatureStore
answer = FeatureStore(repo_path=".").get_online_features(features=json.loads(sys.argv[1]),
                                                          entity_rows=json.loads(sys.argv[2])).to_dict()
print(json.dumps(answer, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else v.hex()))
"""


def feast_reads(feast, folder, features, rows) -> dict:
    code = FEAST_READ.replace("sys.argv[1]", repr(json.dumps(features))).replace("sys.argv[2]", repr(json.dumps(rows)))
    result = run_python(feast, code, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_feasts_sdk_reads_what_featurestore_wrote(feast, online, repo_factory, tmp_path):
    repo = repo_factory(OURS, project="wire", online_store=online["ours"])
    store = FeatureStore(repo_path=repo)
    store.apply(None, partial=False, validate=False)
    seen = NOW - timedelta(days=3, microseconds=-250_000)  # Feast keeps whole seconds; we keep the rest beside
    store.push("stats_push", {
        "driver_id": [1, 2], "event_timestamp": [NOW, NOW], "rate": [0.5, None], "score": [1.25, float("nan")],
        "trips": [3, 2 ** 40], "small": [-7, 7], "name": ["ann", "日本"], "blob": [b"\x00\xff", b""],
        "ok": [True, False], "seen": [seen, None], "scores": [[1.5, -2.0], []], "tags": [["a", "b"], None]})
    theirs = feast_repo(tmp_path / "feast", "wire", repo / "data" / "registry.db", online["feast"])

    answer = feast_reads(feast, theirs, [f"stats:{f}" for f in FEATURES], [{"driver_id": 1}, {"driver_id": 2},
                                                                          {"driver_id": 3}])
    assert answer["driver_id"] == [1, 2, 3]
    # a stored null float reads as NaN in Feast's SDK (its own nulls are stored NaN)
    assert answer["rate"][0::2] == [0.5, None] and math.isnan(answer["rate"][1])
    assert answer["score"][0::2] == [1.25, None] and math.isnan(answer["score"][1])
    assert answer["trips"] == [3, 2 ** 40, None]
    assert answer["small"] == [-7, 7, None] and answer["name"] == ["ann", "日本", None]
    assert answer["blob"] == ["00ff", "", None] and answer["ok"] == [True, False, None]
    assert answer["seen"] == [(seen.replace(microsecond=0)).isoformat(), None, None]  # Feast's whole seconds
    assert answer["scores"] == [[1.5, -2.0], [], None] and answer["tags"] == [["a", "b"], None, None]

    ours = store.get_online_features([f"stats:{f}" for f in FEATURES], [{"driver_id": 1}]).to_dict()
    assert ours["seen"] == [seen]  # featurestore reads the microseconds Feast does not see


FEAST_REPO = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource
from feast.types import Array, Bool, Float32, Float64, Int64, String, UnixTimestamp

driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1),
                    source=FileSource(path="data/stats.parquet", timestamp_field="event_timestamp"),
                    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float32),
                            Field(name="score", dtype=Float64), Field(name="name", dtype=String),
                            Field(name="ok", dtype=Bool), Field(name="seen", dtype=UnixTimestamp),
                            Field(name="scores", dtype=Array(Float64))])
"""

FEAST_DATA = """
import pandas as pd
from datetime import datetime, timezone
now = datetime.fromisoformat({now!r})
pd.DataFrame({{"driver_id": [1, 2], "event_timestamp": [now, now], "rate": [0.5, 0.25], "score": [1.5, None],
               "name": ["ann", "bob"], "ok": [True, False], "seen": [now, now],
               "scores": [[1.0, 2.0], [3.0]]}}).to_parquet("data/stats.parquet")
"""


def test_featurestore_reads_what_feast_materialized(feast, online, repo_factory, tmp_path):
    theirs = feast_repo(tmp_path / "feast", "fr", tmp_path / "feast" / "data" / "registry.db", online["feast"])
    (theirs / "data").mkdir()
    (theirs / "definitions.py").write_text(FEAST_REPO)
    assert run_python(feast, FEAST_DATA.format(now=NOW.isoformat()), theirs).returncode == 0
    for command in (["apply"], ["materialize-incremental", datetime.now(UTC).isoformat(timespec="seconds")]):
        result = run_feast(feast, command, theirs)
        assert result.returncode == 0, result.stderr[-3000:]

    ours = repo_factory(None, project="fr", registry=theirs / "data" / "registry.db", online_store=online["ours"])
    answer = FeatureStore(repo_path=ours).get_online_features(
        ["stats:rate", "stats:score", "stats:name", "stats:ok", "stats:seen", "stats:scores"],
        [{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}])
    assert answer.to_dict() == {"driver_id": [1, 2, 3], "rate": [0.5, 0.25, None], "score": [1.5, None, None],
                                "name": ["ann", "bob", None], "ok": [True, False, None], "seen": [NOW, NOW, None],
                                "scores": [[1.0, 2.0], [3.0], None]}
    assert answer.statuses()["rate"] == ["PRESENT", "PRESENT", "NOT_FOUND"]

    # newest event time wins over what Feast wrote too: an older row changes nothing, a newer one replaces it
    store = FeatureStore(repo_path=ours)
    view = store.get_feature_view("stats")
    columns = {"driver_id": [1, 2], "event_timestamp": [NOW - timedelta(hours=1), NOW + timedelta(minutes=1)],
               "rate": [9.0, 8.0], "score": [None, None], "name": ["old", "new"], "ok": [None, None],
               "seen": [None, None], "scores": [None, None]}
    assert store.online_store.online_write_flat("fr", view, encoded_rows(view, columns, "a test write")) == 1
    assert store.get_online_features(["stats:rate", "stats:name"], [{"driver_id": 1}, {"driver_id": 2}]).to_dict() \
        == {"driver_id": [1, 2], "rate": [0.5, 8.0], "name": ["ann", "new"]}
