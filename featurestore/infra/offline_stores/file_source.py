"""Feast's `feast.infra.offline_stores.file_source` (see featurestore.infra)."""
from featurestore.definitions.logging_config import FileLoggingDestination
from featurestore.definitions.sources import FileSource

__all__ = ["FileLoggingDestination", "FileSource"]
