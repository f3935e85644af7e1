"""Push (featurestore.push): rows checked whole against every view reading the push source,
then written online with the newest-wins rule and/or appended to the batch source in one
write; on SQLite and Redis."""
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from featurestore.errors import DefinitionError, ValidationError
from featurestore.store import FeatureStore

pytestmark = pytest.mark.spark

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, PushSource, SparkSource
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
batch = SparkSource(name="stats_batch", table="{table}", timestamp_field="event_ts", created_timestamp_column="created")
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1),
    source=PushSource(name="stats_push", batch_source=batch),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float64),
            Field(name="trips", dtype=Int64)])
folder = SparkSource(name="folder_batch", path="data/folder_stats", file_format="parquet", timestamp_field="event_ts")
folder_stats = FeatureView(name="folder_stats", entities=[driver], ttl=timedelta(days=1),
    source=PushSource(name="folder_push", batch_source=folder),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float64)])
"""
NOW = datetime.now(UTC).replace(microsecond=0)


def rows(*values, created=None):
    """Push rows (driver, hours ago, conv_rate, trips)."""
    return pd.DataFrame({"driver_id": [v[0] for v in values],
                         "event_ts": [NOW - timedelta(hours=v[1]) for v in values],
                         "created": [created or NOW] * len(values),
                         "conv_rate": [v[2] for v in values], "trips": [v[3] for v in values]})


@pytest.fixture
def pushed(spark, repo_factory, online_config):
    table = f"push_{uuid.uuid4().hex[:8]}"
    spark.createDataFrame([(1001, NOW - timedelta(hours=3), NOW, 0.1, 1)],
                          "driver_id bigint, event_ts timestamp, created timestamp, conv_rate double, trips bigint") \
        .write.format("delta").saveAsTable(table)
    repo = repo_factory(DEFINITIONS.format(table=table), online_store=online_config,
                        project=f"p_{uuid.uuid4().hex[:6]}")
    spark.createDataFrame([(1001, NOW - timedelta(hours=3), 0.1)], "driver_id bigint, event_ts timestamp, "
                          "conv_rate double").write.parquet(str(repo / "data" / "folder_stats"))
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    return spark, store, table


def online(store, view="stats", drivers=(1001, 1002)):
    response = store.get_online_features([f"{view}:conv_rate"], [{"driver_id": d} for d in drivers]).to_dict()
    return response["conv_rate"]


def offline_rows(spark, table):
    return sorted((r.driver_id, r.conv_rate, r.trips) for r in spark.table(table).collect())


def test_online_push_writes_the_rows_and_an_older_row_never_replaces_a_newer_one(pushed):
    spark, store, table = pushed
    assert store.push("stats_push", rows((1001, 1, 0.5, 5), (1002, 2, 0.7, 7))) == {"stats": 2}
    assert online(store) == [0.5, 0.7]
    assert store.push("stats_push", rows((1001, 2, 0.3, 3))) == {"stats": 0}  # older than what is stored
    assert online(store) == [0.5, 0.7]
    assert offline_rows(spark, table) == [(1001, 0.1, 1)]  # to="online" (the default) leaves the batch source


def test_offline_push_appends_in_one_delta_version_and_training_sets_see_it(pushed):
    spark, store, table = pushed
    before = spark.sql(f"DESCRIBE HISTORY {table}").count()
    assert store.push("stats_push", rows((1001, 1, 0.5, 5), (1002, 2, 0.7, 7)), to="offline") == {"<offline>": 2}
    assert spark.sql(f"DESCRIBE HISTORY {table}").count() == before + 1
    assert offline_rows(spark, table) == [(1001, 0.1, 1), (1001, 0.5, 5), (1002, 0.7, 7)]
    assert online(store) == [None, None]
    at = pd.DataFrame({"driver_id": [1001, 1002], "event_timestamp": [NOW, NOW]})
    training = store.get_historical_features(entity_df=at, features=["stats:conv_rate"]).to_df()
    assert sorted(training["conv_rate"]) == [0.5, 0.7]
    store.materialize_incremental(datetime.now(UTC), ["stats"], log=lambda _: None)
    assert online(store) == [0.5, 0.7]


def test_online_and_offline_push_writes_both(pushed):
    spark, store, table = pushed
    assert store.push("stats_push", rows((1002, 1, 0.9, 9)), to="online_and_offline") == {"<offline>": 1, "stats": 1}
    assert online(store) == [None, 0.9]
    assert offline_rows(spark, table) == [(1001, 0.1, 1), (1002, 0.9, 9)]


def test_a_push_to_a_parquet_folder_appends_files(pushed):
    spark, store, _ = pushed
    frame = pd.DataFrame({"driver_id": [1002], "event_ts": [NOW - timedelta(hours=1)], "conv_rate": [0.4]})
    store.push("folder_push", frame, to="online_and_offline")
    folder = str(store.repo_path / "data" / "folder_stats")
    assert sorted((r.driver_id, r.conv_rate) for r in spark.read.parquet(folder).collect()) == [(1001, 0.1), (1002, 0.4)]
    assert online(store, "folder_stats") == [None, 0.4]


@pytest.mark.parametrize("bad, message", [
    (rows((1001, 1, 0.5, 5), (1002, 1, "fast", 7)),
     "push to 'stats_push': row 1 (a feature): feature 'conv_rate' of view 'stats' does not fit its declared type "
     "Float64: "),
    (rows((1001, 1, 0.5, 5)).drop(columns=["trips"]),
     "push to 'stats_push': the rows lack the column(s) trips that feature view 'stats' reads"),
    (rows((1001, 1, 0.5, 5)).assign(event_ts=[None]),
     "push to 'stats_push': row 0 (column 'event_ts'): the event time is null; every pushed row needs one; "
     "nothing was written"),
    (rows((1001, 1, 0.5, 5)).assign(driver_id=[None]),
     "push to 'stats_push': row 0 (a join key): join key 'driver_id' is null"),
])
def test_a_bad_row_refuses_the_whole_batch_and_writes_nothing_anywhere(pushed, bad, message):
    spark, store, table = pushed
    with pytest.raises(ValidationError) as error:
        store.push("stats_push", bad, to="online_and_offline")
    assert str(error.value).startswith(message)
    assert online(store) == [None, None]
    assert offline_rows(spark, table) == [(1001, 0.1, 1)]


def test_a_column_the_batch_source_lacks_is_refused_before_anything_is_written(pushed):
    spark, store, table = pushed
    with pytest.raises(ValidationError, match=r"^push to 'stats_push': batch source 'stats_batch' \(table .*\) has no "
                                              r"column\(s\) conv_rat; its columns are driver_id, event_ts, created, "
                                              r"conv_rate, trips; nothing was written$"):
        store.push("stats_push", rows((1001, 1, 0.5, 5)).assign(conv_rat=1.0), to="online_and_offline")
    assert offline_rows(spark, table) == [(1001, 0.1, 1)]
    assert online(store) == [None, None]


def test_an_online_push_with_a_column_no_view_reads_is_refused(pushed):
    """Online only, nothing checks the batch table (no JVM): a column no view of the push source
    reads was dropped silently; a misspelt feature column is refused as offline it is."""
    _, store, _ = pushed
    with pytest.raises(ValidationError, match=r"^push to 'stats_push': no feature view reads the column\(s\) conv_rat "
                                              r"\(they read conv_rate, created, driver_id, event_ts, trips\); a "
                                              r"misspelt column would be dropped silently"):
        store.push("stats_push", rows((1001, 1, 0.5, 5)).assign(conv_rat=1.0), to="online")
    assert online(store) == [None, None]


def test_an_unknown_push_source_and_mode_are_named(pushed):
    _, store, _ = pushed
    with pytest.raises(DefinitionError, match="^no feature view reads push source 'stat_push'; push sources in use: "
                                              "folder_push, stats_push; define a FeatureView"):
        store.push("stat_push", rows((1001, 1, 0.5, 5)))
    with pytest.raises(DefinitionError, match="^push: to must be one of online, offline, online_and_offline"):
        store.push("stats_push", rows((1001, 1, 0.5, 5)), to="both")


def test_an_online_push_is_pure_python(pushed):
    _, store, _ = pushed
    code = ("import sys, pandas as pd; from datetime import datetime, UTC; from featurestore import FeatureStore; "
            "s = FeatureStore(sys.argv[1]); print(s.push('stats_push', pd.DataFrame({'driver_id': [1003], "
            "'event_ts': [datetime.now(UTC)], 'conv_rate': [0.3], 'trips': [3]})), 'pyspark' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, str(store.repo_path)], capture_output=True, text=True)
    assert result.stdout == "{'stats': 1} False\n", result.stderr
    assert online(store, drivers=(1003,)) == [0.3]
