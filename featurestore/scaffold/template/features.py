"""Feature definitions of the driver-ranking example (as in Feast's walkthrough).

`featurestore apply` imports this file and registers every Entity, source, FeatureView
and FeatureService defined at module level.
"""
from datetime import timedelta

from featurestore import Aggregation, Entity, FeatureService, FeatureView, Field, SparkSource
from featurestore.types import Float32, Float64, Int32, Int64, String

driver = Entity(name="driver", join_keys=["driver_id"], description="A driver of the ride-hailing fleet")

driver_stats_source = SparkSource(
    name="driver_hourly_stats_source",
    table="{table}",  # a Delta table in the Spark warehouse
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)

driver_hourly_stats = FeatureView(
    name="driver_hourly_stats",
    entities=[driver],
    ttl=timedelta(days=1),
    schema=[
        Field(name="driver_id", dtype=Int64),
        Field(name="conv_rate", dtype=Float32),
        Field(name="acc_rate", dtype=Float32),
        Field(name="avg_daily_trips", dtype=Int32),
    ],
    source=driver_stats_source,
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

driver_ranking = FeatureService(
    name="driver_ranking",
    features=[driver_hourly_stats[["conv_rate", "acc_rate", "avg_daily_trips"]],
              driver_trips[["trips_count_1d", "fare_mean_7d"]]],
    description="Features of the driver-ranking model",
)
