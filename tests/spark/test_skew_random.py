"""The skew monitor's comparison against a plain-Python reference, on random data.

Random feature rows (with ties on event time, broken by the created time, and rows beyond
the ttl) and random logged rows: each logged row serves either what training gives at its
time, an older row, a newer row that the source lacks, nothing, or another value for the
same row. The reference computes each row's training value and row time by hand (the
point-in-time rules of tests/reference_join.py) and classifies the pair by the rules of
featurestore.quality.skew; compute_skew must count the same outcomes per feature."""
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from featurestore.feature_logging.arrow_columns import log_table
from featurestore.feature_logging.destinations import append
from featurestore.feature_logging.layout import destination_of, layout_of
from featurestore.online.read import request_plan
from featurestore.quality.skew import compute_skew
from featurestore.store import FeatureStore

pytestmark = pytest.mark.spark

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureService, FeatureView, Field, FileLoggingDestination, LoggingConfig, SparkSource
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(hours=6),
    source=SparkSource(name="src", table="{table}", timestamp_field="event_ts", created_timestamp_column="created"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64), Field(name="trips", dtype=Int64)])
svc = FeatureService(name="svc", features=[stats],
                     logging_config=LoggingConfig(destination=FileLoggingDestination(path="logs")))
"""
TTL = timedelta(hours=6)
BASE = datetime(2026, 3, 1, tzinfo=UTC)
PRESENT, NULL_VALUE, NOT_FOUND, OUTSIDE_MAX_AGE = "PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"


def training_row(rows, driver, at):
    """The reference as-of row: newest (event, created) at or before `at` within the ttl, or None."""
    candidates = [r for r in rows if r[0] == driver and at - TTL <= r[1] <= at]
    return max(candidates, key=lambda r: (r[1], r[2]), default=None)


def outcome(online, online_ts, status, offline, offline_ts):
    if online == offline:
        return "match"
    online_row, offline_row = status in (PRESENT, NULL_VALUE), offline_ts is not None
    if offline_row and (not online_row or online_ts < offline_ts):
        return "online_stale"
    if online_row and (not offline_row or online_ts > offline_ts):
        return "online_newer"
    return "value_differs" if online is not None and offline is not None else "null_one_side"


@pytest.mark.parametrize("seed", [1, 2])
def test_compute_skew_counts_what_the_reference_counts(spark, repo_factory, seed):
    rng = random.Random(seed)
    table = f"skew_random_{uuid.uuid4().hex[:6]}"
    rows = []  # (driver, event, created, rate, trips)
    for driver in range(1, 9):
        for _ in range(rng.randrange(0, 8)):
            event = BASE + timedelta(hours=rng.randrange(0, 24))  # whole hours: ties happen
            rate = None if rng.random() < 0.1 else round(rng.random(), 3)
            rows.append((driver, event, event + timedelta(minutes=rng.randrange(0, 3)), rate, rng.randrange(10)))
    spark.createDataFrame(rows, "driver_id bigint, event_ts timestamp, created timestamp, rate double, trips bigint") \
        .write.format("delta").saveAsTable(table)
    store = FeatureStore(repo_factory(DEFINITIONS.format(table=table), project=f"p_{uuid.uuid4().hex[:6]}"))
    store.apply(store.load_repo(), partial=False)
    registry = store.registry
    service = registry.feature_services["svc"]
    plan = request_plan(registry, service, False)
    layout = layout_of(registry, service, plan, destination_of(store.config, service.logging_config))

    records, expected = [], Counter()
    for _ in range(300):
        driver = rng.randrange(1, 10)  # 9 has no rows
        at = BASE + timedelta(hours=rng.uniform(0, 30))
        truth = training_row(rows, driver, at)
        choice = rng.choice(["same", "same", "older", "newer", "nothing", "other_value"])
        older = [r for r in rows if r[0] == driver and truth is not None and (r[1], r[2]) < (truth[1], truth[2])]
        if choice == "same" or (choice == "older" and not older):
            served = truth
        elif choice == "older":
            served = rng.choice(older)
        elif choice == "newer":
            served = (driver, at + timedelta(minutes=1) if truth is None else truth[1] + timedelta(seconds=1),
                      None, round(rng.random(), 3), rng.randrange(10))
        elif choice == "other_value" and truth is not None:
            served = (driver, truth[1], truth[2], (truth[3] or 0) + 1, truth[4] + 1)
        else:
            served = None
        values, statuses, times = {"driver_id": [driver]}, {"driver_id": [PRESENT]}, {}
        online_ts = None if served is None else int(served[1].timestamp() * 1e6)
        for position, feature in ((3, "rate"), (4, "trips")):
            if served is None:
                value, status = None, NOT_FOUND
            elif served[1] < at - TTL:
                value, status = None, OUTSIDE_MAX_AGE
            else:
                value = served[position]
                status = NULL_VALUE if value is None else PRESENT
            values[feature], statuses[feature], times[feature] = [value], [status], [online_ts]
            offline = None if truth is None else truth[position]
            offline_ts = None if truth is None else truth[1]
            expected[(f"stats__{feature}", outcome(value, None if served is None else served[1], status, offline,
                                                   offline_ts))] += 1
        records.append((int(at.timestamp() * 1e6), 1, values, statuses, times, None))
    append(layout.destination, log_table(layout, records, "test", 0))

    report = compute_skew(spark, store.registry, store.config, "svc")
    found = Counter()
    for feature in report.features:
        assert feature.compared == 300
        found[(feature.feature, "match")] = feature.matches
        for cause, count in feature.causes.items():
            if count:
                found[(feature.feature, cause)] = count
    assert found == +expected
    assert len({cause for _, cause in expected}) >= 4  # the data reached most outcomes
