"""Feast's projections: view[["f"]], view.with_name("origin"), view.with_join_key_map({...}).

One view of weather per location serves a trip twice, as its origin and as its destination,
each read from its own entity column. Offline and online, on SQLite and Redis, the values are
the unprojected view's, under the new names and keys; a saved training set rebuilds with
them; the registry keeps them. A randomized test compares projected retrieval with the
unprojected view read through renamed entity columns.
"""
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from featurestore import Entity, FeatureService, FeatureView, Field, FileSource
from featurestore.errors import DefinitionError, RetrievalError
from featurestore.store import FeatureStore
from featurestore.types import Float64, Int64

pytestmark = pytest.mark.spark
END = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)

DEFINITIONS = """
from datetime import timedelta
from featurestore import Aggregation, Entity, FeatureService, FeatureView, Field, SparkSource
from featurestore.types import Float64, Int64
location = Entity(name="location", join_keys=["location_id"])
source = SparkSource(name="weather_src", table="{table}", timestamp_field="event_ts")
weather = FeatureView(name="weather", entities=[location], ttl=timedelta(days=1), source=source,
    schema=[Field(name="location_id", dtype=Int64), Field(name="temperature", dtype=Float64),
            Field(name="humidity", dtype=Float64)])
readings = FeatureView(name="readings", entities=[location], source=source,
    schema=[Field(name="location_id", dtype=Int64)],
    aggregations=[Aggregation(function="count", time_window=timedelta(days=1), name="readings_1d")])
trip = FeatureService(name="trip", features=[
    weather.with_name("origin").with_join_key_map({{"location_id": "origin_id"}}),
    weather[["temperature"]].with_name("destination").with_join_key_map({{"location_id": "destination_id"}}),
    readings.with_join_key_map({{"location_id": "destination_id"}}),
])
"""
COLUMNS = ["origin__temperature", "origin__humidity", "destination__temperature", "readings__readings_1d"]


def hours(n: float) -> datetime:
    return (END - timedelta(hours=n)).replace(tzinfo=None)


@pytest.fixture(scope="module")
def weather_table(spark):
    table = f"weather_{uuid.uuid4().hex[:8]}"
    spark.createDataFrame([(1, hours(3), 10.0, 0.5), (1, hours(1), 11.0, 0.6), (2, hours(2), 20.0, 0.7),
                           (3, hours(30), 30.0, 0.8)],
                          "location_id bigint, event_ts timestamp, temperature double, humidity double") \
        .write.format("delta").saveAsTable(table)
    return table


@pytest.fixture
def store(repo_factory, weather_table, online_config):
    store = FeatureStore(repo_factory(DEFINITIONS.format(table=weather_table), online_store=online_config,
                                      project=f"p_{uuid.uuid4().hex[:6]}"))
    store.apply(store.load_repo(), partial=False)
    return store


def trips(spark):
    return spark.createDataFrame(
        [(100, 1, 2, hours(1.5)), (101, 2, 1, hours(0)), (102, 3, 4, hours(0)), (103, 1, 1, hours(4))],
        "trip_id bigint, origin_id bigint, destination_id bigint, event_timestamp timestamp")


def rows(job):
    return sorted(tuple(r) for r in job.to_spark_df().collect())


@pytest.mark.parametrize("online_config", ["sqlite"], indirect=True)
def test_one_view_served_as_origin_and_destination_offline(spark, store):
    job = store.get_historical_features(trips(spark), store.get_feature_service("trip"), full_feature_names=True)
    assert job.to_spark_df().columns == ["trip_id", "origin_id", "destination_id", "event_timestamp"] + COLUMNS
    assert rows(job) == [
        (100, 1, 2, hours(1.5), 10.0, 0.5, 20.0, 1),
        (101, 2, 1, hours(0), 20.0, 0.7, 11.0, 2),
        (102, 3, 4, hours(0), None, None, None, 0),  # location 3's reading is older than the ttl; 4 has none
        (103, 1, 1, hours(4), None, None, None, 0),  # before any reading
    ]
    # the same projections in a feature list, beside a plain reference
    weather = store.get_feature_view("weather")
    job = store.get_historical_features(trips(spark).withColumnRenamed("trip_id", "location_id"), [
        weather[["humidity"]].with_name("origin").with_join_key_map({"location_id": "origin_id"}),
        "readings:readings_1d"], full_feature_names=True)
    assert job.to_spark_df().columns[4:] == ["origin__humidity", "readings__readings_1d"]
    assert [tuple(r)[4:] for r in job.to_spark_df().orderBy("location_id").collect()] == [
        (0.5, 0), (0.7, 0), (None, 0), (None, 0)]  # readings by location_id, here 100 to 103: none


@pytest.mark.parametrize("online_config", ["sqlite"], indirect=True)
def test_projected_names_that_clash_need_full_feature_names(spark, store):
    with pytest.raises(RetrievalError, match="output column 'temperature' of feature view 'destination' clashes with "
                                             "feature view 'origin'; pass full_feature_names=True"):
        store.get_historical_features(trips(spark), store.get_feature_service("trip"))
    with pytest.raises(RetrievalError, match="entity rows lack the join key.s. destination_id of feature view "
                                             "'destination'"):
        store.get_historical_features(trips(spark).drop("destination_id"), store.get_feature_service("trip"),
                                      full_feature_names=True)


