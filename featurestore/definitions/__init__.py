"""The definition classes users write in a feature repo."""
from featurestore.definitions.aggregation import Aggregation
from featurestore.definitions.entity import Entity
from featurestore.definitions.feature_service import FeatureService
from featurestore.definitions.feature_view import FeatureView, FeatureViewProjection
from featurestore.definitions.field import Field
from featurestore.definitions.sources import DataSource, FileSource, SparkSource

DEFINITION_TYPES = (Entity, DataSource, FeatureView, FeatureService)

__all__ = ["Aggregation", "Entity", "Field", "FeatureView", "FeatureViewProjection", "FeatureService", "DataSource",
           "SparkSource", "FileSource", "DEFINITION_TYPES"]
