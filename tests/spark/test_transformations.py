"""Batch transformations (FeatureView(transformation=fn)): every path reads the transformed rows,
apply checks the output, the registry identifies the function and refuses a changed one.

One repo, one real Delta source: the transformation filters rows and derives a feature,
after field_mapping, so each rule below has an exact expected value that differs from
what the untransformed source would give.
"""
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from featurestore.errors import RetrievalError, ValidationError
from featurestore.store import FeatureStore

pytestmark = pytest.mark.spark
UTC = UTC
DAY1 = datetime(2026, 1, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return DAY1 + timedelta(hours=hours)


DEFINITIONS = '''
from datetime import timedelta
from featurestore import Aggregation, Entity, FeatureView, Field, SparkSource, spark_transformation
from featurestore.types import Float64, Int32, Int64

driver = Entity(name="driver", join_keys=["driver_id"])
source = SparkSource(name="trips_src", table="{table}", timestamp_field="event_ts",
                     created_timestamp_column="created", field_mapping={{"distance_m": "distance"}})


@spark_transformation
def per_trip(df):
    from pyspark.sql import functions as F

    return (df.where(F.col("trips") > 0)
              .select("driver_id", "event_ts", "created", "trips",
                      (F.col("distance") / F.col("trips") / 1000).alias("km_per_trip")))


per_trip_stats = FeatureView(name="per_trip_stats", entities=[driver], ttl=timedelta(0), source=source,
    schema=[Field(name="driver_id", dtype=Int64), Field(name="km_per_trip", dtype=Float64),
            Field(name="trips", dtype={trips_type})],
    transformation=per_trip)
trip_sums = FeatureView(name="trip_sums", entities=[driver], source=source, transformation=per_trip,
    schema=[Field(name="driver_id", dtype=Int64), Field(name="km_per_trip", dtype=Float64)],
    aggregations=[Aggregation(column="km_per_trip", function="sum", time_window=timedelta(hours=10))])
'''


@pytest.fixture(scope="module")
def trips_table(spark):
    table = f"tr_trips_{uuid.uuid4().hex[:8]}"
    spark.createDataFrame([
        (1, at(1), at(1), 3000.0, 2),   # 1.5 km per trip
        (1, at(2), at(2), 1000.0, 0),   # no trips: the transformation drops the row
        (1, at(3), at(3), 1000.0, 4),   # 0.25
        (2, at(1), at(1), 2000.0, 1),   # 2.0
    ], "driver_id bigint, event_ts timestamp, created timestamp, distance_m double, trips int") \
        .write.format("delta").saveAsTable(table)
    return table


@pytest.fixture
def store(repo_factory, trips_table):
    repo = repo_factory(DEFINITIONS.format(table=trips_table, trips_type="Int32"), project=f"p_{uuid.uuid4().hex[:6]}")
    store = FeatureStore(repo)
    store.apply(None, partial=False)
    return store


def entity_rows(spark):
    return spark.createDataFrame([(1, at(2.5)), (1, at(4)), (2, at(4))], "driver_id bigint, event_timestamp timestamp")


def rows(job):
    return sorted(tuple(r) for r in job.to_spark_df().select("driver_id", "event_timestamp", *[
        c for c in job.to_spark_df().columns if c not in ("driver_id", "event_timestamp")]).collect())


def naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def edit_function(store, old: str, new: str) -> None:
    path = store.repo_path / "features.py"
    path.write_text(path.read_text().replace(old, new))


def test_training_sets_see_the_transformed_rows(spark, store):
    job = store.get_historical_features(entity_rows(spark), ["per_trip_stats:km_per_trip", "per_trip_stats:trips"])
    assert rows(job) == [
        (1, naive(at(2.5)), 1.5, 2),    # the 02:00 row (0 trips) was dropped, so 01:00 wins
        (1, naive(at(4)), 0.25, 4),
        (2, naive(at(4)), 2.0, 1),
    ]
    code = store.get_feature_view("per_trip_stats").transformation_code
    assert job.definition["transformations"] == {"per_trip_stats": code.sha256}


def test_aggregations_run_on_the_transformed_rows(spark, store):
    job = store.get_historical_features(entity_rows(spark), ["trip_sums:km_per_trip_sum_10h"])
    assert rows(job) == [(1, naive(at(2.5)), 1.5), (1, naive(at(4)), 1.75), (2, naive(at(4)), 2.0)]


def test_materialization_writes_the_transformed_values(store):
    store.materialize(at(0), at(24), ["per_trip_stats"], log=lambda m: None)
    response = store.get_online_features(["per_trip_stats:km_per_trip", "per_trip_stats:trips"],
                                         [{"driver_id": 1}, {"driver_id": 2}])
    assert response.to_dict() == {"driver_id": [1, 2], "km_per_trip": [0.25, 2.0], "trips": [4, 1]}


def test_registry_holds_file_name_source_and_hash(store):
    code = store.get_feature_view("per_trip_stats").transformation_code
    assert (code.file, code.name) == ("features.py", "per_trip")
    assert code.source.startswith("@spark_transformation\ndef per_trip(df):")
    assert code.source in (store.repo_path / "features.py").read_text()
    assert code.sha256 == hashlib.sha256(code.source.encode()).hexdigest()
    assert store.get_feature_view("per_trip_stats").transformation is None  # no code object in the registry


def test_a_changed_function_is_refused_until_applied_and_restarts_materialization(spark, store):
    store.materialize(at(0), at(24), ["per_trip_stats"], log=lambda m: None)
    edit_function(store, "/ 1000)", "/ 100)")
    with pytest.raises(ValidationError) as error:
        store.get_historical_features(entity_rows(spark), ["per_trip_stats:km_per_trip"])
    message = str(error.value)
    assert message.startswith("FeatureView 'per_trip_stats': transformation features.py:per_trip in "
                              "the repo (sha256 ")
    assert "differs from the registered one" in message and "`featurestore apply`" in message
    with pytest.raises(ValidationError, match="differs from the registered one"):
        store.materialize(at(0), at(24), ["per_trip_stats"], log=lambda m: None)
    rendered = store.plan().render()
    assert "~ change FeatureView         per_trip_stats" in rendered
    assert "    transformation features.py:per_trip changed (sha256 " in rendered
    assert "materialization of per_trip_stats will restart: its transformation changed" in rendered
    store.apply(None, partial=False)
    assert store.get_feature_view("per_trip_stats").materialization_intervals == []
    job = store.get_historical_features(entity_rows(spark), ["per_trip_stats:km_per_trip"])
    assert [r[2] for r in rows(job)] == [15.0, 2.5, 20.0]


def test_rebuild_refuses_a_training_set_built_with_another_function(spark, store):
    table = f"ts_{uuid.uuid4().hex[:8]}"
    store.get_historical_features(entity_rows(spark), ["per_trip_stats:km_per_trip"]).save_as_table(table)
    assert [r[2] for r in rows(store.rebuild_training_set(table))] == [1.5, 0.25, 2.0]
    edit_function(store, "/ 1000)", "/ 100)")
    store.apply(None, partial=False)
    with pytest.raises(RetrievalError, match=rf"^training set {table} was built with other transformations than the "
                                             rf"registry now holds \(per_trip_stats: sha256 [0-9a-f]{{12}} -> "
                                             rf"[0-9a-f]{{12}}\); a rebuild would not reproduce it. Pass "
                                             rf"--allow-changed-transformations"):
        store.rebuild_training_set(table)
    rebuilt = store.rebuild_training_set(table, allow_changed_transformations=True)
    assert [r[2] for r in rows(rebuilt)] == [15.0, 2.5, 20.0]


@pytest.mark.parametrize("output, message", [
    ('"driver_id", "event_ts", "created",',
     r"FeatureView 'per_trip_stats': column 'trips' \(field 'trips'\) is not in the output of transformation "
     r"features.py:per_trip; its columns are driver_id, event_ts, created, km_per_trip$"),
    ('"driver_id", "event_ts", "created", F.col("trips").cast("string").alias("trips"),',
     r"FeatureView 'per_trip_stats': column 'trips' of the output of transformation features.py:per_trip has Spark "
     r"type string, which does not fit Int32 \(expected int or smallint or tinyint\); change the field's dtype or "
     r"cast the column in the transformation$"),
    ('"driver_id", "trips",', r"FeatureView 'per_trip_stats': timestamp_field 'event_ts' is not a column of the "
                              r"output of transformation features.py:per_trip; its columns are driver_id, trips, "
                              r"km_per_trip; keep it in the "
                 r"transformation's output$"),
], ids=["missing column", "wrong type", "missing timestamp"])
def test_apply_checks_the_output_schema(repo_factory, trips_table, output, message):
    definitions = DEFINITIONS.replace('"driver_id", "event_ts", "created", "trips",', output)
    store = FeatureStore(repo_factory(definitions.format(table=trips_table, trips_type="Int32")))
    with pytest.raises(ValidationError, match=message):
        store.apply(None, partial=False)
    assert not store.registry_store.exists()  # nothing written


def test_a_raising_transformation_names_the_view(repo_factory, trips_table):
    definitions = DEFINITIONS.replace("from pyspark.sql import functions as F\n", "raise KeyError('distance')\n")
    store = FeatureStore(repo_factory(definitions.format(table=trips_table, trips_type="Int32")))
    with pytest.raises(ValidationError, match=r"FeatureView 'per_trip_stats': transformation features.py:per_trip "
                                              r"raised KeyError: 'distance'; fix the function$"):
        store.apply(None, partial=False)


def test_a_lambda_is_refused_at_definition(repo_factory, trips_table):
    definitions = DEFINITIONS.replace("transformation=per_trip)", "transformation=lambda df: df)", 1)
    store = FeatureStore(repo_factory(definitions.format(table=trips_table, trips_type="Int32")))
    with pytest.raises(Exception, match=r"FeatureView 'per_trip_stats': transformation <lambda> must be a "
                                        r"module-level `def`"):
        store.apply(None, partial=False)
