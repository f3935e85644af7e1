"""Feast's Spark offline store's import paths (see featurestore.infra)."""
