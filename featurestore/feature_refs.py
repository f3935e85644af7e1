"""Turning "view:feature" references or a FeatureService into the views and features to read.

Shared by training-set retrieval and online reads, so both resolve names the same way
and fail the same way on unknown views or features. A reference may name a feature view
or an on-demand feature view; the features an on-demand view reads from other views are
added by with_inputs() (read or joined, used, then dropped unless asked for).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from featurestore.definitions import FeatureService, FeatureView, OnDemandFeatureView
from featurestore.definitions.feature_view import FeatureViewProjection, check_join_key_map
from featurestore.errors import NotFoundError, RetrievalError, did_you_mean
from featurestore.registry import RegistryState


def feature_column(view: str, feature: str, full_feature_names: bool = True) -> str:
    """The column a requested feature is returned in: `view__feature` with full_feature_names
    (Feast's naming, the view's with_name alias when it has one), else the feature's name."""
    return f"{view}__{feature}" if full_feature_names else feature


class _Request:
    """What both kinds of request share: how a requested feature's column is named."""

    def output_name(self, feature: str, full_feature_names: bool) -> str:
        return feature_column(self.name, feature, full_feature_names)


@dataclass
class ViewRequest(_Request):
    """The features wanted from one view, in the order they were asked for.

    name: what the features are served under (a with_name alias, else the view's name);
    join_key_map: the entity column each join key is read from, where it is not the key itself
    (with_join_key_map).
    """
    view: FeatureView
    features: list[str]
    name: str = ""
    join_key_map: dict = field(default_factory=dict)

    def __post_init__(self):
        self.name = self.name or self.view.name

    @property
    def key_columns(self) -> list[str]:
        """The entity columns the view's join keys are read from, in join-key order."""
        return [self.join_key_map.get(k, k) for k in self.view.join_keys]

    @property
    def is_projected(self) -> bool:
        return self.name != self.view.name or bool(self.join_key_map)


@dataclass
class OnDemandRequest(_Request):
    """The features wanted from one on-demand view, in the order they were asked for."""
    view: OnDemandFeatureView
    features: list[str]

    @property
    def name(self) -> str:
        return self.view.name


def resolve_features(registry: RegistryState, features) -> list[ViewRequest | OnDemandRequest]:
    """Group the requested features by the name they are served under (a view's, or a projection's
    with_name; in the order they first appear), checking each against the registry.

    features: a FeatureService, or a list of "view:feature" strings and view[[...]] projections.
    """
    if isinstance(features, FeatureService):
        items = list(features.projections)
    elif isinstance(features, str):
        raise RetrievalError(f"features must be a list of 'view:feature' strings or a FeatureService, got the "
                             f"string {features!r}; wrap it in a list")
    else:
        items = list(features or [])
    if not items:
        raise RetrievalError("no features requested: pass 'view:feature' references or a FeatureService")
    requests: dict[str, ViewRequest | OnDemandRequest] = {}
    for item in items:
        if isinstance(item, (FeatureView, OnDemandFeatureView)):
            item = item[[f.name for f in item.features]]
        if isinstance(item, FeatureViewProjection):
            view_name, names, alias, key_map = item.view_name, item.features, item.name_alias, item.join_key_map
            ref = repr(item)
        elif isinstance(item, str) and item.count(":") == 1:
            view_name, feature = item.split(":")
            names, alias, key_map, ref = [feature], "", {}, repr(item)
        else:
            raise RetrievalError(f"feature reference {item!r} must look like 'view_name:feature_name' "
                                 f"(or be a view[[...]] projection)")
        view = _registered_view(registry, view_name, ref)
        if isinstance(view, OnDemandFeatureView):
            if alias or key_map:
                raise RetrievalError(f"{ref}: with_name and with_join_key_map apply to feature views, not to "
                                     f"on-demand feature view {view_name!r}")
            wanted = OnDemandRequest(view, [])
        else:
            check_join_key_map(view, key_map)
            wanted = ViewRequest(view, [], alias, dict(key_map))
        request = requests.setdefault(wanted.name, wanted)
        if type(request) is not type(wanted) or request.view is not view or \
                getattr(request, "join_key_map", None) != getattr(wanted, "join_key_map", None):
            raise RetrievalError(f"{ref}: the name {wanted.name!r} is already used by another use of feature view "
                                 f"{request.view.name!r}; give this one its own name with .with_name(...)")
        for feature in names:
            view.feature(feature)  # raises NotFoundError with a suggestion
            if feature not in request.features:
                request.features.append(feature)
    return list(requests.values())


def _registered_view(registry: RegistryState, view_name: str, ref: str):
    """The feature view or on-demand view of that name; NotFoundError with a suggestion."""
    if view_name in registry.feature_views:
        return registry.feature_views[view_name]
    if view_name in registry.on_demand_feature_views:
        return registry.on_demand_feature_views[view_name]
    names = list(registry.feature_views) + list(registry.on_demand_feature_views)
    raise NotFoundError(f"feature reference {ref}: no feature view {view_name!r} in project "
                        f"{registry.project!r}.{did_you_mean(view_name, names)} "
                        f"Run `featurestore feature-views list` to see them", "FeatureViewNotFoundException")


def with_inputs(registry: RegistryState, requests: list) -> list[ViewRequest]:
    """The feature-view requests to read or join: those asked for plus the features the requested
    on-demand views read (merged per view, asked-for features first)."""
    lookups: dict[str, ViewRequest] = {}
    for request in requests:
        if isinstance(request, ViewRequest):
            lookups[request.name] = ViewRequest(request.view, list(request.features), request.name,
                                                dict(request.join_key_map))
    for request in requests:
        if not isinstance(request, OnDemandRequest):
            continue
        for projection in request.view.source_projections:
            view = registry.feature_views.get(projection.view_name)
            if view is None:
                raise NotFoundError(f"on-demand feature view {request.view.name!r} reads feature view "
                                    f"{projection.view_name!r}, which is not registered; run `featurestore apply`")
            lookup = lookups.setdefault(view.name, ViewRequest(view, []))
            if lookup.join_key_map:
                raise RetrievalError(f"on-demand feature view {request.view.name!r} reads feature view {view.name!r} "
                                     f"by its own join keys, but it is also requested with_join_key_map under its "
                                     f"own name; give that use another name with .with_name(...)")
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
                raise RetrievalError(f"output column {name!r} of feature view {request.name!r} clashes with "
                                     f"{owner[name] if owner[name] == 'the entity rows' else 'feature view ' + repr(owner[name])}"
                                     f"{hint}")
            owner[name] = request.name
            names.append(name)
    return names
