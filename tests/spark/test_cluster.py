"""The same jobs on a real Spark standalone cluster (a master and two workers on 127.0.0.1).

Training sets and Redis materialization run with spark-submit --master spark://... and
give the same results as in local mode; the event log proves executors ran the tasks.
"""
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality

from featurestore import FeatureStore
from featurestore.runtime import cluster
from featurestore.runtime.session import spark_submit_command

pytestmark = [pytest.mark.spark, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent.parent
JOBS = ROOT / "jobs"


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory):
    running = cluster.start(tmp_path_factory.mktemp("cluster"), workers=2, worker_cores=1, worker_memory="1g")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def repo(tmp_path_factory, redis_server):
    """`featurestore init` in its own process (its own warehouse and metastore), online store on Redis."""
    work = tmp_path_factory.mktemp("cluster-repo")
    result = subprocess.run([sys.executable, "-m", "featurestore.cli", "init", "driver_repo"], cwd=work,
                            capture_output=True, text=True, env=dict(os.environ, TZ="UTC"))
    assert result.returncode == 0, result.stderr[-2000:]
    repo = work / "driver_repo"
    config = (repo / "feature_store.yaml").read_text()
    redis = f"online_store:\n  type: redis\n  host: {redis_server.host}\n  port: {redis_server.port}\n"
    config = config.replace("online_store:\n  type: sqlite            # or: redis (host, port, db, ssl, password_env, "
                            "key_ttl_seconds)\n  path: data/online_store.db\n", redis)
    (repo / "feature_store.yaml").write_text(config)
    assert "type: redis" in config
    subprocess.run([sys.executable, "-m", "featurestore.cli", "--repo", str(repo), "apply"], check=True,
                   capture_output=True)
    return repo


def submit(job: str, args: list[str], master: str, event_log: Path | None = None):
    conf = {"spark.executor.memory": "768m", "spark.cores.max": "2"} if master.startswith("spark://") else {}
    if event_log:
        event_log.mkdir(exist_ok=True)
        conf.update({"spark.eventLog.enabled": "true", "spark.eventLog.dir": str(event_log),
                     "spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false"})
    result = subprocess.run(spark_submit_command(JOBS / job, args, master=master, conf=conf), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def executor_task_counts(event_log: Path) -> dict:
    """Tasks per executor id, from the Spark event logs in a folder."""
    counts: dict = {}
    for log in [p for p in event_log.rglob("*") if p.is_file()]:
        for line in log.read_text().splitlines():
            event = json.loads(line)
            if event.get("Event") == "SparkListenerTaskEnd":
                executor = event["Task Info"]["Executor ID"]
                counts[executor] = counts.get(executor, 0) + 1
    return counts


def test_training_set_on_the_cluster_equals_local(spark, local_cluster, repo, tmp_path):
    args = ["--repo", str(repo), "--entities", "driver_entities", "--feature-service", "driver_ranking",
            "--overwrite", "--output"]
    submit("build_training_set.py", args + ["ts_local"], "local[2]")
    out = submit("build_training_set.py", args + ["ts_cluster"], local_cluster.master_url, tmp_path / "events")
    assert "Training set ts_cluster: 200 rows" in out
    warehouse = repo / "data" / "spark-warehouse"
    on_cluster = spark.read.format("delta").load(str(warehouse / "ts_cluster"))
    local = spark.read.format("delta").load(str(warehouse / "ts_local"))
    assert_df_equality(on_cluster, local, ignore_row_order=True)
    counts = executor_task_counts(tmp_path / "events")
    assert len([e for e in counts if e != "driver"]) >= 1 and sum(counts.values()) > 0, counts
    status = local_cluster.status()
    assert len(status["workers"]) == 2
    assert status["completedapps"], status


def test_redis_materialization_on_the_cluster_equals_local(local_cluster, repo, redis_server, tmp_path):
    drivers = [{"driver_id": d} for d in (1001, 1002, 1003, 1004, 1005)]
    # One fixed end for both runs: aggregations are values as of the end, and "now" moves.
    end = datetime.now(UTC).replace(microsecond=0).isoformat()
    args = ["materialize", "2020-01-01", end, "--repo", str(repo)]
    redis_server.flushall()
    submit("materialize.py", args, "local[2]")
    store = FeatureStore(repo)
    local_values = store.get_online_features(store.get_feature_service("driver_ranking"), drivers).to_dict()
    redis_server.flushall()
    out = submit("materialize.py", args, local_cluster.master_url, tmp_path / "events")
    assert "writing from the executors" in out
    cluster_values = store.get_online_features(store.get_feature_service("driver_ranking"), drivers).to_dict()
    assert cluster_values == local_values
    assert None not in cluster_values["conv_rate"]
    counts = executor_task_counts(tmp_path / "events")
    assert sum(n for e, n in counts.items() if e != "driver") > 0, counts
