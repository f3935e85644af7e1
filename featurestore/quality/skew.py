"""The skew monitor: did the model see online what training would have given it?

For a feature service that logs what it serves (featurestore.feature_logging), take the
logged rows (optionally since / until a time), compute in Spark what
`get_historical_features` gives for the same entity keys and request fields at the same
times (each row's `__log_timestamp`, point-in-time correct), and compare each feature's
served value with the training value:

    match          the values are equal (null with null: neither side had a value)
    online_stale   online served an older row than the offline store holds for that time,
                   or none within the ttl: materialization is behind, or stopped
    online_newer   online served a row newer than any the offline store holds for that time:
                   a value pushed or streamed online only, or offline data late or removed
    value_differs  the same event row, two different values: a value written online that
                   training would not give, or a computation that differs
    null_one_side  the same event row (or an on-demand or aggregated feature, which has no
                   row time), null on one side only

A row counts once per feature. Rows served under another registry (its id differs: the
registry was made again) are left out and counted. A feature whose mismatch rate is above
the threshold (the command's, else the service's LoggingConfig.max_mismatch_rate, else
DEFAULT_MAX_MISMATCH_RATE) fails the report; `featurestore skew` then exits 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from featurestore.errors import ValidationError

CAUSES = ("online_stale", "online_newer", "value_differs", "null_one_side")
DEFAULT_MAX_MISMATCH_RATE = 0.01
EXAMPLES = 3
TIME_BUCKETS = 24  # the report's mismatch-rate-over-time plot


@dataclass
class FeatureSkew:
    """One feature's comparison."""
    feature: str  # view__feature
    compared: int = 0
    matches: int = 0
    causes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CAUSES, 0))
    examples: dict[str, list[dict]] = field(default_factory=dict)  # cause -> rows (keys, time, both values)
    over_time: list[tuple[str, int, int]] = field(default_factory=list)  # (bucket start, compared, mismatches)
    status: str = "pass"
    note: str = ""

    @property
    def match_rate(self) -> float | None:
        return self.matches / self.compared if self.compared else None

    @property
    def mismatch_rate(self) -> float | None:
        return None if not self.compared else 1 - self.matches / self.compared

    def to_dict(self) -> dict:
        return {"feature": self.feature, "compared": self.compared, "matches": self.matches,
                "match_rate": self.match_rate, "mismatch_rate": self.mismatch_rate, "causes": self.causes,
                "examples": self.examples, "over_time": [list(t) for t in self.over_time], "status": self.status,
                "note": self.note}


