"""The feature server's endpoints as plain functions: a parsed JSON body in, (status, JSON) out.

Feast's request and response shapes, so a Feast client works unchanged:

    POST /get-online-features
      {"entities": {"driver_id": [1001, 1002], "val_to_add": [1, 2]},   # join keys and request fields
       "features": ["driver_hourly_stats:conv_rate", ...] | "feature_service": "driver_ranking",
       "full_feature_names": false}
    -> {"metadata": {"feature_names": ["driver_id", "conv_rate", ...]},
        "results": [{"values": [...], "statuses": [...], "event_timestamps": [...]}, ...]}

Results are column-major, one entry per feature name (entity columns first), as Feast's
GetOnlineFeaturesResponse proto has them (Feast's docs also show a row-major form; the
proto is what its servers send). Statuses are PRESENT, NULL_VALUE (a stored null, or an
on-demand feature computed as null), NOT_FOUND and OUTSIDE_MAX_AGE; event timestamps are
the stored values' event times in ISO-8601 UTC, "1970-01-01T00:00:00Z" where there is none
(entity columns, on-demand features, values not found), as Feast sends them. Values are
exactly what FeatureStore.get_online_features returns, in JSON: NaN and infinities as
"NaN"/"Infinity" (featurestore.jsonio), bytes in base64, timestamps in ISO-8601 UTC.

    POST /push                  {"push_source_name": ..., "df": {column: [values]}, "to": "online"}
    POST /write-to-online-store {"feature_view_name": ..., "df": {column: [values]}}

Rows are checked whole against every view they reach before anything is written, then
written with materialization's newest-wins rule. The server writes online only; rows for
the offline store are pushed from Python or a job (FeatureStore.push), where Spark runs.

Every bad request is a RequestError (status 4xx, a message saying what and where); the
HTTP layer (featurestore.serving.app) turns it and an unreachable online store (503)
into JSON errors.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from featurestore.errors import FeatureStoreError, NotFoundError, OnlineStoreError, RegistryError
from featurestore.feature_logging.logger import log_served
from featurestore.identity import write_under
from featurestore.protos import value_pb2
from featurestore.times import micros_to_datetime
from featurestore.types import UnixTimestamp

EPOCH_TEXT = "1970-01-01T00:00:00Z"


class RequestError(Exception):
    """A request the server refuses: its HTTP status and a one-line message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@contextmanager
def _request_errors() -> Iterator[None]:
    """The request's faults as RequestError 422; what the app answers otherwise passes: the
    server's own faults (registry, online store: 503) and a missing object (Feast's 404)."""
    try:
        yield
    except (RequestError, RegistryError, OnlineStoreError, NotFoundError):
        raise
    except FeatureStoreError as error:
        raise RequestError(422, str(error)) from None


def error_json(status: int, message: str, feast_class: str = "FeastError") -> bytes:
    """An error answer's body, as Feast's feature server writes it (FeastError.to_error_detail):
    a JSON string holding the object {"module", "class", "message"} (plus "status"). Feast's
    clients turn it into that exception of feast.errors (FeastError.from_error_detail, which
    parses the string), so a Feast SDK pointed at this server raises what it would against Feast's."""
    detail = {"module": "feast.errors", "class": feast_class, "message": message, "status": status}
    return json.dumps(json.dumps(detail)).encode()


def _field(body: dict, name: str, kind: type, required: bool = True, default=None):
    if not isinstance(body, dict):
        raise RequestError(400, f"the body must be a JSON object, got {type(body).__name__}")
    if name not in body:
        if required:
            raise RequestError(400, f"the body lacks {name!r}")
        return default
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__
        raise RequestError(400, f"{name!r} must be {names}, got {type(value).__name__}")
    return value


def _columns(body: dict, name: str, max_rows: int) -> tuple[dict, int]:
    """A {column: [values]} object of equal-length lists, at most max_rows long."""
    columns = _field(body, name, dict)
    lengths = {}
    for column, values in columns.items():
        if not isinstance(values, list):
            raise RequestError(400, f"{name}[{column!r}] must be a list of values, one per row, got "
                                    f"{type(values).__name__}")
        lengths[column] = len(values)
    if len(set(lengths.values())) > 1:
        raise RequestError(400, f"the lists of {name!r} have different lengths {lengths}; give one value per row "
                                f"in every column")
    rows = next(iter(lengths.values()), 0)
    if rows > max_rows:
        raise RequestError(413, f"{rows} rows exceed this server's limit of {max_rows} per request "
                                f"(featurestore serve --max-rows); split the request")
    return columns, rows