def test_online_reads_agree_with_the_training_set_at_the_same_time(spark, store):
    store.materialize(END - timedelta(days=30), END, log=lambda _: None)
    entity_rows = [{"origin_id": 1, "destination_id": 2}, {"origin_id": 2, "destination_id": 1},
                   {"origin_id": 3, "destination_id": 4}]
    online = store.get_online_features(store.get_feature_service("trip"), entity_rows, full_feature_names=True)
    values, statuses = online.to_dict(), online.statuses()
    assert values == {"origin_id": [1, 2, 3], "destination_id": [2, 1, 4],
                      "origin__temperature": [11.0, 20.0, None], "origin__humidity": [0.6, 0.7, None],
                      "destination__temperature": [20.0, 11.0, None], "readings__readings_1d": [1, 2, 0]}
    assert statuses["origin__temperature"] == ["PRESENT", "PRESENT", "OUTSIDE_MAX_AGE"]
    assert statuses["destination__temperature"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
    entities = spark.createDataFrame([(r["origin_id"], r["destination_id"], END) for r in entity_rows],
                                     "origin_id bigint, destination_id bigint, event_timestamp timestamp")
    offline = store.get_historical_features(entities, store.get_feature_service("trip"), full_feature_names=True)
    for index, row in enumerate(sorted(offline.to_spark_df().collect())):
        for column in COLUMNS:
            if statuses[column][index] == "PRESENT":
                assert values[column][index] == row[column], (index, column)
            else:
                assert row[column] is None, (index, column)  # a count of no event is 0 and PRESENT on both sides


@pytest.mark.parametrize("online_config", ["sqlite"], indirect=True)
def test_the_registry_keeps_projections_and_a_training_set_rebuilds_with_them(spark, store, tmp_path):
    service = store.get_feature_service("trip")
    assert [(p.view_name, p.name, p.join_key_map, p.features) for p in service.projections] == [
        ("weather", "origin", {"location_id": "origin_id"}, ["temperature", "humidity"]),
        ("weather", "destination", {"location_id": "destination_id"}, ["temperature"]),
        ("readings", "readings", {"location_id": "destination_id"}, ["readings_1d"])]
    assert store.plan(store.load_repo(), delete_missing=True).is_empty()
    table = f"trip_set_{uuid.uuid4().hex[:6]}"
    store.get_historical_features(trips(spark), service, full_feature_names=True).save_as_table(table, profile=False)
    assert rows(store.rebuild_training_set(table)) == sorted(tuple(r) for r in spark.table(table).collect())


def test_bad_projections_are_refused_where_they_are_written():
    location = Entity(name="location", join_keys=["location_id"])
    weather = FeatureView(name="weather", entities=[location], ttl=timedelta(days=1),
                          source=FileSource(name="w", path="data/w.parquet", timestamp_field="ts"),
                          schema=[Field(name="location_id", dtype=Int64), Field(name="temperature", dtype=Float64)])
    with pytest.raises(DefinitionError, match="'origin' is not one of its join keys .location_id."):
        weather.with_join_key_map({"origin": "origin_id"})
    with pytest.raises(DefinitionError, match="is listed twice; .* give each use its own name with view.with_name"):
        FeatureService(name="s", features=[weather, weather.with_join_key_map({"location_id": "origin_id"})])
    with pytest.raises(DefinitionError, match="with_name name 'two words' is not a plain identifier"):
        weather.with_name("two words")
    both = FeatureService(name="s", features=[weather, weather.with_name("w2")])
    assert [p.name for p in both.projections] == ["weather", "w2"]
    assert repr(weather[["temperature"]].with_name("origin").with_join_key_map({"location_id": "o"})) == \
        "weather[['temperature']].with_name('origin').with_join_key_map({'location_id': 'o'})"


@pytest.mark.parametrize("online_config", ["sqlite"], indirect=True)
def test_randomized_projection_equals_the_view_read_through_renamed_columns(spark, store):
    rng = random.Random(11)
    entity_rows = [(n, rng.randint(1, 4), rng.randint(1, 4), hours(rng.uniform(0, 40))) for n in range(40)]
    trips_df = spark.createDataFrame(entity_rows, "trip_id bigint, origin_id bigint, destination_id bigint, "
                                                  "event_timestamp timestamp")
    projected = {r.trip_id: (r.origin__temperature, r.destination__temperature, r.readings__readings_1d)
                 for r in store.get_historical_features(trips_df, store.get_feature_service("trip"),
                                                        full_feature_names=True).to_spark_df().collect()}

    def plain(column):
        entities = trips_df.select("trip_id", trips_df[column].alias("location_id"), "event_timestamp")
        job = store.get_historical_features(entities, ["weather:temperature", "readings:readings_1d"])
        return {r.trip_id: (r.temperature, r.readings_1d) for r in job.to_spark_df().collect()}

    origin, destination = plain("origin_id"), plain("destination_id")
    assert projected == {n: (origin[n][0], destination[n][0], destination[n][1]) for n in origin}
