"""Feast 0.67's own `feast init` template (`local`), read from Feast's wheel on PyPI, with only
`feast` renamed to `featurestore` in its imports (tests/feast_release.py).

Its data is written as Feast's bootstrap writes it: plain pandas `to_parquet` with the
Map, Json and Struct columns and a created time, and an empty label table. It runs Feast's
test_workflow: apply, a training set (with the pandas on-demand view, and the Map, Json and
Struct features), materialize_incremental, online reads by service and of the same complex
features, a push to the push source read back through the fresh view.
"""
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore.cli import main as cli
from featurestore.store import FeatureStore
from tests.feast_release import renamed, template_files

pytestmark = pytest.mark.spark
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DRIVERS = [1001, 1002, 1003, 1004, 1005]
COMPLEX_FIELDS = ("driver_metadata", "driver_config", "driver_profile")


def conv_rate(driver: int, hours_ago: int) -> float:
    return float(np.float32((driver - 1000) / 10 + hours_ago / 1000))


def write_bootstrap_data(data) -> None:
    """What Feast's bootstrap writes: hourly driver stats for 15 days and an empty label table."""
    data.mkdir(parents=True, exist_ok=True)
    hours = range(24 * 15)
    rows = [(d, h) for d in DRIVERS for h in hours]
    pd.DataFrame({
        "event_timestamp": pd.to_datetime([END - timedelta(hours=h + 1) for _, h in rows], utc=True),
        "driver_id": np.array([d for d, _ in rows], dtype="int64"),
        "conv_rate": np.array([conv_rate(d, h + 1) for d, h in rows], dtype="float32"),
        "acc_rate": np.array([0.5] * len(rows), dtype="float32"),
        "avg_daily_trips": np.array([d - 1000 + h for d, h in rows], dtype="int64"),
        "created": pd.to_datetime([pd.Timestamp.now(tz=None).round("ms")] * len(rows)),
        "driver_metadata": [{"vehicle_type": "sedan", "rating": "4.5"} for _ in rows],
        "driver_config": [json.dumps({"max_distance_km": 50}) for _ in rows],
        "driver_profile": [{"name": f"driver_{d}", "age": "40"} for d, _ in rows],
    }).to_parquet(data / "driver_stats.parquet")
    schema = pa.schema([("driver_id", pa.int64()), ("is_reliable", pa.int64()), ("quality_score", pa.float32()),
                        ("reviewer_notes", pa.string()), ("labeler", pa.string()),
                        ("event_timestamp", pa.timestamp("ns"))])
    pq.write_table(pa.table({f.name: pa.array([], type=f.type) for f in schema}, schema=schema),
                   str(data / "driver_quality_labels.parquet"))


@pytest.fixture
def template_repo(tmp_path):
    """`feast init my_project`'s feature_repo, placeholders filled in as Feast's bootstrap fills them."""
    files = template_files("local")
    repo = tmp_path / "my_project" / "feature_repo"
    repo.mkdir(parents=True)
    definitions = renamed(files["feature_definitions.py"])
    for placeholder, value in (("%PROJECT_NAME%", "my_project"), ("%PARQUET_PATH%", "data/driver_stats.parquet"),
                               ("%LOGGING_PATH%", "data"), ("%LABEL_DATA_PATH%", "data/driver_quality_labels.parquet")):
        definitions = definitions.replace(placeholder, value)
    (repo / "feature_definitions.py").write_text(definitions)
    (repo / "feature_store.yaml").write_text(renamed(files["feature_store.yaml"]).replace("my_project", "my_project"))
    write_bootstrap_data(repo / "data")
    return repo


