"""The catalog reads stored profiles without a JVM (catalog.delta_log, catalog.profiles): the
same profiles Spark's load_profile reads, past a Delta checkpoint; and shows them on the
feature view page with verdicts and plots."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.catalog import pages
from featurestore.catalog.warehouse import Warehouse
from featurestore.quality.profile import load_profile, store_profile
from featurestore.registry import RegistryState
from featurestore.types import Float64, Int64


def test_stored_profiles_read_without_spark_equal_load_profile_past_a_checkpoint(spark):
    table = "default.catalog_profiled"
    spark.sql(f"DROP TABLE IF EXISTS {table}")
    spark.sql("DELETE FROM default.featurestore_profiles WHERE table_name = 'default.catalog_profiled'") \
        if spark.catalog.tableExists("default.featurestore_profiles") else None
    spark.createDataFrame([(1, 0.5), (2, 0.25)], "driver_id bigint, conv_rate double") \
        .write.format("delta").saveAsTable(table)
    for round_ in range(4):  # 4 versions, each profile one commit, a Delta checkpoint every 2
        store_profile(spark, table)
        if round_ == 0:
            spark.sql("ALTER TABLE default.featurestore_profiles SET TBLPROPERTIES ('delta.checkpointInterval' = '2')")
        spark.createDataFrame([(10 + round_, 0.1 * round_)], "driver_id bigint, conv_rate double") \
            .write.format("delta").mode("append").saveAsTable(table)
    store_profile(spark, table, version=0)  # stored again: the newest row of a version wins
    warehouse = Path(spark.conf.get("spark.sql.warehouse.dir").removeprefix("file:"))
    assert (warehouse / "featurestore_profiles" / "_delta_log" / "_last_checkpoint").exists()
    read = Warehouse(warehouse).profiles(table)
    assert [p.source["version"] for p in read] == list(range(4))
    assert [p.to_json() for p in read] == [load_profile(spark, table, v).to_json() for v in range(4)]

    driver = Entity(name="driver", join_keys=["driver_id"])
    source = SparkSource(name="profiled", table=table, timestamp_field="event_timestamp")
    view = FeatureView(name="profiled_view", entities=[driver], source=source, ttl=timedelta(days=1),
                       schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float64)])
    state = RegistryState(project="p")
    state.entities["driver"], state.data_sources["profiled"], state.feature_views["profiled_view"] = \
        driver, source, view
    page = pages.render(state, "feature-views/profiled_view.html", Warehouse(warehouse))
    assert f"newest {table}@3, 5 rows" in page and f"against {table}@2" in page
    assert '<figure data-feature="conv_rate"><img alt="conv_rate: profile plot" src="data:image/png;base64,' in page
    assert "<h2>Source history</h2><table><tr><th>version</th>" in page and "WRITE" in page


def test_saved_training_sets_and_histories_are_found_in_the_warehouse(spark):
    import json

    spark.sql("CREATE DATABASE IF NOT EXISTS catalog_ml")
    spark.sql("DROP TABLE IF EXISTS catalog_ml.saved_set")
    definition = {"features": ["stats:conv_rate"], "feature_service": None, "registry_version": 3}
    spark.sql(f"CREATE TABLE catalog_ml.saved_set (driver_id BIGINT) USING delta "
              f"TBLPROPERTIES ('featurestore.training_set' = '{json.dumps(definition)}')")
    spark.sql("INSERT INTO catalog_ml.saved_set VALUES (1), (2)")
    warehouse = Warehouse(Path(spark.conf.get("spark.sql.warehouse.dir").removeprefix("file:")))
    saved = [t for t in warehouse.training_sets() if t.table == "catalog_ml.saved_set"]
    assert [(t.version, t.definition) for t in saved] == [(1, definition)]
    assert [(v, operation) for v, _, operation in warehouse.history("catalog_ml.saved_set")] == [
        (1, "WRITE"), (0, "CREATE TABLE")]
    assert warehouse.history("catalog_ml.nope") is None
