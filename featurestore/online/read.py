"""get_online_features: the latest stored values for entity rows, in pure Python.

No pyspark here: serving must not start a JVM. Each view is read once for all entity
rows (one SQL query per view on SQLite, one round trip for all views on Redis), then the
view's ttl is applied at read time. On-demand views run last, on the values just read
and the request fields of the entity rows (featurestore.on_demand_runner).

Speed (issue #15). A profile of FeatureStore.get_online_features (SQLite, 100 entities x 3
Float64 features; cProfile, then perf_counter_ns around each step) gave ~0.70 ms p50 /
0.80 ms p99 on a quiet 2-core machine, of which the SELECT itself was ~0.19 ms. The rest:
serializing an EntityKey message per row (~30% of the call), parsing a Value message per
returned value (~25%), a function call per (row, feature) for the status (~15%), the store's
loop over the returned rows and a frozen dataclass per key (~15%), resolving the references
against the registry on every call (~5%). What changed:
  - The request plan (resolved references, views to read, output columns, each view's key
    serializer) is cached per (registry object, references, full_feature_names). A hit is
    checked by identity against the registry it is used with: every view the plan names
    must still be the object the registry holds under that name. RegistryFile.load returns
    a new registry object after any apply, and `online` and ttl are read from the view on
    every call, so a registry change is seen on the next call as before.
  - Entity keys: a column serializer per single-join-key view writes plain ints and strings
    straight to the wire (codec.entity_key_column_serializer), once per distinct (join keys,
    types) for all the views of a request; a batch it cannot take (a missing key, a non-dict
    row, a bad value) goes through the original row-by-row path, so the error and the row it
    names are the same.
  - Values: codec.decode_values reads plain scalars off the wire; when every row has a
    fresh entry holding the feature (the usual case), a column is one list comprehension
    and its statuses one list; otherwise one loop per feature, without a call per cell.
  - The stores: see featurestore.online.sqlite (rows tagged with their key's position) and
    featurestore.online.redis_store (one HMGET for one entity).
Result (benchmarks/online_bench.py, rows "get"): SQLite 100x3 ~0.32 ms p50 /
0.36 ms p99 beside a raw SELECT ... IN of ~0.22 / 0.26 ms (of our ~0.1 ms above raw, ~0.06
is read.py: keys ~0.02, decoding ~0.03; ~0.04 the store's loop over 300 rows); Redis 1x3 ~0.10 / 0.13 ms beside a raw
HMGET of ~0.08 / 0.10 ms (read.py ~6 us, the store ~4 us, the rest redis-py and the round trip).
"""
from __future__ import annotations

import time
from datetime import timedelta

from featurestore.definitions import FeatureService
from featurestore.errors import RetrievalError
from featurestore.feature_refs import OnDemandRequest, ViewRequest, check_output_names, resolve_features, with_inputs
from featurestore.online.base import OnlineStore
from featurestore.online.codec import decode_value, decode_values, entity_key_column_serializer, entity_key_serializer

# Feast's FieldStatus names, one vocabulary for the Python API, the CLI and HTTP: a stored null
# (or an on-demand feature computed as null) is NULL_VALUE, never PRESENT.
PRESENT, NULL_VALUE, NOT_FOUND, OUTSIDE_MAX_AGE = "PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"
_MICROSECOND = timedelta(microseconds=1)
_ABSENT = object()


class OnlineResponse:
    """Feature values and statuses by column, one entry per entity row (Feast's shape)."""

    def __init__(self, values: dict[str, list], statuses: dict[str, list[str]],
                 event_micros: dict[str, list] | None = None):
        self._values = values
        self._statuses = statuses
        self._event_micros = event_micros or {}

    def to_dict(self) -> dict[str, list]:
        """{column: [value per entity row]}, entity columns first."""
        return {column: list(values) for column, values in self._values.items()}

    def statuses(self) -> dict[str, list[str]]:
        """{column: [PRESENT | NULL_VALUE | NOT_FOUND | OUTSIDE_MAX_AGE per entity row]}."""
        return {column: list(values) for column, values in self._statuses.items()}

    def event_micros(self) -> dict[str, list[int | None]]:
        """{column: [the stored value's event time, microseconds since the epoch, per entity row]}:
        None where nothing is stored, and for entity columns and on-demand features."""
        out = {}
        for column, values in self._values.items():
            times = self._event_micros.get(column)
            out[column] = [None] * len(values) if times is None else \
                [t if status != NOT_FOUND else None for t, status in zip(times, self._statuses[column])]
        return out

    def parts(self) -> tuple[dict, dict, dict]:
        """(values, statuses, event micros) by column, the response's own lists, not copies: for
        the feature log, which must not copy on the request path. Never change them."""
        return self._values, self._statuses, self._event_micros

    def to_df(self):
        import pandas as pd

        return pd.DataFrame(self._values)

    def __repr__(self) -> str:
        return f"OnlineResponse({self._values!r})"


