"""apply and plan: turning a repo's definitions into registry changes, safely.

`plan` computes the diff (featurestore.plan) and checks it: references resolve and every
view matches its real source. `apply` does the same checks and then changes, in this
order, so that a failure at any step never leaves the online store serving values the
registry's definitions would not give:

1. the online store converts what it holds in featurestore's layout from before Feast's
   (online/legacy.py; nothing is lost), then is asked whether every online view's storage
   is free (a SQLite table name another project's view owns is refused here, before
   anything is written);
2. the registry is updated in one atomic write, the changes applied kind by kind in the
   order of featurestore.definitions.kinds.KINDS onto the registry as it is at that
   moment. A view whose values change (its fingerprint, featurestore.identity) loses its
   intervals and is marked `online_reset_pending`: reads answer NOT_FOUND for it from
   now. When another process wrote a version meanwhile, its changes are kept; but if it
   changed an object this apply changes too, nothing is written and apply fails in one
   line (run plan and apply again): neither process silently overwrites the other's
   definition, and the online store is untouched;
3. only then the online store: deleted views and views taken offline lose their storage;
   every online view's generation is brought to the registry's (featurestore.identity.
   bring_to_registry): a changed or added view's old values are removed and writers of
   the old definition refused from then, and the pending marks are cleared in one write.

A crash after 2 leaves views marked pending (NOT_FOUND, never a stale value); the next
apply or materialization does step 3.
"""
from __future__ import annotations

from pathlib import Path

from featurestore.context import Context
from featurestore.definitions.kinds import KINDS, accepted_classes, kind_of
from featurestore.errors import DefinitionChangedError, DefinitionError, OnlineStoreError, RegistryConflictError
from featurestore.identity import bring_to_registry
from featurestore.plan import RegistryDiff, check_references, compute_diff
from featurestore.registry import RegistryState, changed_between
from featurestore.repo import RepoContents


def as_contents(objects, repo_path=None) -> RepoContents:
    """RepoContents from what apply() was given: contents, one definition or a list of them.

    With repo_path, transformations and udfs are recorded relative to the repo (and refused
    when defined outside it: only repo code is ever resolved later).
    """
    if isinstance(objects, RepoContents):
        return objects
    if not isinstance(objects, (list, tuple)):
        objects = [objects]
    contents = RepoContents()
    origin = Path("<apply>")
    for obj in objects:
        if kind_of(obj) is None:
            raise DefinitionError(f"apply() takes {accepted_classes()} objects, got {obj!r}")
        contents.add(obj, origin)
    contents.add_implicit_sources()
    if repo_path is not None:
        contents.bind_code(repo_path)
    return contents


def preview(current: RegistryState, diff: RegistryDiff) -> RegistryState:
    """The registry as it would be after the diff (current is not modified)."""
    final = RegistryState(project=current.project,
                          **{kind.field: dict(current.collection(kind.field)) for kind in KINDS})
    diff.apply_to(final)
    return final


def check(ctx: Context, current: RegistryState, diff: RegistryDiff, desired: RepoContents, validate: bool) -> None:
    """Raise unless the diff is safe to write: references resolve, views match their sources
    (read without Spark where offline.schema_reader can, else in Spark)."""
    check_references(preview(current, diff))
    for project, file in desired.projects:
        if project.name != current.project:
            raise DefinitionError(f"{file}: Project(name={project.name!r}) is not this repo's project "
                                  f"{current.project!r} (feature_store.yaml's `project:`); give both the same name")
    if validate:
        for name, view in sorted(desired.feature_views.items()):
            check_against_source(ctx, view, origin_of(desired, name))


def origin_of(desired: RepoContents, view_name: str) -> str:
    """The file a view was defined in, as errors name it ('' for objects given to apply())."""
    origin = desired.origin.get(("feature_views", view_name))
    return str(origin) if origin and origin.name != "<apply>" else ""


def check_against_source(ctx: Context, view, where: str) -> None:
    """validate_feature_view's checks: in this process's Spark when it has one, else on the columns
    read without Spark when they can be (offline.schema_reader), else in a new Spark, saying why."""
    from featurestore.offline.sources import check_columns, validate_feature_view, view_where

    known = columns_without_spark(ctx, view, where, "Checking")
    if known is None:
        validate_feature_view(ctx.spark, view, where, ctx.repo_path)
    else:
        check_columns(view, known.columns, view_where(where, view), known.location)


def columns_without_spark(ctx: Context, view, where: str, doing: str):
    """The view's columns read without Spark (offline.schema_reader.ViewColumns), or None when
    Spark must answer: it runs in this process already, or the reader cannot (then the reason
    is logged, since a JVM starts)."""
    from featurestore.offline.schema_reader import NeedsSpark, view_columns
    from featurestore.offline.sources import view_where
    from featurestore.runtime.session import spark_running

    if spark_running():
        return None
    known = view_columns(ctx.config, view, view_where(where, view))
    if isinstance(known, NeedsSpark):
        ctx.log(f"{doing} FeatureView {view.name!r} in Spark: {known.reason}")
        return None
    return known


