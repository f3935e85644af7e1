"""Small builders for training-set tests: real tables in the test warehouse, inline rows."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.offline.retrieval import get_historical_features
from featurestore.registry import RegistryState
from featurestore.types import Float64, Int64, String

UTC = UTC
SPARK_TYPES = {Int64: "bigint", Float64: "double", String: "string"}


def t(hour: int, minute: int = 0, day: int = 1) -> datetime:
    """A UTC time on 2026-01-<day>: short to write in test tables."""
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


def naive(value: datetime | None) -> datetime | None:
    """What Spark's collect() gives back for a UTC timestamp when TZ=UTC."""
    return value.replace(tzinfo=None) if value else None


def table_view(spark, name: str, keys: dict, features: dict, rows: list[tuple], ttl=timedelta(0),
               created: bool = True, fmt: str = "parquet", entities: list[Entity] | None = None) -> FeatureView:
    """Save rows (keys..., event_ts, [created], features...) as a real table and define a view on it."""
    table = f"t_{name}_{uuid.uuid4().hex[:8]}"
    columns = [f"{k} {SPARK_TYPES[d]}" for k, d in keys.items()] + ["event_ts timestamp"]
    columns += ["created timestamp"] if created else []
    columns += [f"{f} {SPARK_TYPES[d]}" for f, d in features.items()]
    frame = spark.createDataFrame(rows, ", ".join(columns))
    frame.write.format(fmt).saveAsTable(table)
    entities = entities or [Entity(name=f"{name}_entity", join_keys=list(keys))]
    source = SparkSource(name=f"{name}_source", table=table, timestamp_field="event_ts",
                         created_timestamp_column="created" if created else "")
    schema = [Field(name=k, dtype=d) for k, d in keys.items()] + [Field(name=f, dtype=d) for f, d in features.items()]
    return FeatureView(name=name, entities=entities, schema=schema, source=source, ttl=ttl)


def registry_of(*views: FeatureView) -> RegistryState:
    state = RegistryState(project="test")
    state.feature_views = {v.name: v for v in views}
    return state


def historical(spark, entity_df, views, refs, **kwargs):
    return get_historical_features(spark, registry_of(*views), entity_df, refs, **kwargs).to_spark_df()