# --- the request plan: what a list of references resolves to, cached across calls -------------

class _Keys:
    """How one view's entity keys are made from the entity rows; views with the same join keys
    of the same types share one (their keys are the same bytes)."""

    def __init__(self, request: ViewRequest):
        view = request.view
        self.join_keys = list(view.join_keys)
        self.columns = request.key_columns  # where the rows hold them (with_join_key_map)
        dtypes = {f.name: f.dtype for f in view.schema}
        self.signature = (tuple(self.join_keys), tuple(self.columns), tuple(dtypes[k] for k in self.join_keys))
        self.serialize = entity_key_serializer(self.join_keys, [dtypes[k] for k in self.join_keys])
        self.serialize_column = (entity_key_column_serializer(self.join_keys[0], dtypes[self.join_keys[0]])
                                 if len(self.join_keys) == 1 else None)

    def of(self, request: ViewRequest, entity_rows: list[dict]) -> list[bytes | None]:
        """Each row's entity key; None where a join key is null (it matches nothing)."""
        if self.serialize_column is not None:
            name = self.columns[0]
            try:
                return self.serialize_column([row[name] for row in entity_rows])
            except (KeyError, TypeError, RetrievalError):
                pass  # the row-by-row path raises the error of the first bad row
        return _entity_keys(request.name, self.columns, self.serialize, entity_rows)


class _Plan:
    """References resolved against one registry: valid while it holds the same view objects."""

    def __init__(self, registry, features, full_feature_names: bool):
        # The order of these steps is the order in which their errors are raised.
        self.requested = resolve_features(registry, features)
        self.requests = with_inputs(registry, self.requested)
        _check_online(self.requests)
        entity_columns = []
        for request in self.requests:
            entity_columns += [k for k in request.key_columns if k not in entity_columns]
        self.entity_columns = entity_columns
        names = iter(check_output_names(self.requested, entity_columns, full_feature_names))
        self.on_demand = [r for r in self.requested if isinstance(r, OnDemandRequest)]
        # (output column, on-demand view name or None, view name, feature), in output order
        self.columns = [(next(names), isinstance(r, OnDemandRequest), r.name, feature)
                        for r in self.requested for feature in r.features]
        shared: dict[tuple, _Keys] = {}
        self.keys = []
        for request in self.requests:
            keys = _Keys(request)
            self.keys.append(shared.setdefault(keys.signature, keys))
        # What the registry must still hold for the plan to be valid: (collection, name, object).
        views = [("feature_views", r.view.name, r.view) for r in self.requests]
        views += [("on_demand_feature_views", r.view.name, r.view) for r in self.on_demand]
        self.views = views

    def holds_for(self, registry) -> bool:
        for collection, name, view in self.views:
            if getattr(registry, collection).get(name) is not view:
                return False
        if self.on_demand:  # a feature view of an on-demand view's name would take its place
            feature_views = registry.feature_views
            return not any(r.view.name in feature_views for r in self.on_demand)
        return True


_PLANS: dict[tuple, tuple[object, _Plan]] = {}
_MAX_PLANS = 256
# A plan's size grows with its references, which a client chooses: a 700,000-reference list
# kept about 48 MB. Plans of more references are resolved each time, never kept, so the
# cache holds at most _MAX_PLANS x _MAX_CACHED_REFERENCES references.
_MAX_CACHED_REFERENCES = 1_000


