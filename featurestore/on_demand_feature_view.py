"""Feast's import path `feast.on_demand_feature_view`, so that a Feast repo needs only `feast` renamed."""
from featurestore.definitions.on_demand import OnDemandFeatureView, on_demand_feature_view

__all__ = ["OnDemandFeatureView", "on_demand_feature_view"]
