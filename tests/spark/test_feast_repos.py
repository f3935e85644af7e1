"""Feast's template repos run with their imports changed (tests/feast_repos/README.md).

The sample data is written as Feast's bootstrap writes it: plain pandas `to_parquet`, so
nanosecond timestamps, float32 and int32 columns, UTC times. The workflow is the
template's test_workflow.py: apply, a training set from a pandas entity frame, a batch
scoring set at "now", materialize_incremental(datetime.now()), online reads by feature
list and by service.
"""
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featurestore import feature_logging
from featurestore.cli import main as cli
from featurestore.feature_logging.destinations import logged_rows_without_spark
from featurestore.store import FeatureStore

pytestmark = pytest.mark.spark
TEMPLATES = Path(__file__).resolve().parent.parent / "feast_repos"
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DRIVERS, CUSTOMERS = [1001, 1002, 1003], [201, 202, 203]


def conv_rate(driver: int, hours_ago: int) -> float:
    return float(np.float32((driver - 1000) / 10 + hours_ago / 1000))


def write_spark_template_data(data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    hours = range(24 * 3)
    pd.DataFrame({
        "driver_id": np.array([d for d in DRIVERS for _ in hours], dtype="int64"),
        "event_timestamp": pd.to_datetime([END - timedelta(hours=h) for _ in DRIVERS for h in hours], utc=True),
        "created": pd.to_datetime([END - timedelta(hours=h) for _ in DRIVERS for h in hours], utc=True),
        "conv_rate": np.array([conv_rate(d, h) for d in DRIVERS for h in hours], dtype="float32"),
        "acc_rate": np.array([0.5] * len(DRIVERS) * len(hours), dtype="float32"),
        "avg_daily_trips": np.array([d - 1000 + h for d in DRIVERS for h in hours], dtype="int32"),
    }).to_parquet(data / "driver_hourly_stats.parquet")
    days = range(3)
    pd.DataFrame({
        "customer_id": np.array([c for c in CUSTOMERS for _ in days], dtype="int64"),
        "event_timestamp": pd.to_datetime([END - timedelta(days=n) for _ in CUSTOMERS for n in days], utc=True),
        "created": pd.to_datetime([END - timedelta(days=n) for _ in CUSTOMERS for n in days], utc=True),
        "current_balance": np.array([c * 1.5 + n for c in CUSTOMERS for n in days], dtype="float32"),
        "avg_passenger_count": np.array([1.25] * len(CUSTOMERS) * len(days), dtype="float32"),
        "lifetime_trip_count": np.array([c + n for c in CUSTOMERS for n in days], dtype="int32"),
    }).to_parquet(data / "customer_daily_profile.parquet")


@pytest.fixture
def spark_template(tmp_path):
    repo = tmp_path / "feature_repo"
    shutil.copytree(TEMPLATES / "spark", repo)
    write_spark_template_data(repo / "data")
    return repo


def test_spark_template_entities_without_join_keys_are_refused_at_apply_with_the_fix(spark, spark_template, capsys):
    assert cli(["apply", "--repo", str(spark_template)]) == 1
    error = capsys.readouterr().err
    entity = "customer" if "'customer_daily_profile'" in error else "driver"  # the first view checked
    assert f"column '{entity}' is not in its source" in error
    assert f"Entity '{entity}' has no join_keys=, so (as in Feast) its join key is its name; name the source's key " \
           f"column: Entity(name='{entity}', join_keys=['{entity}_id'])" in error
    assert not (spark_template / "data" / "registry.db").exists()  # nothing applied


def test_spark_template_workflow_applies_trains_materializes_and_serves(spark, spark_template, capsys):
    definitions = spark_template / "features.py"
    text = definitions.read_text()
    for entity in ("driver", "customer"):  # the one fix the error above names
        text = text.replace(f'name="{entity}",\n', f'name="{entity}",\n    join_keys=["{entity}_id"],\n')
    definitions.write_text(text)
    assert cli(["apply", "--repo", str(spark_template)]) == 0, capsys.readouterr().err
    store = FeatureStore(repo_path=spark_template)

    at = [(END - timedelta(hours=5, minutes=30)).replace(tzinfo=None), (END - timedelta(hours=30)).replace(tzinfo=None),
          (END - timedelta(minutes=1)).replace(tzinfo=None)]
    entity_df = pd.DataFrame({"driver_id": DRIVERS, "customer_id": CUSTOMERS, "event_timestamp": at,
                              "label_driver_reported_satisfaction": [1, 5, 3]})
    features = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips",
                "customer_daily_profile:lifetime_trip_count"]
    training = store.get_historical_features(entity_df=entity_df, features=features).to_df()
    assert list(training.columns) == ["driver_id", "customer_id", "event_timestamp",
                                      "label_driver_reported_satisfaction", "conv_rate", "avg_daily_trips",
                                      "lifetime_trip_count"]
    rows = training.sort_values("driver_id").to_dict("records")
    assert [(r["driver_id"], r["conv_rate"], r["avg_daily_trips"], r["lifetime_trip_count"]) for r in rows] == [
        (1001, pytest.approx(conv_rate(1001, 6)), 1 + 6, 201 + 1),  # hour 6 ago is the newest at 5.5 h ago
        (1002, pytest.approx(conv_rate(1002, 30)), 2 + 30, 202 + 2),  # a row at the entity time itself counts
        (1003, pytest.approx(conv_rate(1003, 1)), 3 + 1, 203 + 1)]

    entity_df["event_timestamp"] = pd.to_datetime("now", utc=True)  # batch scoring: the newest values
    scoring = store.get_historical_features(entity_df=entity_df, features=features).to_df()
    assert sorted(scoring["avg_daily_trips"]) == [1, 2, 3] and sorted(scoring["lifetime_trip_count"]) == CUSTOMERS

    store.materialize_incremental(end_date=datetime.now(), log=lambda _: None)
    rows = [{"driver_id": 1001, "customer_id": 201}, {"driver_id": 1002, "customer_id": 299}]
    online = store.get_online_features(features=["driver_hourly_stats:acc_rate",
                                                 "driver_hourly_stats:avg_daily_trips"], entity_rows=rows).to_dict()
    assert online == {"driver_id": [1001, 1002], "avg_daily_trips": [1, 2], "acc_rate": [0.5, 0.5]} or \
        online == {"driver_id": [1001, 1002], "acc_rate": [0.5, 0.5], "avg_daily_trips": [1, 2]}
    service = store.get_online_features(features=store.get_feature_service("driver_activity"),
                                        entity_rows=rows).to_dict()
    assert service["conv_rate"] == [pytest.approx(conv_rate(1001, 0)), pytest.approx(conv_rate(1002, 0))]
    assert service["lifetime_trip_count"] == [201, None]  # customer 299 is not in the store
    assert cli(["teardown", "--repo", str(spark_template)]) == 0


