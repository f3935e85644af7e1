"""Training sets as a product: entity_df forms, save_as_table with its definition, rebuild by time travel."""
import json
import uuid
from datetime import UTC, datetime

import pytest
from chispa import assert_df_equality

from featurestore.errors import RetrievalError
from featurestore.store import FeatureStore

pytestmark = pytest.mark.spark
UTC = UTC

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureService, FeatureView, Field, SparkSource
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1),
    source=SparkSource(name="src", table="{table}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
svc = FeatureService(name="svc", features=[stats])
"""


@pytest.fixture
def store(spark, repo_factory):
    suffix = uuid.uuid4().hex[:6]
    table, entities = f"ts_stats_{suffix}", f"ts_entities_{suffix}"
    spark.createDataFrame([(1, datetime(2026, 1, 1, 8), 0.1), (2, datetime(2026, 1, 1, 8), 0.2)],
                          "driver_id bigint, event_ts timestamp, rate double").write.format("delta").saveAsTable(table)
    spark.createDataFrame([(1, datetime(2026, 1, 1, 9), 1.0), (2, datetime(2026, 1, 1, 9), 0.0)],
                          "driver_id bigint, event_timestamp timestamp, label double") \
        .write.format("delta").saveAsTable(entities)
    store = FeatureStore(repo_factory(DEFINITIONS.format(table=table)))
    store.apply(store.load_repo(), partial=False)
    store.test_tables = (table, entities)
    return store


def test_entity_df_as_table_query_pandas_and_spark(spark, store):
    _table, entities = store.test_tables
    frames = [entities, f"SELECT * FROM {entities} WHERE driver_id = 1", spark.table(entities).toPandas(),
              spark.table(entities)]
    counts = [store.get_historical_features(f, ["stats:rate"]).to_df().shape[0] for f in frames]
    assert counts == [2, 1, 2, 2]
    with pytest.raises(RetrievalError, match="entity table 'no_such' does not exist"):
        store.get_historical_features("no_such", ["stats:rate"])
    with pytest.raises(RetrievalError, match="entity_df query failed"):
        store.get_historical_features("SELECT * FROM nowhere_at_all", ["stats:rate"])


def test_save_as_table_records_the_definition_and_rebuild_uses_time_travel(spark, store):
    table, entities = store.test_tables
    output = f"training_{uuid.uuid4().hex[:6]}"
    job = store.get_historical_features(entities, store.get_feature_service("svc"))
    job.save_as_table(output)
    saved = spark.table(output)
    properties = dict(spark.sql(f"SHOW TBLPROPERTIES {output}").collect())
    definition = json.loads(properties["featurestore.training_set"])
    assert definition["features"] == ["stats:rate"] and definition["feature_service"] == "svc"
    assert definition["entity_source"] == {"type": "table", "table": entities}
    assert definition["source_versions"] == {"src": 0}
    spark.sql(f"UPDATE {table} SET rate = 99.0")  # the source moves on: version 1
    assert store.get_historical_features(entities, ["stats:rate"]).to_df()["rate"].tolist().count(99.0) == 2
    rebuilt = store.rebuild_training_set(output).to_spark_df()
    assert_df_equality(rebuilt, saved, ignore_row_order=True, ignore_nullable=True)
    with pytest.raises(RetrievalError, match=f"table {output} already exists; pass mode='overwrite'"):
        job.save_as_table(output)
    job.save_as_table(output, mode="overwrite")
    with pytest.raises(RetrievalError, match="mode must be 'error'"):
        job.save_as_table(output, mode="append")


def without_time(profile) -> dict:
    data = profile.to_dict()
    data.pop("computed_at")
    return data


def test_save_as_table_stores_the_profile_of_its_rows_under_the_version_it_made(spark, store):
    """The profile comes from the rows being written (not read back) and is stored under the
    version whose commit carries the save's marker, even after another write to the table."""
    from featurestore.offline.training_set import _store_profile_of_write, _version_marked
    from featurestore.quality.profile import load_profile, profile_table, stored_versions

    _table, entities = store.test_tables
    output = f"training_{uuid.uuid4().hex[:6]}"
    job = store.get_historical_features(entities, ["stats:rate"])
    job.save_as_table(output)
    job.save_as_table(output, mode="overwrite")
    assert stored_versions(spark, output) == [0, 1]
    for version in (0, 1):
        assert without_time(load_profile(spark, output, version)) == without_time(profile_table(spark, output, version))
    marker = spark.sql(f"DESCRIBE HISTORY {output} LIMIT 1").first()["userMetadata"]
    assert _version_marked(spark, output, marker) == 1 and marker.startswith("featurestore save_as_table ")

    spark.sql(f"UPDATE {output} SET rate = 5.0")  # version 2; without a version: the table as it is
    assert _version_marked(spark, output, "featurestore save_as_table no-such-write") is None
    _store_profile_of_write(spark, output, spark.table(entities), "featurestore save_as_table no-such-write")
    assert stored_versions(spark, output) == [0, 1, 2]
    assert load_profile(spark, output, 2)["rate"].mean == 5.0


def test_to_spark_df_is_lazy(spark, store):
    _table, entities = store.test_tables
    frame = store.get_historical_features(entities, ["stats:rate"]).to_spark_df()
    assert frame.columns == ["driver_id", "event_timestamp", "label", "rate"]
    assert not frame.isStreaming and frame.count() == 2


def test_concurrent_retrievals_in_one_session_equal_sequential_ones(spark, store):
    """Threads sharing the SparkSession: no shared temp views or conf, so results match sequential runs."""
    from concurrent.futures import ThreadPoolExecutor

    _table, entities = store.test_tables
    requests = [(entities, ["stats:rate"], False), (f"SELECT * FROM {entities} WHERE driver_id = 2", ["stats:rate"], True),
                (spark.table(entities).toPandas(), store.get_feature_service("svc"), False)] * 2
    sequential = [sorted(map(tuple, store.get_historical_features(e, f, full_feature_names=n).to_spark_df().collect()))
                  for e, f, n in requests]
    with ThreadPoolExecutor(max_workers=3) as pool:
        concurrent = list(pool.map(lambda r: sorted(map(tuple, store.get_historical_features(
            r[0], r[1], full_feature_names=r[2]).to_spark_df().collect())), requests))
    assert concurrent == sequential
