"""Definitions' identity: which definition the values in the online store belong to.

A feature view's **fingerprint** is a hash of everything that decides its values: its
source (location, timestamps, field mapping), join keys, features and their types,
aggregations and delay, batch transformation (by the sha256 of its code) and stream
source. Descriptions, tags, owner, ttl (applied when reading), expectations and the
materialization state are left out: changing them changes no stored value.

A view's **online generation** is `<registry id>:<fingerprint>`. The registry id is
given at a registry's first write and never reused (featurestore.registry.state), so
a registry deleted and made again has new generations even for identical definitions.

The online store records, per view, the generation its values belong to. Every writer
(materialization, a stream's micro-batch, push) names the generation it computed its
rows under, and the store refuses, atomically with each write, rows of any other: a
writer that read a definition which was changed meanwhile writes nothing more and
records nothing (DefinitionChangedError). Apply changes the registry first, then resets
the store (values removed and the new generation recorded in one step), then clears the
view's `online_reset_pending` flag; reads answer NOT_FOUND while the flag is set, and the
next apply or materialization finishes a reset that a crash interrupted (bring_to_registry).
"""
from __future__ import annotations

import hashlib

from featurestore.errors import DefinitionChangedError

FINGERPRINT_HEX = 16  # 64 bits: names a definition among a view's few hundred versions, with room to spare


def view_fingerprint(view) -> str:
    """The hex fingerprint of what decides a FeatureView's values (see the module docstring)."""
    proto = view.to_proto(with_intervals=False)
    for name in ("entities", "ttl", "online", "description", "tags", "owner", "expectations", "on_violation",
                 "stream_trigger", "push_source"):
        proto.ClearField(name)
    for field in proto.schema:
        _clear_descriptions(field)
    for part in (proto.source, proto.stream_source):
        for name in ("description", "tags"):
            part.ClearField(name)
    proto.stream_source.ClearField("owner")
    if proto.HasField("transformation"):  # the code, not where it lives or what it is called
        sha = proto.transformation.sha256
        proto.transformation.Clear()
        proto.transformation.sha256 = sha
    return hashlib.sha256(proto.SerializeToString(deterministic=True)).hexdigest()[:FINGERPRINT_HEX]


def service_fingerprint(state, service) -> str:
    """The hex fingerprint of what a FeatureService serves: its projections (views, features,
    names, join-key maps) and the fingerprints of the feature views they read, as the registry
    `state` holds them; an on-demand view counts by its code's sha256, schema and inputs.
    Equal fingerprints serve equal values for equal requests."""
    parts = []
    for projection in service.projections:
        parts.append(projection.to_proto().SerializeToString(deterministic=True))
        view = state.feature_views.get(projection.view_name)
        if view is not None:
            parts.append(view_fingerprint(view).encode())
            continue
        odfv = state.on_demand_feature_views.get(projection.view_name)
        if odfv is not None:
            proto = odfv.to_proto()
            proto.udf.ClearField("source")
            for name in ("description", "tags"):
                proto.ClearField(name)
            parts.append(proto.SerializeToString(deterministic=True))
            parts += [view_fingerprint(state.feature_views[p.view_name]).encode()
                      for p in odfv.source_projections if p.view_name in state.feature_views]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:FINGERPRINT_HEX]


def _clear_descriptions(field) -> None:
    field.ClearField("description")
    field.ClearField("tags")
    for inner in field.struct_fields:
        _clear_descriptions(inner)


_GENERATIONS: dict[tuple[str, int, str], str] = {}  # (registry id, version, view) -> generation


def online_generation(state, view) -> str:
    """The generation of `view`'s values under the registry `state`, as it was written (a written
    version never changes, so the hash is computed once per version: a push asks for it each time)."""
    if not state.registry_id:
        raise ValueError("a registry that was never written has no generations")
    key = (state.registry_id, state.version, view.name)
    as_written = state.feature_views.get(view.name) is view  # not a definition being changed in memory
    if as_written and key in _GENERATIONS:
        return _GENERATIONS[key]
    generation = f"{state.registry_id}:{view_fingerprint(view)}"
    if as_written:
        if len(_GENERATIONS) > 10_000:
            _GENERATIONS.clear()
        _GENERATIONS[key] = generation
    return generation