# --- the `local` template: FileSource, Project, PushSource, on-demand views, LoggingConfig ---------

LOCAL_DRIVERS = [1001, 1002, 1003, 1004, 1005]
FIXED = datetime(2021, 4, 12, 7, tzinfo=UTC)  # Feast's generator adds this hour for its quickstart


def local_conv_rate(driver: int, at: datetime) -> float:
    return float(np.float32((driver - 1000) / 10 + at.hour / 1000))


def write_local_template_data(data: Path) -> None:
    """As Feast's bootstrap: 15 days of hourly rows per driver plus FIXED, one pandas parquet file."""
    data.mkdir(parents=True, exist_ok=True)
    hours = [END - timedelta(hours=h) for h in range(1, 24 * 15 + 1)] + [FIXED]
    pd.DataFrame({
        "event_timestamp": pd.to_datetime([t for _ in LOCAL_DRIVERS for t in hours], utc=True),
        "driver_id": np.array([d for d in LOCAL_DRIVERS for _ in hours], dtype="int64"),
        "conv_rate": np.array([local_conv_rate(d, t) for d in LOCAL_DRIVERS for t in hours], dtype="float32"),
        "acc_rate": np.array([0.25] * len(LOCAL_DRIVERS) * len(hours), dtype="float32"),
        "avg_daily_trips": np.array([d - 1000 + t.hour for d in LOCAL_DRIVERS for t in hours], dtype="int64"),
        "created": pd.Timestamp.now(tz=None).round("ms"),
    }).to_parquet(data / "driver_stats.parquet", allow_truncated_timestamps=True)


@pytest.fixture
def local_template(tmp_path):
    repo = tmp_path / "feature_repo"
    shutil.copytree(TEMPLATES / "local", repo)
    write_local_template_data(repo / "data")
    return repo