def request_plan(registry, features, full_feature_names: bool) -> _Plan:
    """The plan for these references, from the cache when the registry still holds its views."""
    if isinstance(features, FeatureService):
        refs = tuple(p.key() for p in features.projections)
    elif type(features) in (list, tuple) and all(type(ref) is str for ref in features):
        refs = tuple(features)
    else:
        return _Plan(registry, features, full_feature_names)  # odd input: resolve_features explains
    if len(refs) > _MAX_CACHED_REFERENCES:
        return _Plan(registry, features, full_feature_names)
    cache_key = (id(registry), refs, full_feature_names)
    cached = _PLANS.get(cache_key)
    if cached is not None and cached[0] is registry and cached[1].holds_for(registry):
        plan = cached[1]
        _check_online(plan.requests)  # `online` is read from the view on every call
        return plan
    plan = _Plan(registry, features, full_feature_names)
    if len(_PLANS) >= _MAX_PLANS:  # registries come and go with applies; drop the old plans
        _PLANS.clear()
    _PLANS[cache_key] = (registry, plan)  # the registry is kept so that its id is not reused
    return plan


def _check_online(requests: list[ViewRequest]) -> None:
    for request in requests:
        if not request.view.online:
            raise RetrievalError(f"feature view {request.view.name!r} is offline only (online=False), so it is never "
                                 f"materialized; set online=True and run `featurestore apply` and `featurestore "
                                 f"materialize`, or read it with get_historical_features")


def _entity_keys(view_name: str, key_columns: list[str], serialize, entity_rows: list[dict]) -> list[bytes | None]:
    """Row by row: each row's entity key for the view; None where a join key is null."""
    keys = []
    for index, row in enumerate(entity_rows):
        try:
            values = [row[k] for k in key_columns]
        except KeyError as missing:
            raise RetrievalError(f"entity row {index} {row!r} lacks join key {missing.args[0]!r} of feature view "
                                 f"{view_name!r}") from None
        except TypeError:
            raise RetrievalError(f"entity row {index} must be a dict of join keys, got {row!r}") from None
        keys.append(None if any(v is None for v in values) else serialize(values))
    return keys


# --- the read -------------------------------------------------------------------------------------

def get_online_features(registry, store: OnlineStore, project: str, features, entity_rows: list[dict],
                        full_feature_names: bool = False, repo_path=None) -> OnlineResponse:
    """Read the requested features for every entity row; see OnlineResponse.

    repo_path: the feature repo, from which on-demand views' functions are resolved.
    """
    if not isinstance(entity_rows, (list, tuple)):
        raise RetrievalError(f"entity_rows must be a list of dicts of join keys, got {type(entity_rows).__name__}")
    plan = request_plan(registry, features, full_feature_names)
    functions = [r.view.udf_function(repo_path) for r in plan.on_demand]  # refused before any read if changed
    computed_keys: dict[int, list] = {}
    keys_per_view = []
    for request, keys in zip(plan.requests, plan.keys):
        view_keys = computed_keys.get(id(keys))
        if view_keys is None:
            view_keys = computed_keys[id(keys)] = keys.of(request, entity_rows)
        keys_per_view.append(view_keys)
    # A view whose old values apply has not removed yet (featurestore.identity) is read as holding
    # nothing: NOT_FOUND, never a value of a definition the registry no longer has.
    reads = [(request.view, [] if request.view.online_reset_pending else
              [k for k in keys if k is not None] if None in keys else keys, request.features)
             for request, keys in zip(plan.requests, keys_per_view)]
    found_per_view = store.online_read_many(project, reads) if reads else []
    now_us = int(time.time() * 1_000_000)
    read: dict[tuple[str, str], tuple[list, list]] = {}  # (view, feature) -> (values, statuses)
    for request, keys, found in zip(plan.requests, keys_per_view, found_per_view):
        stored = _with_nulls(keys, found)
        max_age_us = request.view.ttl // _MICROSECOND
        oldest_us = now_us - max_age_us if max_age_us > 0 else None
        event_times = [found.event_ts for found in stored if found is not None]
        complete = len(event_times) == len(stored) and (oldest_us is None or min(event_times, default=0) >= oldest_us)
        times = [None if found is None else found.event_ts for found in stored]
        counts = _counts(request.view)
        for feature in request.features:
            values, statuses = _column(stored, feature, oldest_us, complete)
            if feature in counts and NOT_FOUND in statuses:  # no event: the count is 0, as a training set has it
                values = [0 if status == NOT_FOUND else value for value, status in zip(values, statuses)]
                statuses = [PRESENT if status == NOT_FOUND else status for status in statuses]
            read[(request.name, feature)] = (values, statuses, times)
    computed = {}
    for request, fn in zip(plan.on_demand, functions):
        computed[request.view.name] = _run_on_demand(registry, request, fn, read, entity_rows)
    values: dict[str, list] = {c: [row.get(c) for row in entity_rows] for c in plan.entity_columns}
    statuses: dict[str, list[str]] = {c: [PRESENT] * len(entity_rows) for c in plan.entity_columns}
    event_micros: dict[str, list] = {}
    for column, on_demand, view_name, feature in plan.columns:
        if on_demand:
            values[column] = computed[view_name][feature]
            statuses[column] = _present_or_null(values[column])
        else:
            values[column], statuses[column], times = read[(view_name, feature)]
            event_micros[column] = times  # shared by the view's features; masked when asked for
    return OnlineResponse(values, statuses, event_micros)