@dataclass
class SkewReport:
    """What `featurestore skew` prints, stores for the catalog and writes as HTML."""
    service: str
    computed_at: str
    since: str | None
    until: str | None
    threshold: float
    logged_rows: int = 0  # in the time range
    other_registry_rows: int = 0  # served under another registry: not compared
    features: list[FeatureSkew] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.logged_rows - self.other_registry_rows:
            return "fail"  # a gate that saw nothing must not pass: logging broken, or no traffic
        return "fail" if any(f.status == "fail" for f in self.features) else "pass"

    def to_dict(self) -> dict:
        return {"service": self.service, "computed_at": self.computed_at, "since": self.since, "until": self.until,
                "threshold": self.threshold, "logged_rows": self.logged_rows,
                "other_registry_rows": self.other_registry_rows, "status": self.status,
                "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, data: dict) -> SkewReport:
        report = cls(data["service"], data["computed_at"], data.get("since"), data.get("until"), data["threshold"],
                     data.get("logged_rows", 0), data.get("other_registry_rows", 0))
        for item in data.get("features", []):
            feature = FeatureSkew(item["feature"], item["compared"], item["matches"], dict(item["causes"]),
                                  item.get("examples", {}), [tuple(t) for t in item.get("over_time", [])],
                                  item.get("status", "pass"), item.get("note", ""))
            report.features.append(feature)
        return report


def threshold_for(service, given: float | None) -> float:
    """The command's threshold, else the service's, else the default."""
    if given is not None:
        if not 0 <= given <= 1:
            raise ValidationError(f"--max-mismatch-rate must be in [0, 1], got {given}")
        return given
    configured = getattr(service.logging_config, "max_mismatch_rate", None)
    return DEFAULT_MAX_MISMATCH_RATE if configured is None else configured


def compute_skew(spark, registry, config, service_name: str, since: datetime | None = None,
                 until: datetime | None = None, max_mismatch_rate: float | None = None,
                 examples: int = EXAMPLES) -> SkewReport:
    """Compare the service's logged rows with the training set of the same keys and times."""
    from pyspark.sql import functions as F

    from featurestore.errors import NotFoundError
    from featurestore.feature_logging.destinations import read_logs
    from featurestore.feature_logging.layout import LOG_TIMESTAMP, REGISTRY, destination_of, layout_of
    from featurestore.online.read import request_plan

    service = registry.feature_services.get(service_name)
    if service is None:
        raise NotFoundError(f"no feature service {service_name!r} in project {registry.project!r}; known: "
                            f"{', '.join(sorted(registry.feature_services)) or 'none'}")
    if service.logging_config is None:
        raise ValidationError(f"feature service {service_name!r} logs nothing, so there is nothing to compare: give "
                              f"it logging_config=LoggingConfig(destination=...) and apply")
    threshold = threshold_for(service, max_mismatch_rate)
    report = SkewReport(service_name, datetime.now(UTC).isoformat(timespec="seconds"),
                        since.isoformat() if since else None, until.isoformat() if until else None, threshold)
    plan = request_plan(registry, service, True)
    destination = destination_of(config, service.logging_config)
    layout = layout_of(registry, service, plan, destination)
    logs = read_logs(spark, destination)
    if logs is None:
        return report
    if since is not None:
        logs = logs.where(F.col(LOG_TIMESTAMP) >= F.lit(since))
    if until is not None:
        logs = logs.where(F.col(LOG_TIMESTAMP) < F.lit(until))
    same_registry = F.substring_index(F.col(REGISTRY), ":", 1) == F.lit(registry.registry_id)
    counts = logs.agg(F.count(F.lit(1)).alias("all"),
                      F.sum(F.when(same_registry, 0).otherwise(1)).alias("other")).collect()[0]
    report.logged_rows, report.other_registry_rows = counts["all"], counts["other"] or 0
    logs = logs.where(same_registry)
    present = set(logs.columns)
    features = []
    for feature in layout.features:
        entry = FeatureSkew(feature.column)
        if feature.spark_type.startswith(("map", "struct")):
            entry.note = "not compared: maps and structs are logged as JSON text"
        elif not {feature.column, f"{feature.column}__status"} <= present:
            entry.note = "not compared: not in the logs (added to the service after they were written)"
        else:
            features.append((feature, entry))
        report.features.append(entry)
    if not features or report.logged_rows == report.other_registry_rows:
        return report
    _compare(spark, registry, config, service, layout, logs, features, examples)
    for _, entry in features:
        entry.status = "fail" if entry.mismatch_rate and entry.mismatch_rate > threshold else "pass"
    return report


def _compare(spark, registry, config, service, layout, logs, features, examples: int) -> None:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from featurestore.feature_logging.layout import LOG_TIMESTAMP
    from featurestore.offline.pit_join import column
    from featurestore.offline.retrieval import event_time_column, get_historical_features

    keys = [k for k, _ in layout.keys] + [r for r, _ in layout.request_fields]
    carried = []
    for i, (feature, _) in enumerate(features):
        carried += [column(feature.column).alias(f"skew_online_{i}"),
                    column(f"{feature.column}__status").alias(f"skew_status_{i}"),
                    column(f"{feature.column}__timestamp").alias(f"skew_online_ts_{i}")]
    entity_df = logs.select(*[column(k) for k in keys], F.col(LOG_TIMESTAMP).alias("event_timestamp"), *carried)
    training = get_historical_features(spark, registry, entity_df, service, full_feature_names=True,
                                       repo_path=config.repo_path, event_times=True).to_spark_df()
    row_times = {c for c in training.columns if c.startswith(event_time_column(""))}
    outcomes = []
    for i, (feature, _) in enumerate(features):
        time_column = event_time_column(feature.view)
        offline_ts = F.col(time_column) if time_column in row_times and not feature.on_demand else None
        outcomes.append(F.struct(F.lit(i).alias("feature"), _outcome(
            F.col(f"skew_online_{i}"), column(feature.column), F.col(f"skew_status_{i}"),
            F.col(f"skew_online_ts_{i}"), offline_ts).alias("outcome"),
            F.col(f"skew_online_{i}").cast("string").alias("online"),
            column(feature.column).cast("string").alias("offline"),
            (F.col(f"skew_online_ts_{i}").cast("string")).alias("online_event"),
            (offline_ts.cast("string") if offline_ts is not None else F.lit(None).cast("string")).alias(
                "offline_event")))
    key_struct = F.to_json(F.struct(*[column(k) for k in keys]))
    compared = training.select(key_struct.alias("keys"), F.col("event_timestamp").alias("at"),
                               F.explode(F.array(*outcomes)).alias("o")).select("keys", "at", "o.*")
    compared = compared.persist()
    try:
        for row in compared.groupBy("feature", "outcome").count().collect():
            entry = features[row["feature"]][1]
            entry.compared += row["count"]
            if row["outcome"] == "match":
                entry.matches += row["count"]
            else:
                entry.causes[row["outcome"]] = entry.causes.get(row["outcome"], 0) + row["count"]
        ranked = compared.where(F.col("outcome") != "match").withColumn(
            "n", F.row_number().over(Window.partitionBy("feature", "outcome").orderBy("at", "keys")))
        for row in ranked.where(F.col("n") <= examples).orderBy("feature", "outcome", "n").collect():
            entry = features[row["feature"]][1]
            entry.examples.setdefault(row["outcome"], []).append(
                {"keys": row["keys"], "at": row["at"].isoformat(), "online": row["online"], "offline": row["offline"],
                 "online_event": row["online_event"], "offline_event": row["offline_event"]})
        _over_time(compared, features)
    finally:
        compared.unpersist()


def _outcome(online, offline, status, online_ts, offline_ts):
    """The comparison of one served value with its training value (module docstring)."""
    from pyspark.sql import functions as F

    differ_by_value = F.when(online.isNotNull() & offline.isNotNull(), F.lit("value_differs")) \
        .otherwise(F.lit("null_one_side"))
    if offline_ts is None:  # on-demand and aggregated features: no row time to compare
        cause = differ_by_value
    else:
        online_row = status.isin(1, 2)  # PRESENT or NULL_VALUE: a stored row within the ttl was served
        offline_row = offline_ts.isNotNull()
        cause = (F.when(offline_row & (~online_row | (online_ts < offline_ts)), F.lit("online_stale"))
                 .when(online_row & (~offline_row | (online_ts > offline_ts)), F.lit("online_newer"))
                 .otherwise(differ_by_value))
    return F.when(online.eqNullSafe(offline), F.lit("match")).otherwise(cause)


def _over_time(compared, features) -> None:
    """Each feature's rows and mismatches in TIME_BUCKETS equal spans of the compared times."""
    from pyspark.sql import functions as F

    bounds = compared.agg(F.min("at").alias("lo"), F.max("at").alias("hi")).collect()[0]
    if bounds["lo"] is None:
        return
    lo, hi = bounds["lo"].timestamp(), bounds["hi"].timestamp()
    width = max((hi - lo) / TIME_BUCKETS, 1e-6)
    bucket = F.least(F.floor((F.unix_micros("at") / 1e6 - F.lit(lo)) / F.lit(width)), F.lit(TIME_BUCKETS - 1))
    rows = compared.groupBy("feature", bucket.cast("int").alias("bucket")).agg(
        F.count(F.lit(1)).alias("rows"), F.sum(F.when(F.col("outcome") != "match", 1).otherwise(0)).alias("bad")) \
        .orderBy("feature", "bucket").collect()
    for row in rows:
        start = datetime.fromtimestamp(lo + row["bucket"] * width, tz=UTC).isoformat(timespec="seconds")
        features[row["feature"]][1].over_time.append((start, row["rows"], row["bad"]))


# --- the catalog's copy of the last report -------------------------------------------------------

REPORTS_FOLDER = "_featurestore_skew"  # in the warehouse; Spark skips names starting with "_"


def report_path(warehouse_dir, service_name: str):
    """Where the last report of a service is kept, for the catalog's service page."""
    from pathlib import Path

    return Path(warehouse_dir) / REPORTS_FOLDER / f"{service_name}.json"


def store_report(warehouse_dir, report: SkewReport, html_path: str | None = None) -> None:
    """Keep the report (and where its HTML page went) as the service's last one; written whole."""
    import json
    import os

    path = report_path(warehouse_dir, report.service)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = report.to_dict() | {"html": str(html_path) if html_path else None}
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=1, default=str))
    os.replace(temporary, path)


def load_report(warehouse_dir, service_name: str) -> tuple[SkewReport, str | None] | None:
    """The last stored report of a service and its HTML file, or None."""
    import json

    try:
        data = json.loads(report_path(warehouse_dir, service_name).read_text())
        return SkewReport.from_dict(data), data.get("html")
    except (OSError, ValueError, KeyError, TypeError):
        return None
