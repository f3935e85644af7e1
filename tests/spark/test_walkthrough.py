"""The driver-ranking walkthrough end to end: `make demo`'s script, the notebooks, the examples.

The demo runs exactly as `make demo` runs it (scripts/demo.py: the CLI and the
spark-submit jobs as subprocesses) in a temporary folder; then its outputs are checked
and the notebooks are executed against the same repo.
"""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from featurestore import FeatureStore

pytestmark = [pytest.mark.spark, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--work-dir", str(work)],
                            capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work / "driver_repo", result.stdout


def newest_source_rows(repo: Path) -> pd.DataFrame:
    stats = pd.read_parquet(repo / "data" / "driver_stats.parquet")
    return stats.sort_values(["event_timestamp", "created"]).groupby("driver_id").tail(1).set_index("driver_id")


def test_demo_walks_every_step(demo):
    repo, out = demo
    for step in range(1, 8):
        assert f"=== Step {step}:" in out
    assert "driver_hourly_stats: 840 rows; newest row of drivers 1001-1003:" in out
    for added in ("FeatureView         driver_hourly_stats", "FeatureView         driver_trips",
                  "FeatureService      driver_ranking", "OnDemandFeatureView transformed_conv_rate"):
        assert added in out
    assert "0 to change, 0 to delete." in out
    assert 'CREATE TABLE "driver_repo_driver_hourly_stats" (entity_key BLOB, feature_name TEXT, value BLOB, ' \
           'value_text TEXT, vector_value BLOB, event_ts timestamp, created_ts timestamp, event_micros INTEGER, ' \
           'created_micros INTEGER, PRIMARY KEY (entity_key, feature_name))' in out  # Feast's columns, and ours
    assert "Training set driver_training_set: 200 rows" in out
    assert "rows selected 5, written 5" in out
    assert "Best driver: 100" in out
    assert "Rebuilt driver_training_set into driver_training_set_rebuilt: 200 rows" in out
    assert (repo / "data" / "training_set_drift.html").read_text().count("<img") >= 5  # one plot per column


def test_training_set_rows_have_features(spark, demo):
    repo, _ = demo
    training = spark.read.format("delta").load(str(repo / "data" / "spark-warehouse" / "driver_training_set"))
    assert training.count() == 200
    assert training.where("conv_rate IS NULL OR acc_rate IS NULL OR avg_daily_trips IS NULL").count() < 10


def test_online_values_equal_the_newest_source_rows_and_predictions_are_printed(demo):
    repo, out = demo
    store = FeatureStore(repo)
    values = store.get_online_features(store.get_feature_service("driver_ranking"),
                                       [{"driver_id": d} for d in (1001, 1002, 1003, 1004, 1005)]).to_dict()
    newest = newest_source_rows(repo)
    for i, driver in enumerate(values["driver_id"]):
        assert values["avg_daily_trips"][i] == newest.loc[driver, "avg_daily_trips"]
        assert values["conv_rate"][i] == pytest.approx(newest.loc[driver, "conv_rate"], rel=1e-6)
        assert values["trips_count_1d"][i] > 0 and values["fare_mean_7d"][i] > 0  # computed from trip events
    boosted = store.get_online_features(["transformed_conv_rate:conv_rate_plus_val"],
                                        [{"driver_id": 1001, "val_to_add": 2}]).to_dict()
    assert boosted["conv_rate_plus_val"][0] == pytest.approx(values["conv_rate"][0] + 2)  # on demand, no JVM
    step6 = out.split("=== Step 7:")[1]
    predictions = [line.split() for line in step6.splitlines() if line.strip().startswith("100")]
    assert [row[0] for row in predictions] == ["1001", "1002", "1003"]
    assert all(float(row[-1]) > 0 for row in predictions)


def test_registry_is_readable_with_plain_protobuf(demo):
    repo, _ = demo
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "read_registry.py"),
                             str(repo / "data" / "registry.db")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "feature view driver_hourly_stats: entities driver; ttl 86400s; driver_id:INT64, conv_rate:FLOAT" in \
        result.stdout  # Feast's value type names
    assert "1 materialized interval(s)" in result.stdout


@pytest.mark.parametrize("notebook", ["driver_ranking_training.ipynb", "driver_ranking_inference.ipynb"])
def test_notebooks_execute(demo, notebook, monkeypatch, tmp_path):
    """Run from a folder of their own (not the repo's): they find the repo through FEATURESTORE_REPO."""
    import nbformat
    from nbclient import NotebookClient

    repo, _ = demo
    monkeypatch.setenv("FEATURESTORE_REPO", str(repo))
    monkeypatch.setenv("TZ", "UTC")
    document = nbformat.read(ROOT / "notebooks" / notebook, as_version=4)
    NotebookClient(document, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in document.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "project 'driver_repo'" in text and f"repo: {repo}" in text
    assert list(tmp_path.iterdir()) == []  # nothing written into the folder it ran from