def _column(stored: list, feature: str, oldest_us: int | None, complete: bool) -> tuple[list, list[str]]:
    """One feature's (values, statuses) over the rows: NOT_FOUND without a stored value,
    OUTSIDE_MAX_AGE (None) when older than oldest_us, else the decoded value, PRESENT (NULL_VALUE
    when it is a stored null).

    complete: every row has a stored entry within the ttl; then, when each holds the feature
    too (the usual case), the column is decoded in one pass.
    """
    if complete:
        try:
            column = [found.values[feature] for found in stored]
        except KeyError:
            pass
        else:
            values = decode_values(column)
            return values, _present_or_null(values)
    values: list = []
    statuses: list[str] = []
    add_value, add_status = values.append, statuses.append
    decode = decode_value
    for found in stored:
        if found is None or (data := found.values.get(feature, _ABSENT)) is _ABSENT:
            add_value(None)
            add_status(NOT_FOUND)
        elif oldest_us is not None and found.event_ts < oldest_us:
            add_value(None)
            add_status(OUTSIDE_MAX_AGE)
        else:
            value = decode(data)
            add_value(value)
            add_status(NULL_VALUE if value is None else PRESENT)
    return values, statuses


COUNTS = ("count", "approx_count_distinct")


def _counts(view) -> set[str]:
    """An aggregating view's features that count events: over no event they are 0, not null."""
    if not view.is_aggregating or view.online_reset_pending:  # pending: what is stored is unknown, not empty
        return set()
    return {aggregation.name for aggregation in view.aggregations if aggregation.function in COUNTS}


def _present_or_null(values: list) -> list[str]:
    """PRESENT per value, NULL_VALUE where it is None."""
    if None not in values:
        return [PRESENT] * len(values)
    return [NULL_VALUE if value is None else PRESENT for value in values]


def _run_on_demand(registry, request: OnDemandRequest, fn, read: dict, entity_rows: list[dict]) -> dict[str, list]:
    """The on-demand view's features for every entity row, from the values read and the request fields."""
    from featurestore.on_demand_runner import run_on_demand
    from featurestore.values import Mismatch, normalizer

    odfv = request.view
    columns: dict[str, list] = {}
    types = {}
    for projection in odfv.source_projections:
        view = registry.feature_views[projection.view_name]
        for feature in projection.features:
            columns[feature] = read[(view.name, feature)][0]
            types[feature] = view.feature(feature).dtype
    for field in odfv.request_fields:
        convert = normalizer(field.dtype)
        column = []
        for index, row in enumerate(entity_rows):
            try:
                value = row[field.name]
            except KeyError:
                raise RetrievalError(f"entity row {index} {row!r} lacks request field {field.name!r} of "
                                     f"OnDemandFeatureView {odfv.name!r}; add it to every entity row") from None
            try:
                column.append(convert(value))
            except Mismatch as mismatch:
                raise RetrievalError(f"entity row {index} {row!r}: request field {field.name!r} of OnDemandFeatureView "
                                     f"{odfv.name!r} must be {field.dtype!r}: {mismatch}") from None
        columns[field.name] = column
        types[field.name] = field.dtype
    return run_on_demand(odfv, fn, columns, types, len(entity_rows), lambda i: f"{i} {entity_rows[i]!r}",
                         request.features)


def _with_nulls(keys: list[bytes | None], found: list) -> list:
    """Put None back where a row's key was null, so results line up with entity_rows."""
    if len(found) == len(keys):
        return found
    results = iter(found)
    return [None if key is None else next(results, None) for key in keys]