def with_inferred_schemas(ctx: Context, desired: RepoContents, validate: bool) -> RepoContents:
    """desired with every pending view (schema= left out, or without its join keys) completed
    from its source (featurestore.offline.sources.infer_schema), as Feast does at apply."""
    pending = sorted(name for name, view in desired.feature_views.items() if view.pending_inference)
    if not pending:
        return desired
    if not validate:
        view = desired.feature_views[pending[0]]
        raise DefinitionError(f"FeatureView {view.name!r} leaves its {view.pending_inference} to be inferred from its "
                              f"source, which needs the source read: apply with validation, or declare schema=")
    from featurestore.offline.sources import infer_schema, view_where, with_inferred_schema

    for name in pending:
        where, view = origin_of(desired, name), desired.feature_views[name]
        known = columns_without_spark(ctx, view, where, "Inferring the schema of")
        if known is None:
            view = infer_schema(ctx.spark, view, where, ctx.repo_path)
        else:
            view = with_inferred_schema(view, known.columns, view_where(where, view))
        view.bind_code(ctx.repo_path)
        desired.feature_views[name] = view
    for service in desired.feature_services.values():  # FeatureService(features=[inferred_view]): all of them
        for projection in service.projections:
            if projection.all_features and projection.view_name in pending:
                projection.features = [f.name for f in desired.feature_views[projection.view_name].features]
                projection.all_features = False
    return desired


def plan(ctx: Context, desired: RepoContents, delete_missing: bool, validate: bool,
         against: int | None = None) -> RegistryDiff:
    """What apply would change, checked; writes nothing. against: diff against that version of
    the registry (a SQL registry's history) instead of the newest."""
    current = ctx.registry_store.load() if against is None else ctx.registry_store.load_version(against)
    desired = with_inferred_schemas(ctx, desired, validate)
    diff = compute_diff(current, desired, delete_missing)
    check(ctx, current, diff, desired, validate)
    return diff


def apply(ctx: Context, desired: RepoContents, delete_missing: bool, to_delete: list | None,
          validate: bool) -> RegistryDiff:
    """Check, then change the registry and the online store in the order the module docstring gives."""
    registry_store, online_store, project = ctx.registry_store, ctx.online_store, ctx.project
    current = registry_store.load()
    desired = with_inferred_schemas(ctx, desired, validate)
    diff = compute_diff(current, desired, delete_missing=delete_missing, to_delete=to_delete)
    check(ctx, current, diff, desired, validate)
    final = preview(current, diff)
    convert_earlier_layout(ctx)
    online_store.check_table_names(project, [v for v in final.feature_views.values() if v.online])
    if not diff.is_empty():
        registry_store.update(applied_onto(current, diff), command="apply", summary=diff.render())
    deleted = [current.feature_views[c.name] for c in diff.of("feature_views", "delete")]
    offline = [current.feature_views[c.name] for c in diff.of("feature_views", "change")
               if current.feature_views[c.name].online and not c.new.online]
    added = [c.name for c in diff.of("feature_views", "add")] + \
        [c.name for c in diff.of("feature_views", "change") if c.new.online and not current.feature_views[c.name].online]
    bring_online_store_to_registry(ctx, deleted + offline, added)
    return diff


def convert_earlier_layout(ctx: Context) -> None:
    """Step 1's conversion; a store that cannot be reached is left for the next apply (its reads
    of unconverted values say so, or find nothing)."""
    try:
        converted = ctx.online_store.convert_earlier_layout(ctx.project)
    except OnlineStoreError as error:
        ctx.log(f"warning: the online store was not converted to Feast's encodings ({error}); the next "
                f"`featurestore apply` converts it")
        return
    if converted:
        ctx.log(f"Converted {converted} of the online store to Feast's encodings")


RESET_ATTEMPTS = 5  # concurrent resets of one view: each retry reads the registry anew


def bring_online_store_to_registry(ctx: Context, removed: list, added: list[str]) -> None:
    """Step 3 of the module docstring: `removed` views lose their storage, and every online view
    of the registry as it is now holds its current generation's values only. An online store
    that cannot be reached fails nothing: the registry is written, the views still to reset
    read as NOT_FOUND, and the next apply or materialization resets them."""
    try:
        if removed:
            ctx.online_store.update(ctx.project, [], removed)
        for attempt in range(RESET_ATTEMPTS):
            try:
                bring_to_registry(ctx.registry_store, ctx.online_store, ctx.project,
                                  list(ctx.registry_store.load().feature_views), tuple(added))
                break
            except DefinitionChangedError:
                # Another process (an apply, a materialization) reset a view at the same moment: the
                # registry is written, so bring the store to the registry as it is now, again.
                if attempt == RESET_ATTEMPTS - 1:
                    raise
    except OnlineStoreError as error:
        ctx.log(f"warning: the registry is written, but the online store was not updated ({error}); views whose "
                f"values changed read NOT_FOUND until the next `featurestore apply` or materialization updates it")


def applied_onto(base: RegistryState, diff: RegistryDiff):
    """The registry update for `diff`, computed against `base`: applied onto the registry as
    it is at write time, refused when a version written since `base` changed an object the
    diff changes into something else (the other writer's definition would otherwise be
    overwritten unseen)."""
    def mutate(state: RegistryState) -> None:
        if state.version != base.version or state.registry_id != base.registry_id:
            # the same change made by the other writer (both added the same entity) is no conflict
            touched = [(c.kind, c.name) for c in diff.changes if state.collection(c.kind).get(c.name) != c.new]
            changed = changed_between(base, state, touched)
            if changed:
                raise RegistryConflictError(
                    f"the registry changed while this apply ran (version {base.version} -> {state.version}): "
                    f"another process changed {', '.join(changed)}, which this apply changes too; nothing was "
                    f"written: run `featurestore plan` to see the registry now, then apply again")
        diff.apply_to(state)
    return mutate
