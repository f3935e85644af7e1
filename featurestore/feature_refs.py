"""Turning "view:feature" references or a FeatureService into the views and features to read.

Shared by training-set retrieval and online reads, so both resolve names the same way
and fail the same way on unknown views or features. A reference may name a feature view
or an on-demand feature view; the features an on-demand view reads from other views are
added by with_inputs() (read or joined, used, then dropped unless asked for).
"""
from __future__ import annotations

from dataclasses import dataclass

from featurestore.definitions import FeatureService, FeatureView, OnDemandFeatureView
from featurestore.errors import NotFoundError, RetrievalError, did_you_mean
from featurestore.registry import RegistryState


class _Request:
    """What both kinds of request share: how a requested feature's column is named."""

    def output_name(self, feature: str, full_feature_names: bool) -> str:
        return f"{self.view.name}__{feature}" if full_feature_names else feature


@dataclass
class ViewRequest(_Request):
    """The features wanted from one view, in the order they were asked for."""
    view: FeatureView
    features: list[str]


@dataclass
class OnDemandRequest(_Request):
    """The features wanted from one on-demand view, in the order they were asked for."""
    view: OnDemandFeatureView
    features: list[str]


def resolve_features(registry: RegistryState, features) -> list[ViewRequest | OnDemandRequest]:
    """Group the requested features by view (feature views and on-demand views, in the order
    they first appear), checking each against the registry."""
    if isinstance(features, FeatureService):
        refs = features.feature_refs()
    elif isinstance(features, str):
        raise RetrievalError(f"features must be a list of 'view:feature' strings or a FeatureService, got the "
                             f"string {features!r}; wrap it in a list")
    else:
        refs = list(features or [])
    if not refs:
        raise RetrievalError("no features requested: pass 'view:feature' references or a FeatureService")
    requests: dict[str, ViewRequest] = {}
    for ref in refs:
        if not isinstance(ref, str) or ref.count(":") != 1:
            raise RetrievalError(f"feature reference {ref!r} must look like 'view_name:feature_name'")
        view_name, feature = ref.split(":")
        on_demand = registry.on_demand_feature_views
        if view_name not in registry.feature_views and view_name not in on_demand:
            names = list(registry.feature_views) + list(on_demand)
            raise NotFoundError(f"feature reference {ref!r}: no feature view {view_name!r} in project "
                                f"{registry.project!r}.{did_you_mean(view_name, names)} "
                                f"Run `featurestore feature-views list` to see them")
        if view_name in registry.feature_views:
            request = requests.setdefault(view_name, ViewRequest(registry.feature_views[view_name], []))
        else:
            request = requests.setdefault(view_name, OnDemandRequest(on_demand[view_name], []))
        request.view.feature(feature)  # raises NotFoundError with a suggestion
        if feature not in request.features:
            request.features.append(feature)
    return list(requests.values())


def with_inputs(registry: RegistryState, requests: list) -> list[ViewRequest]:
    """The feature-view requests to read or join: those asked for plus the features the requested
    on-demand views read (merged per view, asked-for features first)."""
    lookups: dict[str, ViewRequest] = {}
    for request in requests:
        if isinstance(request, ViewRequest):
            lookups[request.view.name] = ViewRequest(request.view, list(request.features))
    for request in requests:
        if not isinstance(request, OnDemandRequest):
            continue
        for projection in request.view.source_projections:
            view = registry.feature_views.get(projection.view_name)
            if view is None:
                raise NotFoundError(f"on-demand feature view {request.view.name!r} reads feature view "
                                    f"{projection.view_name!r}, which is not registered; run `featurestore apply`")
            lookup = lookups.setdefault(view.name, ViewRequest(view, []))
            for feature in projection.features:
                view.feature(feature)
                if feature not in lookup.features:
                    lookup.features.append(feature)
    return list(lookups.values())


def check_output_names(requests: list, reserved: list[str], full_feature_names: bool) -> list[str]:
    """The output feature columns; a clash (same feature in two views, or with an entity column) is an error."""
    owner: dict[str, str] = {column: "the entity rows" for column in reserved}
    names = []
    for request in requests:
        for feature in request.features:
            name = request.output_name(feature, full_feature_names)
            if name in owner:
                hint = "" if full_feature_names else "; pass full_feature_names=True to get view__feature names"
                raise RetrievalError(f"output column {name!r} of feature view {request.view.name!r} clashes with "
                                     f"{owner[name] if owner[name] == 'the entity rows' else 'feature view ' + repr(owner[name])}"
                                     f"{hint}")
            owner[name] = request.view.name
            names.append(name)
    return names
