"""The definition classes users write in a feature repo, and KINDS, the table of their kinds (kinds.py)."""
from featurestore.definitions.aggregation import Aggregation
from featurestore.definitions.entity import Entity
from featurestore.definitions.feature_service import FeatureService
from featurestore.definitions.feature_view import FeatureView, FeatureViewProjection, StreamFeatureView
from featurestore.definitions.field import Feature, Field
from featurestore.definitions.kafka import AvroFormat, JsonFormat, KafkaSource
from featurestore.definitions.kinds import DEFINITION_TYPES, KINDS, DefinitionKind
from featurestore.definitions.label_view import ConflictPolicy, LabelView
from featurestore.definitions.logging_config import DeltaLoggingDestination, FileLoggingDestination, LoggingConfig
from featurestore.definitions.on_demand import OnDemandFeatureView, RequestSource, on_demand_feature_view
from featurestore.definitions.project import Project
from featurestore.definitions.sources import BigQuerySource, DataSource, FileSource, PushSource, SparkSource
from featurestore.definitions.transformation import CodeRef, spark_transformation

__all__ = [
           "DEFINITION_TYPES",
           "KINDS",
           "Aggregation",
           "AvroFormat",
           "BigQuerySource",
           "CodeRef",
           "ConflictPolicy",
           "DataSource",
           "DefinitionKind",
           "DeltaLoggingDestination",
           "Entity",
           "Feature",
           "FeatureService",
           "FeatureView",
           "FeatureViewProjection",
           "Field",
           "FileLoggingDestination",
           "FileSource",
           "JsonFormat",
           "KafkaSource",
           "LabelView",
           "LoggingConfig",
           "OnDemandFeatureView",
           "Project",
           "PushSource",
           "RequestSource",
           "SparkSource",
           "StreamFeatureView",
           "on_demand_feature_view",
           "spark_transformation",
]