def test_local_template_workflow_applies_trains_materializes_pushes_and_serves(spark, local_template, capsys):
    assert cli(["apply", "--repo", str(local_template)]) == 0, capsys.readouterr().err
    store = FeatureStore(repo_path=local_template)
    assert store.get_feature_view("driver_hourly_stats_fresh").push_source == "driver_stats_push_source"

    entity_df = pd.DataFrame.from_dict({  # the template's test_workflow.py
        "driver_id": [1001, 1002, 1003],
        "event_timestamp": [datetime(2021, 4, 12, 10, 59, 42), datetime(2021, 4, 12, 8, 12, 10),
                            datetime(2021, 4, 12, 16, 40, 26)],
        "label_driver_reported_satisfaction": [1, 5, 3], "val_to_add": [1, 2, 3], "val_to_add_2": [10, 20, 30]})
    features = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips",
                "transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2"]
    training = store.get_historical_features(entity_df=entity_df, features=features).to_df()
    rows = training.sort_values("driver_id").to_dict("records")
    expected = [(d, local_conv_rate(d, FIXED), 0.25, d - 1000 + 7) for d in (1001, 1002, 1003)]
    assert [(r["driver_id"], r["conv_rate"], r["acc_rate"], r["avg_daily_trips"]) for r in rows] == \
        [pytest.approx(e) for e in expected]
    assert [r["conv_rate_plus_val1"] for r in rows] == [pytest.approx(e[1] + v) for e, v in zip(expected, [1, 2, 3])]
    assert [r["conv_rate_plus_val2"] for r in rows] == [pytest.approx(e[1] + v) for e, v in zip(expected, [10, 20, 30])]

    entity_df["event_timestamp"] = pd.to_datetime("now", utc=True)  # batch scoring
    scoring = store.get_historical_features(entity_df=entity_df, features=features).to_df()
    newest = END - timedelta(hours=1)
    assert sorted(scoring["avg_daily_trips"]) == [d - 1000 + newest.hour for d in (1001, 1002, 1003)]

    store.materialize_incremental(end_date=datetime.now(), log=lambda _: None)
    entity_rows = [{"driver_id": 1001, "val_to_add": 1000, "val_to_add_2": 2000},
                   {"driver_id": 1002, "val_to_add": 1001, "val_to_add_2": 2002}]
    online = store.get_online_features(features=["driver_hourly_stats:acc_rate",
                                                 "transformed_conv_rate:conv_rate_plus_val1",
                                                 "transformed_conv_rate:conv_rate_plus_val2"],
                                       entity_rows=entity_rows).to_dict()
    now_rates = [local_conv_rate(d, newest) for d in (1001, 1002)]
    assert online["acc_rate"] == [0.25, 0.25]
    assert online["conv_rate_plus_val1"] == [pytest.approx(r + v) for r, v in zip(now_rates, [1000, 1001])]
    v1 = store.get_online_features(features=store.get_feature_service("driver_activity_v1"),
                                   entity_rows=entity_rows).to_dict()
    assert sorted(v1) == ["conv_rate", "conv_rate_plus_val1", "conv_rate_plus_val2", "driver_id"]
    assert feature_logging.flush()  # the service logs to data/ (LoggingConfig), beside the template's data
    logged = logged_rows_without_spark({"path": str(local_template / "data")}).to_pylist()
    assert [(r["driver_id"], r["driver_hourly_stats__conv_rate"], r["driver_hourly_stats__conv_rate__status"],
             r["val_to_add"]) for r in logged] == [(1001, pytest.approx(v1["conv_rate"][0]), 1, 1000),
                                                   (1002, pytest.approx(v1["conv_rate"][1]), 1, 1001)]
    v3 = store.get_online_features(features=store.get_feature_service("driver_activity_v3"),
                                   entity_rows=entity_rows).to_dict()
    assert v3["conv_rate"] == [pytest.approx(r) for r in now_rates]  # materialized from the batch source

    from featurestore import PushMode
    event_df = pd.DataFrame.from_dict({"driver_id": [1001], "event_timestamp": [datetime.now()],
                                       "created": [datetime.now()], "conv_rate": [1.0], "acc_rate": [1.0],
                                       "avg_daily_trips": [1000]})
    store.push("driver_stats_push_source", event_df, to=PushMode.ONLINE_AND_OFFLINE)
    v3 = store.get_online_features(features=store.get_feature_service("driver_activity_v3"),
                                   entity_rows=entity_rows).to_dict()
    assert v3["conv_rate"] == [1.0, pytest.approx(now_rates[1])]
    assert v3["conv_rate_plus_val1"] == [1001.0, pytest.approx(now_rates[1] + 1001)]
    later = pd.DataFrame({"driver_id": [1001], "event_timestamp": [pd.Timestamp.now(tz="UTC")]})
    pushed = store.get_historical_features(entity_df=later, features=["driver_hourly_stats:avg_daily_trips"]).to_df()
    assert pushed["avg_daily_trips"].tolist() == [1000]  # the offline push is in the batch source
    assert cli(["teardown", "--repo", str(local_template)]) == 0


# --- the driver-ranking tutorial: Feast's older API (Feature, ValueType, input=, feature_refs=) -------

RANKING_DRIVERS = [1001, 1002, 1003, 1004]
RANKING_START = (END - timedelta(days=7)).replace(hour=0)  # within the tutorial's ttl of 52 weeks
SPARK_SOURCE_FIX = '''SparkSource(
    name="driver_stats_source",
    table="demo_data.driver_hourly_stats",
    event_timestamp_column="datetime",
    created_timestamp_column="created",
)'''


