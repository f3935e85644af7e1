"""Feature logging (featurestore.feature_logging): a service with a LoggingConfig logs every
get_online_features, in process and through `featurestore serve` with two workers, to a
folder of parquet files or a Delta table; a failing destination loses no request. Real
SQLite and Redis stores, a real server in a subprocess, the logs read back with pyarrow
and delta-rs; no JVM."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from featurestore import (
    DeltaLoggingDestination,
    FeatureService,
    FeatureView,
    Field,
    FileLoggingDestination,
    LoggingConfig,
    PushSource,
    feature_logging,
)
from featurestore.errors import DefinitionError
from featurestore.feature_logging.destinations import logged_rows_without_spark
from featurestore.feature_logging.layout import destination_of
from featurestore.registry import RegistryState
from featurestore.store import FeatureStore
from featurestore.testing.repos import write_repo
from featurestore.types import Float64, Int64
from tests.online_helpers import DRIVER, PROJECT, SOURCE, row
from tests.repo_helpers import online_store_section
from tests.unit.test_feature_server import ask, children_of, start_serving

NOW_US = int(datetime.now(UTC).replace(microsecond=0).timestamp()) * 1_000_000
HOUR_US = 3_600_000_000
PUSH = PushSource(name="stats_push", batch_source=SOURCE)
STATS = FeatureView(name="stats", entities=[DRIVER], source=PUSH, ttl=timedelta(days=1), schema=[
    Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64), Field(name="trips", dtype=Int64)])
def make_repo(request, tmp_path, destination, kind="sqlite", sample_rate=1.0):
    """A repo whose service `ranking` logs to destination; drivers 1 (fresh), 2 (a stored null),
    3 (older than the ttl) online, 4 nowhere."""
    write_repo(tmp_path / "repo", project=PROJECT, online_store=online_store_section(request, kind))
    store = FeatureStore(tmp_path / "repo")
    service = FeatureService(name="ranking", features=[STATS[["rate", "trips"]]],
                             logging_config=LoggingConfig(destination=destination, sample_rate=sample_rate))

    def put(state: RegistryState) -> None:
        state.entities[DRIVER.name] = DRIVER
        state.data_sources[SOURCE.name] = SOURCE
        state.feature_views[STATS.name] = STATS
        state.feature_services[service.name] = service

    store.registry_store.update(put)
    store.online_store.update(PROJECT, [STATS], [])
    store.online_store.online_write_flat(PROJECT, STATS, [
        row(STATS, 1, {"rate": 0.5, "trips": 5}, NOW_US - HOUR_US),
        row(STATS, 2, {"rate": None, "trips": 7}, NOW_US - HOUR_US),
        row(STATS, 3, {"rate": 0.25, "trips": 3}, NOW_US - 30 * HOUR_US)])
    return store


def logged(store) -> list[dict]:
    service = store.get_feature_service("ranking")
    table = logged_rows_without_spark(destination_of(store.config, service.logging_config))
    return [] if table is None else table.to_pylist()


def at(micros):
    return None if micros is None else datetime.fromtimestamp(micros / 1e6, tz=UTC)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_every_call_of_a_logged_service_is_one_log_row_per_entity_row_with_value_status_and_event_time(
        request, tmp_path, kind):
    store = make_repo(request, tmp_path, FileLoggingDestination(path="logs/ranking"), kind)
    service = store.get_feature_service("ranking")
    before = datetime.now(UTC)
    store.get_online_features(features=service, entity_rows=[{"driver_id": d} for d in (1, 2, 3, 4)])
    store.get_online_features(features=service, entity_rows=[{"driver_id": 1}], full_feature_names=True)
    store.get_online_features(features=["stats:rate"], entity_rows=[{"driver_id": 1}])  # no service: not logged
    assert feature_logging.flush()
    rows = logged(store)
    registry = store.registry
    assert [{k: v for k, v in r.items() if not k.startswith("__")} for r in rows] == [
        {"driver_id": 1, "stats__rate": 0.5, "stats__rate__timestamp": at(NOW_US - HOUR_US), "stats__rate__status": 1,
         "stats__trips": 5, "stats__trips__timestamp": at(NOW_US - HOUR_US), "stats__trips__status": 1},
        {"driver_id": 2, "stats__rate": None, "stats__rate__timestamp": at(NOW_US - HOUR_US), "stats__rate__status": 2,
         "stats__trips": 7, "stats__trips__timestamp": at(NOW_US - HOUR_US), "stats__trips__status": 1},
        {"driver_id": 3, "stats__rate": None, "stats__rate__timestamp": at(NOW_US - 30 * HOUR_US),
         "stats__rate__status": 4, "stats__trips": None, "stats__trips__timestamp": at(NOW_US - 30 * HOUR_US),
         "stats__trips__status": 4},
        {"driver_id": 4, "stats__rate": None, "stats__rate__timestamp": None, "stats__rate__status": 3,
         "stats__trips": None, "stats__trips__timestamp": None, "stats__trips__status": 3},
        {"driver_id": 1, "stats__rate": 0.5, "stats__rate__timestamp": at(NOW_US - HOUR_US), "stats__rate__status": 1,
         "stats__trips": 5, "stats__trips__timestamp": at(NOW_US - HOUR_US), "stats__trips__status": 1}]
    request_ids = [r["__request_id"] for r in rows]
    assert len(set(request_ids[:4])) == 1 and request_ids[4] != request_ids[0]
    assert {r["__registry"] for r in rows} == {f"{registry.registry_id}:{registry.version}"}
    assert all(before <= r["__log_timestamp"] <= datetime.now(UTC) for r in rows)
    assert {r["__log_date"] for r in rows} == {r["__log_timestamp"].date() for r in rows}


ON_DEMAND_REPO = '''
from datetime import timedelta
from featurestore import (Entity, FeatureService, FeatureView, Field, FileLoggingDestination, LoggingConfig,
                          RequestSource, SparkSource, on_demand_feature_view)
from featurestore.types import Float64, Int64

driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(0),
    source=SparkSource(name="stats_src", table="stats_table", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
bonus = RequestSource(name="bonus", schema=[Field(name="bonus", dtype=Float64)])


@on_demand_feature_view(sources=[stats, bonus], schema=[Field(name="boosted", dtype=Float64)], mode="python")
def boosted(inputs):
    return {"boosted": [None if r is None else r + b for r, b in zip(inputs["rate"], inputs["bonus"])]}


ranking = FeatureService(name="ranking", features=[stats, boosted],
                         logging_config=LoggingConfig(destination=FileLoggingDestination(path="logs")))
'''


def test_request_fields_and_on_demand_features_are_logged(repo_factory):
    from featurestore.online.base import OnlineRow
    from featurestore.online.codec import encode_value, serialize_entity_key

    store = FeatureStore(repo_factory(ON_DEMAND_REPO, project="odfv_log"))
    store.apply(None, partial=False, validate=False)
    store.online_store.online_write_batch(store.project, store.get_feature_view("stats"), [
        OnlineRow(serialize_entity_key(["driver_id"], [1], [Int64]), {"rate": encode_value(0.5, Float64)}, NOW_US, 0)])
    service = store.get_feature_service("ranking")
    store.get_online_features(features=service, entity_rows=[{"driver_id": 1, "bonus": 2.0},
                                                             {"driver_id": 4, "bonus": 1.0}])
    assert feature_logging.flush()
    assert [(r["driver_id"], r["bonus"], r["stats__rate"], r["boosted__boosted"], r["boosted__boosted__status"],
             r["boosted__boosted__timestamp"]) for r in logged(store)] == [(1, 2.0, 0.5, 2.5, 1, None),
                                                                          (4, 1.0, None, None, 2, None)]


def test_a_delta_table_destination_is_appended_to_and_named_for_the_catalog(request, tmp_path):
    store = make_repo(request, tmp_path, DeltaLoggingDestination(table_name="ranking_log"))
    service = store.get_feature_service("ranking")
    for _ in range(3):
        store.get_online_features(features=service, entity_rows=[{"driver_id": 1}])
        assert feature_logging.flush()  # one commit each
    assert [(r["driver_id"], r["stats__rate"]) for r in logged(store)] == [(1, 0.5)] * 3
    from deltalake import DeltaTable

    from featurestore.runtime import unregistered_tables

    assert DeltaTable(str(store.config.warehouse_dir / "ranking_log")).version() == 2
    assert unregistered_tables.pending(store.config.warehouse_dir) == ["ranking_log"]


def test_sampling_logs_about_the_rate(request, tmp_path):
    store = make_repo(request, tmp_path, FileLoggingDestination(path="logs"), sample_rate=0.25)
    service = store.get_feature_service("ranking")
    for _ in range(2000):
        store.get_online_features(features=service, entity_rows=[{"driver_id": 1}])
    assert feature_logging.flush()
    assert 400 <= len(logged(store)) <= 600  # binomial(2000, 0.25): 500 +- 4.6 standard deviations


def test_logging_settings_are_checked_and_kept_in_the_registry():
    with pytest.raises(DefinitionError, match=r"sample_rate must be in \(0, 1\], got 0"):
        LoggingConfig(destination=FileLoggingDestination(path="x"), sample_rate=0)
    with pytest.raises(DefinitionError, match=r"max_mismatch_rate must be in \[0, 1\]"):
        LoggingConfig(destination=FileLoggingDestination(path="x"), max_mismatch_rate=2)
    with pytest.raises(DefinitionError, match="table_name must be a plain table name"):
        DeltaLoggingDestination(table_name="db.t; DROP")
    for destination in (FileLoggingDestination(path="logs"), DeltaLoggingDestination(table_name="ranking_log")):
        service = FeatureService(name="s", features=[STATS], logging_config=LoggingConfig(
            destination=destination, sample_rate=0.5, max_mismatch_rate=0.0))
        again = FeatureService.from_proto(service.to_proto())
        assert repr(again.logging_config) == repr(service.logging_config)


def test_two_server_workers_log_every_request(request, tmp_path):
    store = make_repo(request, tmp_path, FileLoggingDestination(path="logs"))
    process, port = start_serving(store.repo_path, "--workers", "2")
    try:
        def one(i: int):
            body = {"entities": {"driver_id": [1 + i % 4, 1]}, "feature_service": "ranking"}
            return ask(port, "POST", "/get-online-features", body)[0]

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(one, range(400))) == [200] * 400
        assert len(children_of(process.pid)) == 2
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    rows = logged(store)
    assert len(rows) == 800
    by_request: dict[str, list] = {}
    for r in rows:
        by_request.setdefault(r["__request_id"], []).append((r["driver_id"], r["stats__rate"], r["stats__rate__status"]))
    expected = {1: (1, 0.5, 1), 2: (2, None, 2), 3: (3, None, 4), 4: (4, None, 3)}
    assert sorted(tuple(v) for v in by_request.values()) == sorted(
        (expected[1 + i % 4], expected[1]) for i in range(400))
    writers = {r["__request_id"].split("-")[0] for r in rows}
    assert len(writers) == 2  # each worker logged through its own writer


def test_a_failing_destination_drops_log_rows_never_a_request(request, tmp_path):
    (tmp_path / "not_a_folder").write_text("a file where the log folder should be")
    store = make_repo(request, tmp_path, FileLoggingDestination(path=str(tmp_path / "not_a_folder")))
    process, port = start_serving(store.repo_path)
    try:
        body = {"entities": {"driver_id": [1]}, "feature_service": "ranking"}
        assert [ask(port, "POST", "/get-online-features", body)[0] for _ in range(50)] == [200] * 50
        metrics = ""
        for _ in range(100):  # the writer reports within its write interval
            metrics = ask(port, "GET", "/metrics")[1]
            if 'featurestore_feature_log_rows_total{outcome="dropped"} 50' in metrics:
                break
            subprocess.run(["sleep", "0.1"])
        assert 'featurestore_feature_log_rows_total{outcome="logged"} 50' in metrics
        assert 'featurestore_feature_log_rows_total{outcome="dropped"} 50' in metrics
        assert 'featurestore_feature_log_rows_total{outcome="written"} 0' in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert err.count("featurestore: feature logging: could not write 50 log rows of service 'ranking'") == 1


def test_a_process_that_exits_writes_what_it_logged(request, tmp_path):
    """No flush() called: the logger's exit hook hands everything over and waits for the writer."""
    store = make_repo(request, tmp_path, FileLoggingDestination(path="logs"))
    script = textwrap.dedent(f"""
        from featurestore.store import FeatureStore
        store = FeatureStore({str(store.repo_path)!r})
        service = store.get_feature_service("ranking")
        for _ in range(1000):
            store.get_online_features(features=service, entity_rows=[{{"driver_id": 1}}])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(logged(store)) == 1000
    assert json.loads(json.dumps(logged(store)[0]["stats__rate"])) == 0.5


def test_every_type_is_logged_as_served(request, tmp_path):
    """Timestamps (which take the pickled path), lists, bytes, NaN: the log holds what was served."""
    import math

    from tests.online_helpers import ALL_TYPES

    store = make_repo(request, tmp_path, FileLoggingDestination(path="logs"))
    service = FeatureService(name="everything", features=[ALL_TYPES], logging_config=LoggingConfig(
        destination=FileLoggingDestination(path="logs_all")))

    def put(state: RegistryState) -> None:
        state.feature_views[ALL_TYPES.name] = ALL_TYPES
        state.feature_services[service.name] = service

    store.registry_store.update(put)
    store.online_store.update(PROJECT, [ALL_TYPES], [])
    now = datetime.fromtimestamp(NOW_US / 1e6, tz=UTC)
    values = {"i32": -7, "i64": 2 ** 40, "f32": 0.5, "f64": math.nan, "s": "x\u00e9", "b": True, "raw": b"\x00\xff",
              "ts": now, "i32_list": [1, 2], "i64_list": [3], "f32_list": [0.5], "f64_list": [math.inf],
              "s_list": ["a", "b"], "b_list": [False], "raw_list": [b"ab"], "ts_list": [now]}
    store.online_store.online_write_flat(PROJECT, ALL_TYPES, [row(ALL_TYPES, 1, values, NOW_US)])
    served = store.get_online_features(features=store.get_feature_service("everything"),
                                       entity_rows=[{"driver_id": 1}]).to_dict()
    assert feature_logging.flush()
    table = logged_rows_without_spark(destination_of(store.config, store.get_feature_service("everything")
                                                     .logging_config))
    logged_row = table.to_pylist()[0]
    for name, value in values.items():
        got = logged_row[f"all_types__{name}"]
        if name == "f64":
            assert math.isnan(got) and math.isnan(served[name][0])
        else:
            assert got == served[name][0] == value, name
        assert logged_row[f"all_types__{name}__status"] == 1


def test_a_killed_writer_is_replaced_and_logging_goes_on(request, tmp_path):
    import os

    from featurestore.feature_logging.logger import logger

    store = make_repo(request, tmp_path, FileLoggingDestination(path="logs"))
    service = store.get_feature_service("ranking")
    store.get_online_features(features=service, entity_rows=[{"driver_id": 1}])
    assert feature_logging.flush()
    first = logger()._writer
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    for _ in range(3):
        store.get_online_features(features=service, entity_rows=[{"driver_id": 2}])
    assert feature_logging.flush()  # the hand-over found the writer dead and started another
    assert logger()._writer.pid != first.pid
    assert [r["driver_id"] for r in logged(store)] == [1, 2, 2, 2]
