"""Feast's `feast.infra.offline_stores` import paths (see featurestore.infra)."""
