"""The definition classes users write in a feature repo."""
from featurestore.definitions.aggregation import Aggregation
from featurestore.definitions.entity import Entity
from featurestore.definitions.feature_service import FeatureService
from featurestore.definitions.feature_view import FeatureView, FeatureViewProjection
from featurestore.definitions.field import Field
from featurestore.definitions.on_demand import OnDemandFeatureView, RequestSource, on_demand_feature_view
from featurestore.definitions.sources import DataSource, FileSource, SparkSource
from featurestore.definitions.transformation import CodeRef, spark_transformation

DEFINITION_TYPES = (Entity, DataSource, FeatureView, FeatureService, OnDemandFeatureView)

__all__ = [
           "DEFINITION_TYPES",
           "Aggregation",
           "CodeRef",
           "DataSource",
           "Entity",
           "FeatureService",
           "FeatureView",
           "FeatureViewProjection",
           "Field",
           "FileSource",
           "OnDemandFeatureView",
           "RequestSource",
           "SparkSource",
           "on_demand_feature_view",
           "spark_transformation",
]