def get_online_features(store, body: dict, max_rows: int) -> dict:
    """POST /get-online-features (module docstring)."""
    entities, rows = _columns(body, "entities", max_rows)
    if not entities:
        raise RequestError(400, "'entities' names no join key; give e.g. {\"driver_id\": [1001]}")
    features = _field(body, "features", list, required=False)
    service = _field(body, "feature_service", str, required=False)
    full_feature_names = _field(body, "full_feature_names", bool, required=False, default=False)
    if (features is None) == (service is None):
        raise RequestError(400, "give either 'features' (a list of \"view:feature\") or 'feature_service', "
                                "not both and not neither")
    if features is not None and not all(isinstance(f, str) for f in features):
        raise RequestError(400, "'features' must be a list of \"view:feature\" strings")
    registry = store.registry
    with _request_errors():
        requested = registry.get("feature_services", service) if service is not None else features
        entity_rows = [{column: values[i] for column, values in entities.items()} for i in range(rows)]
        response = _read(store, registry, requested, entity_rows, full_feature_names)
    if service is not None:
        log_served(store.config, registry, requested, entity_rows, response, full_feature_names)
    values, statuses, times = response.to_dict(), response.statuses(), response.event_micros()
    names = list(values)
    results = []
    texts = {None: EPOCH_TEXT}  # the features of one view share their rows' times: each is written once
    for name in names:
        column_statuses = statuses[name]
        column_times = []
        for micros in times[name]:
            text = texts.get(micros)
            if text is None:
                text = texts[micros] = micros_to_datetime(micros).isoformat().replace("+00:00", "Z")
            column_times.append(text)
        results.append({"values": values[name], "statuses": column_statuses, "event_timestamps": column_times})
    return {"metadata": {"feature_names": names}, "results": results}


def _read(store, registry, features, entity_rows, full_feature_names):
    from featurestore.online.read import get_online_features as read

    return read(registry, store.online_store, store.project, features, entity_rows, full_feature_names,
                repo_path=store.repo_path)


def push(store, body: dict, max_rows: int) -> dict:
    """POST /push: rows to the views of a push source, online (Feast's shape)."""
    from featurestore.push import PushMode, checked, push_mode, views_of

    name = _field(body, "push_source_name", str)
    columns, rows = _columns(body, "df", max_rows)
    to = _field(body, "to", str, required=False, default="online")
    with _request_errors():
        if push_mode(to).value != "online":
            raise RequestError(422, f"this server writes online only, got to={to!r}; push rows for the offline "
                                    f"store with FeatureStore.push(..., to={to!r}) from Python or a Spark job")
        registry = store.registry
        pushed_to = views_of(registry, name)
        source = pushed_to[0].source  # one batch source: its time columns parsed once
        _, views, encoded = checked(registry, name, _typed_columns(source, pushed_to, columns), PushMode.ONLINE)
    written = {view.name: write_under(store.registry_store, store.online_store, store.project, registry, view,
                                      encoded[view.name], "pushing") for view in views}
    return {"rows": rows, "written": written}


def write_to_online_store(store, body: dict, max_rows: int) -> dict:
    """POST /write-to-online-store: rows of one feature view, written online (Feast's shape)."""
    from featurestore.push import encoded_rows

    name = _field(body, "feature_view_name", str)
    columns, rows = _columns(body, "df", max_rows)
    with _request_errors():
        registry = store.registry
        view = registry.feature_view(name)
        if not view.online:
            raise RequestError(422, f"feature view {name!r} is offline only (online=False); nothing is served "
                                    f"from it")
        encoded = encoded_rows(view, _typed_columns(view.source, [view], columns), f"write to feature view {name!r}")
    return {"rows": rows, "written": {name: write_under(store.registry_store, store.online_store, store.project,
                                                        registry, view, encoded, "writing")}}


def _typed_columns(source, views, columns: dict) -> dict:
    """The JSON columns as the views' types take them, in the encodings featurestore's answers
    and Feast's clients use: times as ISO-8601 text (naive is UTC) or epoch seconds, bytes in
    base64, maps and structs as JSON objects or JSON text. Feast's remote client names the time
    columns "event_timestamp" and "created" whatever the source calls them: taken as the source's."""
    typed = dict(columns)
    for ours, feasts in ((source.timestamp_field, "event_timestamp"), (source.created_timestamp_column, "created")):
        if ours and ours not in typed and feasts in typed:
            typed[ours] = typed.pop(feasts)
    kinds = {column: UnixTimestamp for column in (source.timestamp_field, source.created_timestamp_column) if column}
    kinds.update({source.source_column(f.name): f.dtype for view in views for f in view.features})
    for column, dtype in kinds.items():
        convert = _FROM_JSON.get(getattr(dtype, "element", dtype).value_type)
        if convert is not None and column in typed:
            if dtype.is_list:
                typed[column] = [value if not isinstance(value, list) else [convert(v, column, i) for v in value]
                                 for i, value in enumerate(typed[column])]
            else:
                typed[column] = [convert(value, column, i) for i, value in enumerate(typed[column])]
    return typed


def _bytes(value, column: str, row: int):
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise RequestError(422, f"row {row}: column {column!r} holds {value[:40]!r}, which is not base64; send "
                                f"bytes in base64, as this server answers them") from None


def _json_object(value, column: str, row: int):
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise RequestError(422, f"row {row}: column {column!r} holds {value[:40]!r}, which is neither a JSON object "
                                f"nor JSON text of one") from None


def _datetime(value, column: str, row: int):
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # epoch seconds, as Feast's client sends
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise RequestError(422, f"row {row}: column {column!r} holds {value!r}, which is no time in epoch "
                                    f"seconds") from None
    if not isinstance(value, str):
        return value
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RequestError(422, f"row {row}: column {column!r} holds {value!r}, which is not an ISO-8601 time "
                                f"such as 2026-01-31T12:00:00Z") from None


# The JSON forms of the types JSON has none for, by value type (an array's by its element's).
_FROM_JSON = {value_pb2.UNIX_TIMESTAMP: _datetime, value_pb2.BYTES: _bytes, value_pb2.MAP: _json_object,
              value_pb2.STRUCT: _json_object}