def changed_while(view_name: str, doing: str) -> DefinitionChangedError:
    """The one line a fenced writer stops with."""
    return DefinitionChangedError(f"{view_name} changed while {doing}; nothing recorded; run it again")


def registry_with_id(registry_store):
    """The newest registry, given its id first when a registry written before ids existed has none."""
    state = registry_store.load()
    if state.registry_id or state.version == 0:
        return state
    return registry_store.update(lambda _: None, command="identify", summary="registry id assigned")


def ensure_current(registry_store, online_store, project: str, view_name: str):
    """(state, view, generation) of `view_name` as the registry holds it now, with the online
    store holding that generation's values only (see bring_to_registry). NotFoundError when the
    view is gone."""
    state = bring_to_registry(registry_store, online_store, project, [view_name])
    view = state.feature_view(view_name)
    return state, view, online_generation(state, view)


def bring_to_registry(registry_store, online_store, project: str, view_names: list[str], added: tuple = ()):
    """The registry as it is now, once the online store holds, for each of these views still in
    it, its current generation's values only. A view marked `online_reset_pending` (an apply
    changed it) and a view whose store records another generation (a crash before a reset, a
    store that another registry wrote) have their stored values removed; then one registry
    write clears their marks (and forgets the intervals of the latter: what they described is
    gone). Views just `added` have whatever a store holds under their names removed too."""
    state = registry_with_id(registry_store)
    reset: dict[str, tuple[str, bool]] = {}  # view -> (generation reset to, whether intervals are forgotten)
    for name in view_names:
        view = state.feature_views.get(name)
        if view is None or not view.online:
            continue
        generation = online_generation(state, view)
        stored = online_store.claim_generation(project, view, generation)
        # pending or added: a store may hold values under the new generation's name, and none are its
        if stored == generation and not view.online_reset_pending and name not in added:
            continue
        if not online_store.reset_view(project, view, generation, expected=stored):
            raise changed_while(name, "its online values were being replaced")
        if stored != generation or view.online_reset_pending:  # the registry's mark to clear
            reset[name] = (generation, stored != generation)
    if not reset:
        return state

    def clear(current) -> None:
        for name, (generation, forget) in reset.items():
            view = current.feature_views.get(name)
            if view is None or online_generation(current, view) != generation:
                continue  # changed again meanwhile: that change's own reset follows
            view.online_reset_pending = False
            if forget:
                view.materialization_intervals, view.source_read_at = [], None
    return registry_store.update(clear, command="reset",
                                 summary=f"online values of an old definition removed: {', '.join(sorted(reset))}")


def write_under(registry_store, online_store, project: str, state, view, rows: list, doing: str) -> int:
    """Write rows that were checked and encoded under `state`'s definition of `view` (a push, a
    write-to-online-store), fenced by its generation. A store that records no generation for the
    view yet, or a reset a crash left pending, is brought to the registry first; rows of a
    definition changed meanwhile are refused with changed_while(view, doing)."""
    if not state.registry_id or view.online_reset_pending:
        generation = _current(registry_store, online_store, project, view, doing)
    else:
        generation = online_generation(state, view)
    try:
        return online_store.online_write_flat(project, view, rows, generation)
    except DefinitionChangedError:
        if _current(registry_store, online_store, project, view, doing) != generation:
            raise changed_while(view.name, doing) from None
        return online_store.online_write_flat(project, view, rows, generation)


def _current(registry_store, online_store, project: str, view, doing: str) -> str:
    """The registry's generation of view after ensure_current, refused unless `view` is still its definition."""
    _, current, generation = ensure_current(registry_store, online_store, project, view.name)
    if view_fingerprint(current) != view_fingerprint(view):
        raise changed_while(view.name, doing)
    return generation
