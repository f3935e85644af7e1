"""The skew monitor (featurestore.quality.skew, `featurestore skew`): logged online reads
compared with training values at the same keys and times, in Spark, on SQLite and Redis.

A clean run matches 100%; injected skew is caught and attributed: a value written online
that training would not give (value_differs), a materialization that stopped while the
source moved on (online_stale), a value pushed online only (online_newer), and an
on-demand feature's input differing (value_differs, no row times). The gate's exit status,
the HTML report and the catalog's service page follow."""
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from featurestore import feature_logging
from featurestore.catalog import pages
from featurestore.catalog.warehouse import Warehouse
from featurestore.cli import main as cli
from featurestore.online.base import OnlineRow
from featurestore.online.codec import encode_value, serialize_entity_key
from featurestore.quality.skew import compute_skew
from featurestore.store import FeatureStore
from featurestore.testing.repos import redis_online_store
from featurestore.types import Float64, Int64

pytestmark = pytest.mark.spark

DEFINITIONS = """
from datetime import timedelta
from featurestore import (Entity, FeatureService, FeatureView, Field, FileLoggingDestination, LoggingConfig,
                          RequestSource, SparkSource, on_demand_feature_view)
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=1),
    source=SparkSource(name="stats_src", table="{table}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float64),
            Field(name="trips", dtype=Int64)])
bonus = RequestSource(name="bonus", schema=[Field(name="bonus", dtype=Float64)])


@on_demand_feature_view(sources=[stats[["conv_rate"]], bonus], schema=[Field(name="boosted", dtype=Float64)],
                        mode="python")
def boosted(inputs):
    return {{"boosted": [None if r is None else r + b for r, b in zip(inputs["conv_rate"], inputs["bonus"])]}}


ranking = FeatureService(name="ranking", features=[stats, boosted],
                         logging_config=LoggingConfig(destination=FileLoggingDestination(path="logs"),
                                                      max_mismatch_rate=0.0))
"""
SCHEMA = "driver_id bigint, event_ts timestamp, conv_rate double, trips bigint"
DRIVERS = (1001, 1002, 1003, 1004)


@pytest.fixture(params=["sqlite", "redis"])
def logged(request, spark, repo_factory):
    suffix = uuid.uuid4().hex[:6]
    table = f"skew_{suffix}"
    online = ""
    if request.param == "redis":
        server = request.getfixturevalue("clean_redis")
        online = redis_online_store(server.host, server.port)
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [(d, now - timedelta(hours=h), 0.1 * (d - 1000) + 0.01 * h, d - 1000 + h)
            for d in DRIVERS[:3] for h in (1, 2, 30)]  # 1004 has no rows; the 30-hour-old ones are beyond the ttl
    spark.createDataFrame(rows, SCHEMA).write.format("delta").saveAsTable(table)
    repo = repo_factory(DEFINITIONS.format(table=table), online_store=online, project=f"p_{suffix}")
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    store.materialize_incremental(datetime.now(UTC), log=lambda m: None)
    return spark, store, table, now


def serve(store, drivers=DRIVERS, bonus=1.0):
    service = store.get_feature_service("ranking")
    response = store.get_online_features(features=service, entity_rows=[{"driver_id": d, "bonus": bonus}
                                                                        for d in drivers]).to_dict()
    assert feature_logging.flush()
    return response


def skew(store, **kwargs):
    report = compute_skew(store.spark, store.registry, store.config, "ranking", **kwargs)
    return {f.feature: (f.compared, f.matches, {c: n for c, n in f.causes.items() if n}) for f in report.features}, \
        report


def test_a_clean_run_matches_every_row(logged):
    _, store, _, _ = logged
    served = serve(store)
    assert served["conv_rate"] == [pytest.approx(0.11), pytest.approx(0.21), pytest.approx(0.31), None]
    serve(store, drivers=(1002,))
    counts, report = skew(store)
    assert counts == {"stats__conv_rate": (5, 5, {}), "stats__trips": (5, 5, {}), "boosted__boosted": (5, 5, {})}
    assert report.status == "pass" and report.logged_rows == 5