@pytest.fixture
def ranking_tutorial(spark, tmp_path):
    repo = tmp_path / "driver_ranking"
    shutil.copytree(TEMPLATES / "driver_ranking", repo)
    spark.sql("CREATE DATABASE IF NOT EXISTS demo_data")
    spark.sql("DROP TABLE IF EXISTS demo_data.driver_hourly_stats")
    hours = [RANKING_START + timedelta(hours=h) for h in range(24 * 7)]
    spark.createDataFrame(
        [(t, d, (d - 1000) / 10 + t.hour / 1000, 0.5, d - 1000 + t.hour, t) for d in RANKING_DRIVERS for t in hours],
        "datetime timestamp, driver_id bigint, conv_rate float, acc_rate float, avg_daily_trips bigint, "
        "created timestamp").write.format("delta").saveAsTable("demo_data.driver_hourly_stats")
    yield repo
    spark.sql("DROP TABLE IF EXISTS demo_data.driver_hourly_stats")


def test_ranking_tutorial_runs_after_the_two_fixes_its_errors_name(spark, ranking_tutorial, capsys):
    repo = ranking_tutorial
    assert cli(["apply", "--repo", str(repo)]) == 1
    assert "'provider' is 'gcp'; featurestore accepts 'local'" in capsys.readouterr().err
    (repo / "feature_store.yaml").write_text((repo / "feature_store.yaml").read_text().replace("gcp", "local"))
    assert cli(["apply", "--repo", str(repo)]) == 1
    assert "BigQuerySource(table_ref='feast-oss.demo_data.driver_hourly_stats'): featurestore reads no BigQuery; " \
           "load the data into the Spark warehouse and read it there: SparkSource(name=..., " \
           "table='demo_data.driver_hourly_stats', timestamp_field=..., created_timestamp_column=...)" \
           in capsys.readouterr().err
    definitions = repo / "driver_repo.py"
    text = definitions.read_text().replace("BigQuerySource,", "SparkSource,")
    start = text.index("driver_stats_source = BigQuerySource(")
    end = text.index(")\n", start) + 1
    definitions.write_text(text[:start] + "driver_stats_source = " + SPARK_SOURCE_FIX + text[end:])
    with pytest.warns(DeprecationWarning):
        assert cli(["apply", "--repo", str(repo)]) == 0, capsys.readouterr().err
    fs = FeatureStore(repo_path=repo)
    assert [(f.name, repr(f.dtype)) for f in fs.get_feature_view("driver_hourly_stats").schema] == [
        ("driver_id", "Int64"), ("conv_rate", "Float32"), ("acc_rate", "Float32"), ("avg_daily_trips", "Int64")]

    orders_csv = repo / "driver_orders.csv"  # train.py's input, in the tutorial's format
    day = RANKING_START.date() + timedelta(days=4)
    orders_csv.write_text(f"event_timestamp\tdriver_id\ttrip_completed\n{day} 20:29:28+00:00\t1001\t1\n"
                          f"{day} 04:29:28+00:00\t1002\t0\n{day} 12:29:28+00:00\t1003\t0\n")
    orders = pd.read_csv(orders_csv, sep="\t")
    orders["event_timestamp"] = pd.to_datetime(orders["event_timestamp"])
    with pytest.warns(DeprecationWarning, match="'feature_refs' is deprecated, use 'features'"):
        training_df = fs.get_historical_features(entity_df=orders, feature_refs=[
            "driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate",
            "driver_hourly_stats:avg_daily_trips"]).to_df()
    train_x = training_df[training_df.columns.drop("trip_completed").drop("event_timestamp")]
    assert sorted(train_x) == ["acc_rate", "avg_daily_trips", "conv_rate", "driver_id"]
    assert sorted(zip(train_x["driver_id"], train_x["avg_daily_trips"])) == [(1001, 1 + 20), (1002, 2 + 4),
                                                                            (1003, 3 + 12)]

    fs.materialize(RANKING_START, RANKING_START + timedelta(days=7), log=lambda _: None)
    with pytest.warns(DeprecationWarning):
        driver_features = fs.get_online_features(  # predict.py
            entity_rows=[{"driver_id": driver_id} for driver_id in RANKING_DRIVERS],
            feature_refs=["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate",
                          "driver_hourly_stats:avg_daily_trips"])
    df = pd.DataFrame.from_dict(driver_features.to_dict())
    assert sorted(df) == ["acc_rate", "avg_daily_trips", "conv_rate", "driver_id"]
    assert df["avg_daily_trips"].tolist() == [d - 1000 + 23 for d in RANKING_DRIVERS]  # the newest hour, 23:00
    assert df["driver_id"].iloc[df["conv_rate"].argmax()] == 1004
