"""featurestore: a Spark-native batch feature platform.

Importing this package never imports pyspark: definitions, the registry and online reads
are pure Python; Spark starts only where a job needs it.
"""
import importlib

# Feast's module path featurestore.on_demand_feature_view shares its name with the decorator
# exported below. Loaded first, so that the decorator's binding wins: a submodule loaded later
# (by a repo importing from that path) would replace the package's attribute with itself, and
# `from featurestore import on_demand_feature_view` would then give a module.
importlib.import_module("featurestore.on_demand_feature_view")

from featurestore.definitions import (  # noqa: E402 - after the module of the same name
    Aggregation,
    BigQuerySource,
    ConflictPolicy,
    DeltaLoggingDestination,
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
from featurestore.types import ValueType  # noqa: E402

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
    "DeltaLoggingDestination",
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
