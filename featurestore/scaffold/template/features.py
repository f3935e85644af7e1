"""Feature definitions of the driver-ranking example (as in Feast's walkthrough).

`featurestore apply` imports this file and registers every Entity, source, FeatureView
and FeatureService defined at module level.
"""
from datetime import timedelta

from featurestore import Entity, FeatureService, FeatureView, Field, SparkSource
from featurestore.types import Float32, Int32, Int64

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

driver_ranking = FeatureService(
    name="driver_ranking",
    features=[driver_hourly_stats[["conv_rate", "acc_rate", "avg_daily_trips"]]],
    description="Features of the driver-ranking model",
)
