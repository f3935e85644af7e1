"""A feature service's log table: its columns, in Feast's names and order, and where it goes.

One log row per entity row of a logged `get_online_features` call:

    <join key>...                 the entity row's keys (a projection's mapped key columns)
    <request field>...            an on-demand view's request fields, as the row gave them
    <view>__<feature>             the served value (a projection's with_name alias as <view>)
    <view>__<feature>__timestamp  the event time of the stored row it came from (null: none)
    <view>__<feature>__status     Feast's FieldStatus number: 1 PRESENT, 2 NULL_VALUE,
                                  3 NOT_FOUND, 4 OUTSIDE_MAX_AGE
    __log_timestamp               when the request was answered (UTC, microseconds)
    __log_date                    its date, for partition pruning
    __request_id                  the same for the rows of one request
    __registry                    "<registry id>:<version>": the definitions it was served under

The first nine are Feast's FeatureServiceLoggingSource schema (Feast's tools read the
files); `__registry` is ours: the skew monitor compares a row only with the definitions
it was served under.
"""
from __future__ import annotations

from dataclasses import dataclass, field

STATUS_CODES = {"PRESENT": 1, "NULL_VALUE": 2, "NOT_FOUND": 3, "OUTSIDE_MAX_AGE": 4}  # Feast's FieldStatus
STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}
LOG_TIMESTAMP, LOG_DATE, REQUEST_ID, REGISTRY = "__log_timestamp", "__log_date", "__request_id", "__registry"
SYSTEM_COLUMNS = (LOG_TIMESTAMP, LOG_DATE, REQUEST_ID, REGISTRY)


@dataclass(frozen=True)
class LoggedFeature:
    """One served feature: its log columns' prefix (`view__feature`), the column of the
    response that holds it, its Spark type, and whether an on-demand view computed it."""
    view: str
    feature: str
    response_column: str
    spark_type: str
    on_demand: bool

    @property
    def column(self) -> str:
        return f"{self.view}__{self.feature}"


@dataclass
class LogLayout:
    """What a service's log rows hold and where they go (a dict of plain values: it is sent
    to the writer process as it is)."""
    service: str
    destination: dict  # {"path": folder} or {"table": name, "location": folder, "warehouse": folder}
    registry: str  # "<registry id>:<version>"
    keys: list[tuple[str, str]] = field(default_factory=list)  # (entity column, Spark type)
    request_fields: list[tuple[str, str]] = field(default_factory=list)  # (field, Spark type)
    features: list[LoggedFeature] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"service": self.service, "destination": self.destination, "registry": self.registry,
                "keys": self.keys, "request_fields": self.request_fields,
                "features": [(f.view, f.feature, f.response_column, f.spark_type, f.on_demand) for f in self.features]}

    @classmethod
    def from_dict(cls, data: dict) -> LogLayout:
        return cls(data["service"], data["destination"], data["registry"], [tuple(k) for k in data["keys"]],
                   [tuple(r) for r in data["request_fields"]], [LoggedFeature(*f) for f in data["features"]])

    def column_names(self) -> list[str]:
        names = [k for k, _ in self.keys] + [r for r, _ in self.request_fields]
        for feature in self.features:
            names += [feature.column, f"{feature.column}__timestamp", f"{feature.column}__status"]
        return names + list(SYSTEM_COLUMNS)


def destination_of(config, logging_config) -> dict:
    """A LoggingConfig's destination as absolute places (config: the repo's RepoConfig)."""
    from pathlib import Path

    destination = logging_config.destination
    if hasattr(destination, "table_name"):
        warehouse = config.warehouse_dir
        return {"table": destination.table_name, "location": str(warehouse / destination.table_name),
                "warehouse": str(warehouse)}
    path = Path(destination.path)
    return {"path": str(path if path.is_absolute() else config.repo_path / path)}


def layout_of(registry, service, plan, destination: dict) -> LogLayout:
    """The log layout of `service` as `plan` (featurestore.online.read's request plan) serves it."""
    layout = LogLayout(service=service.name, destination=destination,
                       registry=f"{registry.registry_id}:{registry.version}")
    key_types: dict[str, str] = {}
    for request in plan.requests:
        dtypes = {f.name: f.dtype for f in request.view.schema}
        for join_key, column in zip(request.view.join_keys, request.key_columns):
            key_types.setdefault(column, dtypes[join_key].spark_type if join_key in dtypes else "string")
    layout.keys = [(column, key_types.get(column, "string")) for column in plan.entity_columns]
    seen = set()
    for request in plan.on_demand:
        for source in request.view.request_sources:
            for f in source.schema:
                if f.name not in seen and f.name not in key_types:
                    seen.add(f.name)
                    layout.request_fields.append((f.name, f.dtype.spark_type))
    views = {r.name: r for r in plan.requested}
    for column, on_demand, view_name, feature in plan.columns:
        dtype = next((f.dtype for f in views[view_name].view.schema if f.name == feature), None)
        layout.features.append(LoggedFeature(view_name, feature, column,
                                             dtype.spark_type if dtype is not None else "string", on_demand))
    return layout
