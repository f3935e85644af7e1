"""A refusal reaches the terminal as featurestore's one line, with nothing from the JVM above it:
no executor stack trace, no `ERROR TaskSetManager ... aborting job`, no Arrow warning."""
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from featurestore.runtime.session import spark_submit_command
from featurestore.store import FeatureStore

pytestmark = [pytest.mark.spark, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent.parent

VIEW = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, FileSource
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1),
    source=FileSource(name="src", path="data/stats.parquet", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
"""


def test_a_failure_computed_on_an_executor_prints_one_line_and_no_java(spark, repo_factory):
    repo = repo_factory(VIEW)
    (repo / "data").mkdir(exist_ok=True)
    pd.DataFrame({"driver_id": [1], "event_ts": [pd.Timestamp(datetime(2026, 1, 1, tzinfo=UTC))], "rate": [0.5]}) \
        .to_parquet(repo / "data" / "stats.parquet")
    FeatureStore(repo).apply(None, partial=False)
    command = spark_submit_command(ROOT / "jobs" / "build_training_set.py",
                                   ["--repo", str(repo), "--entities",
                                    "SELECT CAST(1 AS BIGINT) AS driver_id, 'yesterday' AS event_timestamp",
                                    "--features", "stats:rate", "--output", "quiet_errors_training_set"])
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=repo)
    output = result.stdout + result.stderr  # spark-submit merges the driver's stderr into its stdout
    assert result.returncode == 1, output
    noise = [line for line in output.splitlines()
             if line.startswith(("\tat ", "Caused by")) or " ERROR " in line or "Traceback" in line
             or "UserWarning" in line or "Py4JJavaError" in line]
    assert noise == [], output[-3000:]
    errors = [line for line in output.splitlines() if "yesterday" in line]
    assert errors == ["Error: entity column 'event_timestamp' holds yesterday, which is not an ISO-8601 time such as "
                      "2026-01-31 12:00:00"], output[-3000:]
