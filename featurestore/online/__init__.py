"""Online stores: the latest feature values per entity, read in pure Python (no pyspark)."""
