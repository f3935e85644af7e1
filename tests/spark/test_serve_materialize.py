"""Feast's POST /materialize-incremental against `featurestore serve`: the server runs the Spark job
and answers when it is done; the values are then served (featurestore/serving/materialize_endpoints.py)."""
import http.client
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from featurestore.runtime.processes import stop_group
from featurestore.store import FeatureStore
from tests.http_helpers import parsed

pytestmark = pytest.mark.spark
NOW = datetime.now(UTC).replace(microsecond=0)

VIEW = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, FileSource
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1),
    source=FileSource(name="src", path="{path}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
"""


def post(port: int, path: str, body: dict):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = response.status, parsed(response.read())
    connection.close()
    return answer


def test_materialize_incremental_over_http_runs_the_job_and_serves_its_values(spark, repo_factory, tmp_path):
    path = tmp_path / "stats.parquet"
    spark.createDataFrame([(1, NOW - timedelta(hours=2), 0.5), (2, NOW - timedelta(hours=3), 0.25)],
                          "driver_id bigint, event_ts timestamp, rate double").write.parquet(str(path))
    repo = repo_factory(VIEW.format(path=path), project="served")
    FeatureStore(repo).apply(None, partial=False)
    server = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "serve", "--port", "0", "--repo", str(repo)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = server.stdout.readline()
        assert " at http://127.0.0.1:" in line, server.stderr.read()
        port = int(line.rsplit(":", 1)[1])
        body = {"entities": {"driver_id": [1, 2]}, "features": ["stats:rate"]}
        assert post(port, "/get-online-features", body)[1]["results"][1]["statuses"] == ["NOT_FOUND", "NOT_FOUND"]
        status, answer = post(port, "/materialize-incremental", {"end_ts": datetime.now(UTC).isoformat()})
        assert (status, answer) == (200, {"status": "materialized", "feature_views": ["stats"]})
        read = post(port, "/get-online-features", body)[1]["results"][1]
        assert (read["values"], read["statuses"]) == ([0.5, 0.25], ["PRESENT", "PRESENT"])
    finally:
        stop_group(server)
