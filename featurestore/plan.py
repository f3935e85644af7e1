"""What apply would change: the diff between the registry and the desired definitions.

A diff is a list of additions, changes and deletions by kind and name. It is computed
against a snapshot for display (`featurestore plan`), and applied by name onto the
registry as it is on disk at write time, so a concurrent writer's unrelated changes stay.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from featurestore.definitions import FeatureView
from featurestore.definitions.kinds import BY_FIELD, KINDS
from featurestore.errors import DefinitionError, did_you_mean
from featurestore.identity import view_fingerprint
from featurestore.registry import RegistryState
from featurestore.repo import RepoContents

LABEL_WIDTH = max(len(kind.label) for kind in KINDS)  # names line up in `plan`


@dataclass(frozen=True)
class Change:
    kind: str  # the kind's field: 'entities', 'data_sources', 'feature_views', ... (definitions.kinds)
    name: str
    action: str  # 'add', 'change' or 'delete'
    new: object = None  # the definition to write; None for deletions
    restart: str = ""  # feature views: why materialization starts over ('' when it does not)
    detail: str = ""  # e.g. which function changed, from which hash to which


def restart_reason(old: FeatureView, new: FeatureView) -> str:
    """Why a changed view's stored online values can no longer be trusted ('' if they can).

    The online store holds what the old definition materialized. If the source, the join
    keys or the features (names or types) change, those values are not what the new
    definition would give offline, and a new feature would have no value at all; a view
    taken offline loses its values. Then apply removes the view's online values and its
    recorded intervals, so the next materialization starts from scratch. These are the
    changes of the view's fingerprint (featurestore.identity). Description, tags, ttl and
    field descriptions change nothing stored, so history is kept.
    """
    if old.online and not new.online:
        return "the view is no longer online"
    if view_fingerprint(old) == view_fingerprint(new):
        return ""
    if old.source != new.source:
        return "its source changed"
    if old.join_keys != new.join_keys:
        return "its join keys changed"
    if [(f.name, f.dtype) for f in old.features] != [(f.name, f.dtype) for f in new.features]:
        return "its features changed"
    if old.aggregations != new.aggregations or old.delay != new.delay:
        return "its aggregations changed"
    if old.transformation_code != new.transformation_code:
        return "its transformation changed"
    return "its stream source changed" if old.stream_source != new.stream_source else "its definition changed"


def ttl_change(old: FeatureView, new: FeatureView) -> str:
    """What a ttl change does to an online view that keeps its values ('' when the ttl is the same)."""
    if old.ttl == new.ttl or not new.online:
        return ""
    before, after = duration_text(old.ttl), duration_text(new.ttl)
    if new.ttl <= timedelta(0) or (old.ttl > timedelta(0) and new.ttl > old.ttl):
        if new.is_aggregating:
            return f"ttl {before} -> {after}: reads serve older windows; the stored ones are kept"
        reloaded = "all the history before it" if new.ttl <= timedelta(0) else f"{duration_text(new.ttl - old.ttl)}"
        return (f"ttl {before} -> {after}: the next materialization reloads {reloaded} (events older than what "
                f"is online, now within the ttl)")
    return f"ttl {before} -> {after}: values older than {after} are no longer served (reads say OUTSIDE_MAX_AGE)"


def duration_text(duration: timedelta) -> str:
    """A ttl as plan shows it.

    >>> duration_text(timedelta(days=30)), duration_text(timedelta(hours=36)), duration_text(timedelta(0))
    ('30d', '36h', '0 (no limit)')
    """
    seconds = int(duration.total_seconds())
    if seconds <= 0:
        return "0 (no limit)"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def code_change(attribute: str, old, new) -> str:
    """A line describing a changed transformation or udf ('' when the code is the same).

    attribute: where the kind keeps its CodeRef ('transformation_code', 'udf_code').
    """
    before, after = getattr(old, attribute, None), getattr(new, attribute, None)
    if before == after:
        return ""
    role = attribute.removesuffix("_code")
    if before is None:
        return f"{role} {after.qualified_name} added (sha256 {after.short_hash})"
    if after is None:
        return f"{role} {before.qualified_name} removed"
    return f"{role} {after.qualified_name} changed (sha256 {before.short_hash} -> {after.short_hash})"


@dataclass
class RegistryDiff:
    changes: list[Change]

    def is_empty(self) -> bool:
        return not self.changes

    def of(self, kind: str, action: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind and c.action == action]

    def render(self) -> str:
        if self.is_empty():
            return "No changes: the registry already matches the definitions."
        symbols = {"add": "+ add   ", "change": "~ change", "delete": "- delete"}
        lines = []
        for c in self.changes:
            lines.append(f"{symbols[c.action]} {BY_FIELD[c.kind].label:<{LABEL_WIDTH}} {c.name}")
            if c.detail:
                lines.append(f"    {c.detail}")
            if c.restart:
                lines.append(f"    materialization of {c.name} will restart: {c.restart}; its online values and "
                             f"materialized intervals are removed (run `featurestore materialize-incremental` again)")
        counts = {a: sum(c.action == a for c in self.changes) for a in ("add", "change", "delete")}
        lines.append(f"{counts['add']} to add, {counts['change']} to change, {counts['delete']} to delete.")
        return "\n".join(lines)

    def restarted(self) -> list[Change]:
        """The view changes after which materialization starts over (see restart_reason)."""
        return [c for c in self.changes if c.restart]

    def apply_to(self, state: RegistryState) -> None:
        """Apply by name onto `state` (the registry as it is now).

        A changed view keeps its materialization history unless the change restarts it.
        """
        for change in self.changes:
            items = state.collection(change.kind)
            if change.action == "delete":
                items.pop(change.name, None)
                continue
            if change.kind == "feature_views" and change.name in items:
                old = items[change.name]
                if change.restart:
                    change.new.online_reset_pending = old.online or old.online_reset_pending
                else:
                    change.new.materialization_intervals = list(old.materialization_intervals)
                    change.new.source_read_at = old.source_read_at
                    change.new.last_run = old.last_run
                    change.new.online_reset_pending = old.online_reset_pending
            items[change.name] = change.new


def compute_diff(current: RegistryState, desired: RepoContents, delete_missing: bool,
                 to_delete: list | None = None) -> RegistryDiff:
    """Changes that turn `current` into `desired` (plus deletions of what desired lacks),
    kind by kind in the order of KINDS."""
    changes = []
    for kind in KINDS:
        have, want = current.collection(kind.field), getattr(desired, kind.field)
        for name, obj in sorted(want.items()):
            inferred = getattr(obj, "inferred_from_source", "")  # a view whose schema apply inferred
            if name not in have:
                changes.append(Change(kind.field, name, "add", obj, detail=f"schema {inferred}" if inferred else ""))
            elif have[name] != obj:
                restart = restart_reason(have[name], obj) if kind.field == "feature_views" else ""
                detail = code_change(kind.code, have[name], obj) if kind.code else ""
                ttl = ttl_change(have[name], obj) if kind.field == "feature_views" and not restart else ""
                detail = "; ".join(part for part in (detail, ttl, f"schema {inferred}" if inferred else "") if part)
                changes.append(Change(kind.field, name, "change", obj, restart, detail))
        deleted = set(have) - set(want) if delete_missing else set()
        deleted |= {obj.name for obj in (to_delete or []) if isinstance(obj, kind.cls) and obj.name in have}
        changes += [Change(kind.field, name, "delete") for name in sorted(deleted)]
    return RegistryDiff(changes)


def check_references(final: RegistryState) -> None:
    """Every view's entities and every service's features must exist after the change."""
    for view in final.feature_views.values():
        for entity in view.entities:
            if entity not in final.entities:
                raise DefinitionError(f"FeatureView {view.name!r} uses entity {entity!r}, which is neither "
                                      f"defined in the repo nor registered; define it or apply it first")
        keys = [key for entity in view.entities for key in final.entities[entity].join_keys]
        if keys != view.join_keys:  # an entity named by string (Feast's older form) is taken to be keyed by its name
            raise DefinitionError(f"FeatureView {view.name!r} joins on {view.join_keys}, but its entities "
                                  f"{view.entities} have the join keys {keys}; pass the Entity objects "
                                  f"(entities=[{view.entities[0]}]) rather than their names")
    for name in sorted(set(final.feature_views) & set(final.on_demand_feature_views)):
        raise DefinitionError(f"OnDemandFeatureView {name!r} has the name of a feature view; 'view:feature' "
                              f"references must be unambiguous: rename one of them")
    for odfv in final.on_demand_feature_views.values():
        for projection in odfv.source_projections:
            _check_projection(f"OnDemandFeatureView {odfv.name!r} reads", projection, final.feature_views)
    views = {**final.feature_views, **final.on_demand_feature_views}
    for service in final.feature_services.values():
        for projection in service.projections:
            _check_projection(f"FeatureService {service.name!r} uses", projection, views)


def _check_projection(who: str, projection, views: dict) -> None:
    """The projection's view exists among `views` and has each feature it names."""
    view = views.get(projection.view_name)
    if view is None:
        raise DefinitionError(f"{who} feature view {projection.view_name!r}, which does not exist."
                              f"{did_you_mean(projection.view_name, views)}")
    names = [f.name for f in view.features]
    for feature in projection.features:
        if feature not in names:
            raise DefinitionError(f"{who} feature {feature!r} that view {view.name!r} does not have."
                                  f"{did_you_mean(feature, names)}")
