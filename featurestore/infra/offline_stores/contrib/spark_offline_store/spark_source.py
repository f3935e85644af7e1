"""Feast's `...spark_offline_store.spark_source` (see featurestore.infra)."""
from featurestore.definitions.sources import SparkSource

__all__ = ["SparkSource"]
