"""A source that changes under a registered view fails with one line, in training and in materialization.

Regression: a dropped table, a renamed column, a retyped feature or timestamp column gave
raw pyspark errors with query plans, or (a Float64 feature turned string) wrong-typed
values with no error at all. The rule: before reading, both paths check the source
against the view, exactly as apply does.
"""
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from featurestore.errors import MaterializationError, RetrievalError, ValidationError
from featurestore.store import FeatureStore

pytestmark = pytest.mark.spark
UTC = UTC
NOW = datetime.now(UTC).replace(microsecond=0)

VIEW = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
{name} = FeatureView(name="{name}", entities=[driver], ttl=timedelta(0),
    source=SparkSource(name="src", table="{table}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
"""
GOOD = ([(1, NOW - timedelta(hours=1), 0.5)], "driver_id bigint, event_ts timestamp, rate double")
CHANGES = {
    "dropped": (None, "reads table {table}, which does not exist"),
    "renamed": (([(1, NOW, 0.5)], "driver_id bigint, event_ts timestamp, conv double"),
                "column 'rate' (field 'rate') is not in table {table}"),
    "retyped": (([(1, NOW, "0.5")], "driver_id bigint, event_ts timestamp, rate string"),
                "column 'rate' of table {table} has Spark type string, which does not fit Float64"),
    "string_time": (([(1, "yesterday-ish", 0.5)], "driver_id bigint, event_ts string, rate double"),
                    "timestamp_field 'event_ts' of table {table} has Spark type string, not timestamp"),
}


def write(spark, table, rows_and_schema):
    rows, schema = rows_and_schema
    spark.createDataFrame(rows, schema).write.format("delta").mode("overwrite") \
        .option("overwriteSchema", "true").saveAsTable(table)


@pytest.fixture
def store(spark, repo_factory):
    table = f"sc_{uuid.uuid4().hex[:8]}"
    write(spark, table, GOOD)
    store = FeatureStore(repo_factory(VIEW.format(table=table, name="stats")))
    store.apply(store.load_repo(), partial=False)
    store.table = table
    return store


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_changed_source_fails_training_and_materialization_with_one_line(spark, store, change):
    replacement, message = CHANGES[change]
    if replacement is None:
        spark.sql(f"DROP TABLE {store.table}")
    else:
        write(spark, store.table, replacement)
    expected = message.format(table=store.table)
    entity = spark.createDataFrame([(1, NOW)], "driver_id bigint, event_timestamp timestamp")
    with pytest.raises(ValidationError) as training:
        store.get_historical_features(entity, ["stats:rate"]).to_df()
    with pytest.raises(ValidationError) as materializing:
        store.materialize(NOW - timedelta(days=1), NOW, log=lambda _: None)
    for error in (training.value, materializing.value):
        assert expected in str(error) and "FeatureView 'stats'" in str(error)
        assert "\n" not in str(error)
    assert store.get_feature_view("stats").materialization_intervals == []


def test_an_empty_pandas_entity_frame_is_one_line(store):
    with pytest.raises(RetrievalError, match="entity_df is an empty pandas DataFrame"):
        store.get_historical_features(pd.DataFrame({"driver_id": [], "event_timestamp": []}), ["stats:rate"])


def test_training_output_keeps_timestamps_tz_aware_utc(spark, store):
    entity = pd.DataFrame({"driver_id": [1], "event_timestamp": [pd.Timestamp(NOW)]})
    frame = store.get_historical_features(entity, ["stats:rate"]).to_df()
    assert str(frame["event_timestamp"].dtype).endswith(", UTC]")
    assert frame["event_timestamp"][0] == pd.Timestamp(NOW) and frame["rate"][0] == 0.5


def test_a_far_future_end_is_refused_and_records_nothing(store):
    for run in (lambda: store.materialize_incremental(datetime(9999, 12, 31, 23, 59, 59), log=lambda _: None),
                lambda: store.materialize(NOW - timedelta(days=1), NOW + timedelta(days=1), log=lambda _: None)):
        with pytest.raises(MaterializationError, match="is in the future"):
            run()
    assert store.get_feature_view("stats").materialization_intervals == []
    store.materialize_incremental(datetime.now(UTC) + timedelta(minutes=1), log=lambda _: None)  # clock skew is fine
    assert len(store.get_feature_view("stats").materialization_intervals) == 1


def test_rebuild_works_when_a_name_matches_sparks_redaction_pattern(spark, repo_factory):
    """Spark redacts SHOW TBLPROPERTIES values matching (?i)url; the definition must still read back."""
    table = f"sc_{uuid.uuid4().hex[:8]}"
    write(spark, table, GOOD)
    store = FeatureStore(repo_factory(VIEW.format(table=table, name="hourly_url_stats")))
    store.apply(store.load_repo(), partial=False)
    entity = spark.createDataFrame([(1, NOW)], "driver_id bigint, event_timestamp timestamp")
    output = f"url_training_{uuid.uuid4().hex[:6]}"
    store.get_historical_features(entity, ["hourly_url_stats:rate"]).save_as_table(output)
    rebuilt = store.rebuild_training_set(output).to_df()
    assert rebuilt["rate"].tolist() == [0.5]


def test_rebuild_checks_the_table_name_before_any_sql(store):
    with pytest.raises(RetrievalError, match=r"name 'x; DROP TABLE y' must be 'table' or 'database.table'"):
        store.rebuild_training_set("x; DROP TABLE y")


PATH_VIEW = """
from featurestore import Entity, FeatureView, Field, FileSource
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver],
    source=FileSource(name="src", path="data/stats.parquet", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
"""


def test_relative_paths_resolve_against_the_repo_not_the_current_folder(spark, repo_factory, tmp_path, monkeypatch):
    repo = repo_factory(PATH_VIEW)
    spark.createDataFrame([(1, NOW - timedelta(hours=1), 0.5)], "driver_id bigint, event_ts timestamp, rate double") \
        .write.parquet(str(repo / "data" / "stats.parquet"))
    decoy = tmp_path / "elsewhere"  # a different tree with its own data/stats.parquet
    spark.createDataFrame([(1, NOW - timedelta(hours=1), 9.9)], "driver_id bigint, event_ts timestamp, rate double") \
        .write.parquet(str(decoy / "data" / "stats.parquet"))
    monkeypatch.chdir(decoy)
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    store.materialize(NOW - timedelta(days=1), NOW, log=lambda _: None)
    assert store.get_online_features(["stats:rate"], [{"driver_id": 1}]).to_dict()["rate"] == [0.5]
    entity = spark.createDataFrame([(1, NOW)], "driver_id bigint, event_timestamp timestamp")
    assert store.get_historical_features(entity, ["stats:rate"]).to_df()["rate"].tolist() == [0.5]
    assert store.get_data_source("src").path == "data/stats.parquet"  # the registry keeps it relative


OFFLINE_VIEW = VIEW.replace("ttl=timedelta(0),", "ttl=timedelta(0), online=False,")


def test_reading_an_offline_only_view_online_says_so(spark, repo_factory):
    table = f"sc_{uuid.uuid4().hex[:8]}"
    write(spark, table, GOOD)
    store = FeatureStore(repo_factory(OFFLINE_VIEW.format(table=table, name="stats")))
    store.apply(store.load_repo(), partial=False)
    with pytest.raises(RetrievalError, match="feature view 'stats' is offline only \\(online=False\\)"):
        store.get_online_features(["stats:rate"], [{"driver_id": 1}])
