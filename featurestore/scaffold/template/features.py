"""Feature definitions of the driver-ranking example (as in Feast's walkthrough).

`featurestore apply` imports this file and registers every Entity, source, FeatureView
and FeatureService defined at module level.
"""
from datetime import timedelta

from featurestore import (
    Aggregation,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    RequestSource,
    SparkSource,
    on_demand_feature_view,
    spark_transformation,
)
from featurestore.types import Float32, Float64, Int32, Int64, String

driver = Entity(name="driver", join_keys=["driver_id"], description="A driver of the ride-hailing fleet")

driver_stats_source = SparkSource(
    name="driver_hourly_stats_source",
    table="{table}",  # a Delta table in the Spark warehouse
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)



@spark_transformation
def driver_stats_transformation(df):
    """Batch transformation: runs in Spark on the source rows, before training sets and materialization."""
    from pyspark.sql import functions as F  # imported here: serving imports this file without Spark

    return df.withColumn("trips_per_hour", (F.col("avg_daily_trips") / F.lit(24.0)).cast("float"))


driver_hourly_stats = FeatureView(
    name="driver_hourly_stats",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="conv_rate", dtype=Float32),
        Field(name="acc_rate", dtype=Float32),
        Field(name="avg_daily_trips", dtype=Int32),
        Field(name="trips_per_hour", dtype=Float32),
    ],
    source=driver_stats_source,
    transformation=driver_stats_transformation,
    online=True,
    tags={{"team": "driver_performance"}},
)

# Features computed by featurestore from trip events: windowed aggregations, point-in-time
# correct in training and the same values online. Windows end at the row's time - delay.
trip_events_source = SparkSource(
    name="trip_events_source",
    table="{trips_table}",  # one row per trip: driver_id, customer_id, fare, event_timestamp
    timestamp_field="event_timestamp",
)

driver_trips = FeatureView(
    name="driver_trips",
    entities=[driver],
    ttl=timedelta(days=2),
    delay=timedelta(minutes=5),
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="fare", dtype=Float64),
        Field(name="customer_id", dtype=String),
    ],
    aggregations=[
        Aggregation(function="count", time_window=timedelta(hours=1), name="trips_count_1h"),
        Aggregation(function="count", time_window=timedelta(days=1), name="trips_count_1d"),
        Aggregation(column="fare", function="mean", time_window=timedelta(days=7)),
        Aggregation(column="fare", function="sum", time_window=timedelta(days=1)),
        Aggregation(column="customer_id", function="approx_count_distinct", time_window=timedelta(days=7),
                    name="customers_7d"),
    ],
    source=trip_events_source,
    tags={{"team": "driver_performance"}},
)

# Computed at request time from a stored feature and a value sent with the request
# (Feast's classic example); offline the request value is an entity-frame column.
input_request = RequestSource(name="vals_to_add", schema=[Field(name="val_to_add", dtype=Int64)])


@on_demand_feature_view(
    sources=[driver_hourly_stats[["conv_rate"]], input_request],
    schema=[Field(name="conv_rate_plus_val", dtype=Float64)],
    mode="python",
)
def transformed_conv_rate(inputs):
    return {{"conv_rate_plus_val": [None if rate is None else rate + val
                                   for rate, val in zip(inputs["conv_rate"], inputs["val_to_add"])]}}


driver_ranking = FeatureService(
    name="driver_ranking",
    features=[driver_hourly_stats[["conv_rate", "acc_rate", "avg_daily_trips"]],
              driver_trips[["trips_count_1d", "fare_mean_7d"]]],
    description="Features of the driver-ranking model",
)
