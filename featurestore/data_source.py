"""Feast's import path `feast.data_source`, so that a Feast repo needs only `feast` renamed."""
from featurestore.definitions.on_demand import RequestSource
from featurestore.definitions.sources import DataSource, FileSource, PushSource, SparkSource
from featurestore.push import PushMode

__all__ = ["DataSource", "FileSource", "PushMode", "PushSource", "RequestSource", "SparkSource"]