def test_injected_skew_is_caught_and_attributed(logged):
    spark, store, table, now = logged
    serve(store)  # clean: 4 rows
    since = datetime.now(UTC)
    time.sleep(0.01)
    view = store.get_feature_view("stats")
    key = serialize_entity_key(["driver_id"], [1001], [Int64])
    # A value written online that training would not give: same event row, another value.
    store.online_store.online_write_batch(store.project, view, [OnlineRow(
        key, {"conv_rate": encode_value(9.5, Float64), "trips": encode_value(2, Int64)},
        int((now - timedelta(hours=1)).timestamp() * 1e6), 0)])
    # Materialization stopped: 1002 moved on in the source, nothing materialized it.
    spark.createDataFrame([(1002, now - timedelta(minutes=5), 0.99, 99)], SCHEMA) \
        .write.format("delta").mode("append").saveAsTable(table)
    # A value pushed online only: 1004 has no source row at all.
    store.online_store.online_write_batch(store.project, view, [OnlineRow(
        serialize_entity_key(["driver_id"], [1004], [Int64]),
        {"conv_rate": encode_value(0.5, Float64), "trips": encode_value(5, Int64)},
        int((now - timedelta(minutes=1)).timestamp() * 1e6), 0)])
    serve(store, bonus=2.0)
    counts, report = skew(store, since=since)
    assert counts == {
        "stats__conv_rate": (4, 1, {"value_differs": 1, "online_stale": 1, "online_newer": 1}),
        "stats__trips": (4, 2, {"online_stale": 1, "online_newer": 1}),  # 1001's trips were rewritten as they were
        "boosted__boosted": (4, 1, {"value_differs": 2, "null_one_side": 1})}  # no row times: by value only
    conv = next(f for f in report.features if f.feature == "stats__conv_rate")
    example = conv.examples["value_differs"][0]
    assert (json.loads(example["keys"]), float(example["online"]), float(example["offline"])) == \
        ({"driver_id": 1001, "bonus": 2.0}, 9.5, pytest.approx(0.11))
    assert json.loads(conv.examples["online_stale"][0]["keys"])["driver_id"] == 1002
    assert report.status == "fail" and conv.status == "fail"
    # Without --since the first requests count too; 1002's new source row is older than them, so
    # training would have given it to them as well: late data, online_stale there too.
    everything, _ = skew(store)
    assert everything["stats__conv_rate"] == (8, 4, {"value_differs": 1, "online_stale": 2, "online_newer": 1})


def test_the_command_is_a_gate_with_a_report_and_the_catalog_shows_it(logged, tmp_path, capsys):
    _, store, _, _ = logged
    repo = str(store.repo_path)
    assert cli(["skew", "ranking", "--repo", repo]) == 1  # nothing logged yet: a gate that saw nothing fails
    assert "no logged rows to compare" in capsys.readouterr().out
    serve(store)
    html = tmp_path / "skew.html"
    assert cli(["skew", "ranking", "--repo", repo, "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "stats__conv_rate" in out and "Result: PASS" in out
    page = html.read_text()
    assert page.count("<section class='feature'") == 3 and "data:image/png;base64," in page
    key = serialize_entity_key(["driver_id"], [1002], [Int64])
    store.online_store.online_write_batch(store.project, store.get_feature_view("stats"), [OnlineRow(
        key, {"conv_rate": encode_value(7.0, Float64), "trips": encode_value(3, Int64)},
        int(time.time() * 1e6) - 3_600_000_000, 0)])
    serve(store, drivers=(1002,))
    assert cli(["skew", "ranking", "--repo", repo, "--format", "json"]) == 1  # threshold 0 in the service
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "fail" and result["threshold"] == 0.0
    assert cli(["skew", "ranking", "--repo", repo, "--max-mismatch-rate", "0.5"]) == 0  # 1 of 5 rows: 20%
    capsys.readouterr()
    text = pages.render(store.registry, "feature-services/ranking.html", Warehouse(store.config.warehouse_dir))
    assert "data-status='pass'" in text and "threshold 50.00%" in text and "online_newer 1" in text


def test_a_delta_table_destination_is_compared_and_readable_as_a_table(spark, repo_factory):
    suffix = uuid.uuid4().hex[:6]
    table = f"skew_d_{suffix}"
    now = datetime.now(UTC).replace(microsecond=0)
    spark.createDataFrame([(1001, now - timedelta(hours=1), 0.5, 3)], SCHEMA).write.format("delta").saveAsTable(table)
    definitions = DEFINITIONS.format(table=table).replace(
        'FileLoggingDestination(path="logs")', f'DeltaLoggingDestination(table_name="ranking_log_{suffix}")').replace(
        "FileLoggingDestination, LoggingConfig", "DeltaLoggingDestination, LoggingConfig")
    store = FeatureStore(repo_factory(definitions, project=f"p_{suffix}"))
    store.apply(store.load_repo(), partial=False)
    store.materialize_incremental(datetime.now(UTC), log=lambda m: None)
    serve(store, drivers=(1001, 1002))
    counts, _ = skew(store)
    assert counts == {"stats__conv_rate": (2, 2, {}), "stats__trips": (2, 2, {}), "boosted__boosted": (2, 2, {})}
    from featurestore.runtime.unregistered_tables import pending

    location = store.config.warehouse_dir / f"ranking_log_{suffix}"
    assert spark.read.format("delta").load(str(location)).count() == 2
    assert pending(store.config.warehouse_dir) == [f"ranking_log_{suffix}"]  # for the repo's next Spark session
