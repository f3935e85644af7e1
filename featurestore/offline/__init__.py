"""Spark-side work: reading sources, validating definitions, point-in-time joins."""
