"""get_online_features: the latest stored values for entity rows, in pure Python.

No pyspark here: serving must not start a JVM. Each view is read once for all entity
rows (one SQL query per view on SQLite, one pipeline for all views on Redis), then the
view's ttl is applied at read time. On-demand views run last, on the values just read
and the request fields of the entity rows (featurestore.online.on_demand).
"""
from __future__ import annotations

import time
from datetime import timedelta

from featurestore.errors import RetrievalError
from featurestore.feature_refs import OnDemandRequest, ViewRequest, check_output_names, resolve_features, with_inputs
from featurestore.online.base import OnlineStore, StoredFeatures
from featurestore.online.codec import decode_value, entity_key_serializer

PRESENT, NOT_FOUND, OUTSIDE_MAX_AGE = "PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE"


class OnlineResponse:
    """Feature values and statuses by column, one entry per entity row (Feast's shape)."""

    def __init__(self, values: dict[str, list], statuses: dict[str, list[str]]):
        self._values = values
        self._statuses = statuses

    def to_dict(self) -> dict[str, list]:
        """{column: [value per entity row]}, entity columns first."""
        return {column: list(values) for column, values in self._values.items()}

    def statuses(self) -> dict[str, list[str]]:
        """{column: [PRESENT | NOT_FOUND | OUTSIDE_MAX_AGE per entity row]}."""
        return {column: list(values) for column, values in self._statuses.items()}

    def to_df(self):
        import pandas as pd

        return pd.DataFrame(self._values)

    def __repr__(self) -> str:
        return f"OnlineResponse({self._values!r})"


def _entity_keys(request: ViewRequest, entity_rows: list[dict]) -> list[bytes | None]:
    """Each row's entity key for the view; None where a join key is null (it matches nothing)."""
    view = request.view
    dtypes = {f.name: f.dtype for f in view.schema}
    serialize = entity_key_serializer(view.join_keys, [dtypes[k] for k in view.join_keys])
    keys = []
    for index, row in enumerate(entity_rows):
        try:
            values = [row[k] for k in view.join_keys]
        except KeyError as missing:
            raise RetrievalError(f"entity row {index} {row!r} lacks join key {missing.args[0]!r} of feature view "
                                 f"{view.name!r}") from None
        except TypeError:
            raise RetrievalError(f"entity row {index} must be a dict of join keys, got {row!r}") from None
        keys.append(None if any(v is None for v in values) else serialize(values))
    return keys


def get_online_features(registry, store: OnlineStore, project: str, features, entity_rows: list[dict],
                        full_feature_names: bool = False, repo_path=None) -> OnlineResponse:
    """Read the requested features for every entity row; see OnlineResponse.

    repo_path: the feature repo, from which on-demand views' functions are resolved.
    """
    if not isinstance(entity_rows, (list, tuple)):
        raise RetrievalError(f"entity_rows must be a list of dicts of join keys, got {type(entity_rows).__name__}")
    requested = resolve_features(registry, features)
    requests = with_inputs(registry, requested)
    for request in requests:
        if not request.view.online:
            raise RetrievalError(f"feature view {request.view.name!r} is offline only (online=False), so it is never "
                                 f"materialized; set online=True and run `featurestore apply` and `featurestore "
                                 f"materialize`, or read it with get_historical_features")
    entity_columns = []
    for request in requests:
        entity_columns += [k for k in request.view.join_keys if k not in entity_columns]
    names = check_output_names(requested, entity_columns, full_feature_names)
    on_demand = [r for r in requested if isinstance(r, OnDemandRequest)]
    functions = [r.view.udf_function(repo_path) for r in on_demand]  # refused before any read if changed
    keys_per_view = [_entity_keys(request, entity_rows) for request in requests]
    reads = [(request.view, [k for k in keys if k is not None], request.features)
             for request, keys in zip(requests, keys_per_view)]
    found_per_view = store.online_read_many(project, reads) if reads else []
    stored_per_view = [_with_nulls(keys, found) for keys, found in zip(keys_per_view, found_per_view)]
    now_us = int(time.time() * 1_000_000)
    read: dict[tuple[str, str], tuple[list, list]] = {}  # (view, feature) -> (values, statuses)
    for request, stored in zip(requests, stored_per_view):
        max_age_us = request.view.ttl // timedelta(microseconds=1)
        oldest_us = now_us - max_age_us if max_age_us > 0 else None
        for feature in request.features:
            column_values, column_statuses = [], []
            for found in stored:
                value, status = _value_and_status(found, feature, oldest_us)
                column_values.append(value)
                column_statuses.append(status)
            read[(request.view.name, feature)] = (column_values, column_statuses)
    computed = {}
    for request, fn in zip(on_demand, functions):
        computed[request.view.name] = _run_on_demand(registry, request, fn, read, entity_rows)
    values: dict[str, list] = {c: [row.get(c) for row in entity_rows] for c in entity_columns}
    statuses: dict[str, list[str]] = {c: [PRESENT] * len(entity_rows) for c in entity_columns}
    columns = iter(names)
    for request in requested:
        for feature in request.features:
            column = next(columns)
            if isinstance(request, OnDemandRequest):
                values[column] = computed[request.view.name][feature]
                statuses[column] = [PRESENT] * len(entity_rows)
            else:
                values[column], statuses[column] = read[(request.view.name, feature)]
    return OnlineResponse(values, statuses)


def _run_on_demand(registry, request: OnDemandRequest, fn, read: dict, entity_rows: list[dict]) -> dict[str, list]:
    """The on-demand view's features for every entity row, from the values read and the request fields."""
    from featurestore.online.on_demand import Mismatch, normalizer, run_on_demand

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
    return [None if key is None else next(results) for key in keys]


def _value_and_status(found: StoredFeatures | None, feature: str, oldest_us: int | None):
    if found is None or feature not in found.values:
        return None, NOT_FOUND
    if oldest_us is not None and found.event_ts < oldest_us:
        return None, OUTSIDE_MAX_AGE
    return decode_value(found.values[feature]), PRESENT
