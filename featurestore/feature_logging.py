"""Feast's import path `feast.feature_logging`, so that a Feast repo needs only `feast` renamed."""
from featurestore.definitions.project import FileLoggingDestination, LoggingConfig

__all__ = ["FileLoggingDestination", "LoggingConfig"]
