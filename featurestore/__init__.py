"""featurestore: a Spark-native batch feature platform.

Importing this package never imports pyspark: definitions, the registry and online reads
are pure Python; Spark starts only where a job needs it.
"""
from featurestore.definitions import (
    Aggregation,
    BigQuerySource,
    ConflictPolicy,
    Entity,
    Feature,
    FeatureService,
    FeatureView,
    Field,
    FileLoggingDestination,
    FileSource,
    KafkaSource,
    LabelView,
    LoggingConfig,
    OnDemandFeatureView,
    Project,
    PushSource,
    RequestSource,
    SparkSource,
    StreamFeatureView,
    on_demand_feature_view,
    spark_transformation,
)
from featurestore.types import ValueType

__version__ = "0.1.0"


def __getattr__(name):
    # FeatureStore is imported lazily so `import featurestore` stays light.
    if name == "FeatureStore":
        from featurestore.store import FeatureStore
        return FeatureStore
    if name == "PushMode":
        from featurestore.push import PushMode
        return PushMode
    raise AttributeError(f"module 'featurestore' has no attribute {name!r}")


__all__ = [
    "Aggregation",
    "BigQuerySource",
    "ConflictPolicy",
    "Entity",
    "Feature",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "Field",
    "FileLoggingDestination",
    "FileSource",
    "KafkaSource",
    "LabelView",
    "LoggingConfig",
    "OnDemandFeatureView",
    "Project",
    "PushMode",
    "PushSource",
    "RequestSource",
    "SparkSource",
    "StreamFeatureView",
    "ValueType",
    "on_demand_feature_view",
    "spark_transformation",
]