def test_the_template_runs_feasts_workflow(spark, template_repo, capsys):
    assert cli(["apply", "--repo", str(template_repo)]) == 0, capsys.readouterr().err
    store = FeatureStore(repo_path=template_repo)
    assert sorted(v.name for v in store.list_feature_views()) == [
        "driver_hourly_stats", "driver_hourly_stats_fresh", "driver_quality_labels"]

    at = (END - timedelta(hours=5, minutes=30)).replace(tzinfo=None)
    entity_df = pd.DataFrame({"driver_id": [1001, 1002], "event_timestamp": [at, at],
                              "val_to_add": [1, 2], "val_to_add_2": [10, 20]})
    training = store.get_historical_features(entity_df=entity_df, features=[
        "driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips",
        "transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2"]).to_df()
    training = training.sort_values("driver_id").reset_index(drop=True)
    assert training["conv_rate"].tolist() == pytest.approx([conv_rate(1001, 6), conv_rate(1002, 6)])
    assert training["conv_rate_plus_val1"].tolist() == pytest.approx([conv_rate(1001, 6) + 1, conv_rate(1002, 6) + 2])
    assert training["avg_daily_trips"].tolist() == [1 + 5, 2 + 5]
    complex_features = [f"driver_hourly_stats:{name}" for name in COMPLEX_FIELDS]
    offline = store.get_historical_features(entity_df=entity_df[["driver_id", "event_timestamp"]],
                                            features=complex_features).to_df().sort_values("driver_id")
    assert offline["driver_metadata"].tolist() == [{"rating": "4.5", "vehicle_type": "sedan"}] * 2
    assert offline["driver_config"].tolist() == ['{"max_distance_km": 50}'] * 2
    assert offline["driver_profile"].tolist() == [{"name": "driver_1001", "age": "40"},
                                                  {"name": "driver_1002", "age": "40"}]

    store.materialize_incremental(end_date=datetime.now(UTC))
    online = store.get_online_features(
        features=store.get_feature_service("driver_activity_v1"),
        entity_rows=[{"driver_id": 1001, "val_to_add": 1000, "val_to_add_2": 2000}]).to_dict()
    assert online["conv_rate"] == pytest.approx([conv_rate(1001, 1)])
    assert online["conv_rate_plus_val1"] == pytest.approx([conv_rate(1001, 1) + 1000])
    assert online["conv_rate_plus_val2"] == pytest.approx([conv_rate(1001, 1) + 2000])
    served = store.get_online_features(features=complex_features, entity_rows=[{"driver_id": 1001}]).to_dict()
    assert served == {"driver_id": [1001], "driver_metadata": [{"rating": "4.5", "vehicle_type": "sedan"}],
                      "driver_config": ['{"max_distance_km": 50}'], "driver_profile": [{"name": "driver_1001",
                                                                                          "age": "40"}]}

    from featurestore import PushMode

    now = datetime.now(UTC).replace(microsecond=0)
    pushed = pd.DataFrame({"driver_id": [1001], "event_timestamp": [now], "created": [now], "conv_rate": [1.0],
                           "acc_rate": [1.0], "avg_daily_trips": [1000],
                           "driver_metadata": [{"vehicle_type": "truck", "rating": "5.0"}],
                           "driver_config": [json.dumps({"max_distance_km": 500, "preferred_zones": ["north"]})],
                           "driver_profile": [{"name": "driver_1001", "age": "30"}]})
    store.push("driver_stats_push_source", pushed, to=PushMode.ONLINE_AND_OFFLINE)  # as Feast's test_workflow
    fresh = store.get_online_features(features=store.get_feature_service("driver_activity_v3"),
                                      entity_rows=[{"driver_id": 1001, "val_to_add": 1, "val_to_add_2": 2}]).to_dict()
    assert fresh["conv_rate"] == [1.0] and fresh["conv_rate_plus_val1"] == [2.0]
    assert fresh["driver_metadata"] == [{"rating": "5.0", "vehicle_type": "truck"}]
    assert fresh["driver_profile"] == [{"name": "driver_1001", "age": "30"}]
    later = pd.DataFrame({"driver_id": [1001], "event_timestamp": [(now + timedelta(seconds=1)).replace(tzinfo=None)]})
    trained = store.get_historical_features(entity_df=later, features=[
        "driver_hourly_stats_fresh:conv_rate", "driver_hourly_stats_fresh:driver_profile"]).to_df()
    assert trained["conv_rate"].tolist() == [1.0] and trained["driver_profile"].tolist() == [
        {"name": "driver_1001", "age": "30"}]
