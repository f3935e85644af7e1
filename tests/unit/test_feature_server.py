"""featurestore serve (featurestore.serving): Feast's endpoints over a real server on a free
loopback port, on SQLite and Redis, no JVM (the registry is written directly, the online
values through the store's one write path). Exact JSON, every status, every error class."""
from __future__ import annotations

import base64
import http.client
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from featurestore import FeatureService, FeatureView, Field, PushSource
from featurestore.errors import ValidationError
from featurestore.online.read import get_online_features
from featurestore.registry import RegistryState
from featurestore.serving.server import FeatureServer
from featurestore.store import FeatureStore
from featurestore.testing.repos import write_repo
from featurestore.types import Float64, Int64
from tests.http_helpers import parsed
from tests.online_helpers import ALL_TYPES, DRIVER, PROJECT, SOURCE, row
from tests.repo_helpers import online_store_section

NOW = datetime.now(UTC).replace(microsecond=0)
NOW_US = int(NOW.timestamp() * 1_000_000)
HOUR_US = 3_600_000_000
PUSH = PushSource(name="stats_push", batch_source=SOURCE)
STATS = FeatureView(name="stats", entities=[DRIVER], source=PUSH, ttl=timedelta(days=1), schema=[
    Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64), Field(name="trips", dtype=Int64)])
RANKING = FeatureService(name="ranking", features=[STATS[["rate"]]])


def iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, tz=UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(params=["sqlite", "redis"])
def served(request, tmp_path):
    write_repo(tmp_path / "repo", project=PROJECT, online_store=online_store_section(request, request.param))
    store = FeatureStore(tmp_path / "repo")

    def put(state: RegistryState) -> None:
        state.entities[DRIVER.name] = DRIVER
        state.data_sources[SOURCE.name] = SOURCE
        state.feature_views.update({STATS.name: STATS, ALL_TYPES.name: ALL_TYPES})
        state.feature_services[RANKING.name] = RANKING

    store.registry_store.update(put)
    store.online_store.update(PROJECT, [STATS, ALL_TYPES], [])
    store.online_store.online_write_flat(PROJECT, STATS, [
        row(STATS, 1, {"rate": 0.5, "trips": 5}, NOW_US - HOUR_US),
        row(STATS, 2, {"rate": None, "trips": 7}, NOW_US - HOUR_US),  # a stored null
        row(STATS, 3, {"rate": 0.25, "trips": 3}, NOW_US - 30 * HOUR_US)])  # older than the 1-day ttl
    server = FeatureServer(store, port=0, max_rows=50, max_body_bytes=20_000).start()
    yield store, server
    server.stop()
    store.online_store.close()


def call(server, method: str, path: str, body=None, raw: bytes | None = None):
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    connection.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    kind = response.getheader("Content-Type")
    return response.status, (parsed(payload) if kind == "application/json" else payload.decode())


def test_get_online_features_answers_feasts_json_with_every_status(served):
    _, server = served
    status, body = call(server, "POST", "/get-online-features", {
        "entities": {"driver_id": [1, 2, 3, 4]}, "features": ["stats:rate", "stats:trips"]})
    epoch = "1970-01-01T00:00:00Z"
    assert status == 200 and body == {
        "metadata": {"feature_names": ["driver_id", "rate", "trips"]},
        "results": [
            {"values": [1, 2, 3, 4], "statuses": ["PRESENT"] * 4, "event_timestamps": [epoch] * 4},
            {"values": [0.5, None, None, None], "statuses": ["PRESENT", "NULL_VALUE", "OUTSIDE_MAX_AGE", "NOT_FOUND"],
             "event_timestamps": [iso(NOW_US - HOUR_US), iso(NOW_US - HOUR_US), iso(NOW_US - 30 * HOUR_US), epoch]},
            {"values": [5, 7, None, None], "statuses": ["PRESENT", "PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"],
             "event_timestamps": [iso(NOW_US - HOUR_US), iso(NOW_US - HOUR_US), iso(NOW_US - 30 * HOUR_US), epoch]},
        ]}


def test_a_feature_service_and_full_feature_names(served):
    _, server = served
    status, body = call(server, "POST", "/get-online-features", {
        "entities": {"driver_id": [1]}, "feature_service": "ranking", "full_feature_names": True})
    assert status == 200 and body["metadata"]["feature_names"] == ["driver_id", "stats__rate"]
    assert body["results"][1]["values"] == [0.5]


def test_every_type_is_served_as_get_online_features_returns_it(served):
    store, _ = served
    values = {"i32": -7, "i64": 2 ** 40, "f32": 0.1, "f64": math.nan, "s": "x\u00e9", "b": True, "raw": b"\x00\xff",
              "ts": NOW, "i32_list": [1, 2], "i64_list": [3], "f32_list": [0.5], "f64_list": [math.inf],
              "s_list": ["a", "b"], "b_list": [False], "raw_list": [b"ab"], "ts_list": [NOW]}
    store.online_store.online_write_flat(PROJECT, ALL_TYPES, [row(ALL_TYPES, 1, values, NOW_US)])
    refs = [f"all_types:{name}" for name in values]
    expected = get_online_features(store.registry, store.online_store, PROJECT, refs, [{"driver_id": 1}]).to_dict()
    status, body = call(served[1], "POST", "/get-online-features", {"entities": {"driver_id": [1]}, "features": refs})
    served_values = {name: result["values"][0] for name, result in zip(body["metadata"]["feature_names"],
                                                                        body["results"])}
    assert status == 200

    def as_json(value):
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, datetime):
            micros = round(value.timestamp() * 1e6)  # epoch seconds, as Feast's server sends them
            return micros // 1_000_000 if micros % 1_000_000 == 0 else micros / 1_000_000
        if isinstance(value, float) and not math.isfinite(value):
            return "NaN" if math.isnan(value) else "Infinity"
        if isinstance(value, list):
            return [as_json(v) for v in value]
        return value
    assert served_values == {name: as_json(column[0]) for name, column in expected.items()}


@pytest.mark.parametrize("path, body, status, feast_class, message", [
    ("/get-online-features", {"entities": {"driver_id": [1]}, "features": ["nope:rate"]}, 404,
     "FeatureViewNotFoundException", "feature reference 'nope:rate': no feature view 'nope'"),
    ("/get-online-features", {"entities": {"driver_id": [1]}, "feature_service": "nope"}, 404,
     "FeatureServiceNotFoundException", "no feature service named 'nope'"),
    ("/get-online-features", {"entities": {"trip_id": [1]}, "features": ["stats:rate"]}, 422, "FeastError",
     "lacks join key 'driver_id' of feature view 'stats'"),
    ("/get-online-features", {"entities": {"driver_id": ["one"]}, "features": ["stats:rate"]}, 422, "FeastError",
     "join key 'driver_id' must be Int64: 'one' (str) is not an integer"),
    ("/get-online-features", {"entities": {"driver_id": list(range(51))}, "features": ["stats:rate"]}, 413,
     "FeastError", "51 rows exceed this server's limit of 50 per request"),
    ("/get-online-features", {"entities": {"driver_id": [1, 2], "x": [1]}, "features": ["stats:rate"]}, 400,
     "FeastError", "the lists of 'entities' have different lengths"),
    ("/get-online-features", {"entities": {"driver_id": [1]}}, 400, "FeastError", "give either 'features'"),
    ("/get-online-features", [1, 2], 400, "FeastError", "the body must be a JSON object, got list"),
    ("/push", {"push_source_name": "stats_push", "df": {"driver_id": [1]}, "to": "offline"}, 422, "FeastError",
     "this server writes online only, got to='offline'"),
    ("/push", {"push_source_name": "nope", "df": {"driver_id": [1]}}, 422, "FeastError",
     "no feature view reads push source 'nope'"),
    ("/write-to-online-store", {"feature_view_name": "nope", "df": {"driver_id": [1]}}, 404,
     "FeatureViewNotFoundException", "no feature view named 'nope'"),
])
def test_a_bad_request_gets_a_4xx_json_error_saying_what_and_where(served, path, body, status, feast_class, message):
    answer, payload = call(served[1], "POST", path, body)
    assert answer == status and payload["error"]["status"] == status
    assert (payload["error"]["module"], payload["error"]["class"]) == ("feast.errors", feast_class)
    assert message in payload["error"]["message"], payload


def test_an_error_is_sent_as_feasts_server_sends_it(served):
    """A JSON string holding the object: what Feast's clients parse (FeastError.from_error_detail)."""
    connection = http.client.HTTPConnection(*served[1].server_address[:2], timeout=10)
    connection.request("POST", "/get-online-features", body=json.dumps(
        {"entities": {"driver_id": [1]}, "feature_service": "nope"}).encode())
    response = connection.getresponse()
    assert (response.status, response.getheader("Content-Type")) == (404, "application/json")
    detail = json.loads(json.loads(response.read()))
    connection.close()
    assert detail == {"module": "feast.errors", "class": "FeatureServiceNotFoundException", "status": 404,
                      "message": "no feature service named 'nope' in project 'proj'."}


def test_malformed_json_large_bodies_unknown_paths_and_methods(served):
    server = served[1]
    assert call(server, "POST", "/get-online-features", raw=b"{bad")[0] == 400
    status, payload = call(server, "POST", "/push", raw=b"x" * 20_001)
    assert status == 413 and "exceeds this server's limit of 20,000" in payload["error"]["message"]
    assert call(server, "GET", "/nope")[0] == 404
    assert call(server, "GET", "/get-online-features")[0] == 405
    assert call(server, "POST", "/health", {})[0] == 405


def test_push_and_write_are_checked_whole_then_newest_wins(served):
    store, server = served
    later, earlier = iso(NOW_US), iso(NOW_US - 2 * HOUR_US)
    status, body = call(server, "POST", "/push", {"push_source_name": "stats_push", "df": {
        "driver_id": [1, 4], "event_timestamp": [later, later], "rate": [0.9, 0.4], "trips": [9, 4]}})
    assert (status, body) == (200, {"rows": 2, "written": {"stats": 2}})
    status, body = call(server, "POST", "/write-to-online-store", {"feature_view_name": "stats", "df": {
        "driver_id": [1], "event_timestamp": [earlier], "rate": [0.1], "trips": [1]}})
    assert (status, body) == (200, {"rows": 1, "written": {"stats": 0}})  # older than what is stored
    status, body = call(server, "POST", "/push", {"push_source_name": "stats_push", "df": {
        "driver_id": [5, 6], "event_timestamp": [later, "yesterday"], "rate": [0.5, 0.6], "trips": [5, 6]}})
    assert status == 422 and "row 1: column 'event_timestamp' holds 'yesterday'" in body["error"]["message"]
    status, body = call(server, "POST", "/push", {"push_source_name": "stats_push", "df": {
        "driver_id": [5, 6], "event_timestamp": [later, later], "rate": [0.5, "fast"], "trips": [5, 6]}})
    assert status == 422 and body["error"]["message"].startswith("push to 'stats_push': row 1 (a feature)")
    answer = get_online_features(store.registry, store.online_store, PROJECT, ["stats:rate"],
                                 [{"driver_id": d} for d in (1, 4, 5)]).to_dict()
    assert answer["rate"] == [0.9, 0.4, None]  # nothing of the refused batches was written


def test_an_unreachable_store_gives_503_and_the_server_keeps_serving(served, tmp_path):
    store, server = served
    assert call(server, "GET", "/ready") == (200, {"status": "ready"})
    broken = store.online_store
    if type(broken).__name__ == "SqliteOnlineStore":
        broken.close()
        os.rename(broken.path, tmp_path / "moved.db")
    else:
        broken.config = type(broken.config)(host="127.0.0.1", port=1, socket_timeout_seconds=0.5)
        broken._client = None
    status, payload = call(server, "GET", "/ready")
    assert status == 503 and payload["status"] == "unavailable"
    status, payload = call(server, "POST", "/get-online-features", {"entities": {"driver_id": [1]},
                                                                     "features": ["stats:rate"]})
    assert status == 503 and payload["error"]["message"].startswith("the online store failed: ")
    assert call(server, "GET", "/health") == (200, {"status": "ok"})


def test_metrics_count_requests_latency_and_store_time(served):
    server = served[1]
    call(server, "POST", "/get-online-features", {"entities": {"driver_id": [1]}, "features": ["stats:rate"]})
    call(server, "GET", "/nope")
    status, text = call(server, "GET", "/metrics")
    assert status == 200
    assert 'featurestore_requests_total{endpoint="/get-online-features",status="200"} 1' in text
    assert 'featurestore_requests_total{endpoint="other",status="404"} 1' in text
    assert 'featurestore_request_seconds_count{endpoint="/get-online-features"} 1' in text
    assert 'featurestore_online_store_seconds_count{operation="read"} 1' in text


def test_a_registry_change_is_served_without_a_restart(served):
    """Every worker checks the registry on each request: a view registered (or removed) while
    the server runs is served (or refused) at once."""
    store, _ = served
    process, port = start_serving(store.repo_path, "--workers", "2")
    try:
        body = {"entities": {"driver_id": [1]}, "features": ["renamed:rate"]}
        assert ask(port, "POST", "/get-online-features", body)[0] == 404
        renamed = FeatureView(name="renamed", entities=[DRIVER], source=SOURCE, ttl=timedelta(days=1),
                              schema=STATS.schema)
        store.registry_store.update(lambda state: state.feature_views.__setitem__("renamed", renamed))
        store.online_store.update(PROJECT, [renamed], [])
        store.online_store.online_write_flat(PROJECT, renamed, [row(renamed, 1, {"rate": 0.75, "trips": 2},
                                                                    NOW_US - HOUR_US)])
        for _ in range(6):  # both workers, on fresh connections
            status, answer = ask(port, "POST", "/get-online-features", body)
            assert (status, answer["results"][1]["values"]) == (200, [0.75])
        store.registry_store.update(lambda state: state.feature_views.pop("renamed"))
        for _ in range(6):
            status, answer = ask(port, "POST", "/get-online-features", body)
            assert status == 404 and "no feature view 'renamed'" in answer["error"]["message"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


def test_a_load_of_concurrent_clients_gets_no_error(served):
    server = served[1]
    body = {"entities": {"driver_id": [1, 2, 3]}, "features": ["stats:rate", "stats:trips"]}

    def client(_):
        connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)  # keep-alive
        statuses = []
        for _ in range(100):
            connection.request("POST", "/get-online-features", body=json.dumps(body).encode(),
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        connection.close()
        return statuses

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for batch in pool.map(client, range(8)) for s in batch]
    assert statuses == [200] * 800


def test_serve_runs_on_loopback_and_stops_gracefully_on_sigterm(served):
    store, _ = served
    process = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "serve", "--port", "0", "--repo",
                                str(store.repo_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("Serving feature repo ") and " at http://127.0.0.1:" in line, process.stderr.read()
        host, port = line.rsplit("http://", 1)[1].strip().split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        connection.request("GET", "/health")
        assert connection.getresponse().status == 200
        connection.close()
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0 and time.monotonic() - started < 10
        assert process.stdout.read() == "Stopped: requests in flight finished.\n"
    finally:
        if process.poll() is None:
            process.kill()


def start_serving(repo, *options, env=None):
    """`featurestore serve` in a subprocess on a free port: (process, port)."""
    process = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "serve", "--port", "0", *options, "--repo",
                                str(repo)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    assert " at http://127.0.0.1:" in line, process.stderr.read()
    return process, int(line.rsplit(":", 1)[1])


def ask(port: int, method: str, path: str, body=None, headers=None):
    """One request on its own connection (so the kernel may hand it to any worker)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=None if body is None else json.dumps(body).encode(), headers=headers or {})
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, (parsed(payload) if response.getheader("Content-Type") == "application/json"
                             else payload.decode())


def children_of(pid: int) -> list[int]:
    return [int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()]


def test_workers_share_the_port_and_the_metrics_and_a_dead_worker_is_replaced(served):
    store, _ = served
    process, port = start_serving(store.repo_path, "--workers", "2")
    try:
        body = {"entities": {"driver_id": [1]}, "features": ["stats:rate"]}
        assert [ask(port, "POST", "/get-online-features", body)[0] for _ in range(40)] == [200] * 40
        workers = children_of(process.pid)
        assert len(workers) == 2
        for _ in range(3):  # any worker answers with the sum over both
            text = ask(port, "GET", "/metrics")[1]
            assert 'featurestore_requests_total{endpoint="/get-online-features",status="200"} 40' in text
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (len(children_of(process.pid)) < 2 or workers[0] in children_of(process.pid)) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(children_of(process.pid)) == 2
        assert [ask(port, "POST", "/get-online-features", body)[0] for _ in range(20)] == [200] * 20
        text = ask(port, "GET", "/metrics")[1]  # the new worker counts on in the dead one's slot
        assert 'featurestore_requests_total{endpoint="/get-online-features",status="200"} 60' in text
    finally:
        process.send_signal(signal.SIGTERM)
        output, errors = process.communicate(timeout=20)
    assert process.returncode == 0, errors
    assert f"worker 0 (pid {workers[0]}) exited (killed by SIGKILL); starting another" in errors
    assert output == "Stopped: requests in flight finished.\n"


def test_sigterm_lets_a_request_in_flight_finish(served):
    store, _ = served
    process, port = start_serving(store.repo_path, "--workers", "2")
    try:
        body = json.dumps({"entities": {"driver_id": [1]}, "features": ["stats:rate"]}).encode()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.putrequest("POST", "/get-online-features")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body[:10])  # the request has begun: headers and part of its body
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert process.poll() is None  # still waiting for the request in flight
        connection.send(body[10:])
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())["results"][1]["values"]) == (200, [0.5])
        assert response.getheader("Connection") == "close"
        assert process.wait(timeout=15) == 0
        with pytest.raises(ConnectionRefusedError):
            ask(port, "GET", "/health")
    finally:
        if process.poll() is None:
            process.kill()


def test_the_api_key_variable_and_workers_come_from_feature_store_yaml(served):
    store, _ = served
    with open(store.repo_path / "feature_store.yaml", "a") as config:
        config.write("serve:\n  workers: 2\n  api_key_env: FS_YAML_KEY\n")
    process = subprocess.run([sys.executable, "-m", "featurestore.cli", "serve", "--port", "0", "--repo",
                              str(store.repo_path)], capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items() if k != "FS_YAML_KEY"})
    assert process.returncode != 0
    assert "serve.api_key_env names 'FS_YAML_KEY', which is not set or empty; export FS_YAML_KEY=" in process.stderr
    process, port = start_serving(store.repo_path, env=dict(os.environ, FS_YAML_KEY="from-yaml-key"))
    try:
        assert ask(port, "GET", "/health")[0] == 200  # liveness needs no key
        assert ask(port, "GET", "/ready")[0] == 401
        assert ask(port, "GET", "/ready", headers={"Authorization": "Bearer from-yaml-key"})[0] == 200
        assert len(children_of(process.pid)) == 2
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=20)
    assert "from-yaml-key" not in errors


def test_on_demand_features_are_computed_per_request_as_get_online_features_computes_them(online_config,
                                                                                         repo_factory):
    from tests.unit.test_on_demand_online import DEFINITIONS, write_stats

    repo = repo_factory(DEFINITIONS, online_store=online_config, project="odfv")
    store = FeatureStore(repo)
    store.apply(None, partial=False, validate=False)
    write_stats(store, {1001: (0.5, 0.75), 1002: (0.25, 0.125)})
    server = FeatureServer(store, port=0).start()
    try:
        refs = ["transformed_conv_rate:conv_rate_plus_val", "rates:label", "stats:acc_rate"]
        rows = {"driver_id": [1001, 1002, 9999], "val_to_add": [2, 10, 1]}
        status, body = call(server, "POST", "/get-online-features", {"entities": rows, "features": refs})
        expected = store.get_online_features(refs, [{"driver_id": d, "val_to_add": v}
                                                    for d, v in zip(rows["driver_id"], rows["val_to_add"])])
        assert status == 200
        assert {n: r["values"] for n, r in zip(body["metadata"]["feature_names"], body["results"])} == \
            expected.to_dict()
        statuses = {n: r["statuses"] for n, r in zip(body["metadata"]["feature_names"], body["results"])}
        assert statuses["conv_rate_plus_val"] == ["PRESENT", "PRESENT", "NULL_VALUE"]
        assert statuses["acc_rate"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
        status, body = call(server, "POST", "/get-online-features", {"entities": {"driver_id": [1001]},
                                                                     "features": refs})
        assert status == 422 and "lacks request field 'val_to_add'" in body["error"]["message"]
    finally:
        server.stop()


def test_an_api_key_is_required_when_configured_and_never_logged(served, monkeypatch):
    store, _ = served
    monkeypatch.setenv("FS_TEST_API_KEY", "s3cret-key")
    process = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "serve", "--port", "0", "--access-log",
                                "--host", "0.0.0.0", "--api-key-env", "FS_TEST_API_KEY", "--repo",
                                str(store.repo_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline().rsplit(":", 1)[1])

        def ask(headers):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("POST", "/get-online-features", body=json.dumps(
                {"entities": {"driver_id": [1]}, "features": ["stats:rate"]}).encode(), headers=headers)
            response = connection.getresponse()
            return response.status, parsed(response.read())

        status, body = ask({})
        assert status == 401 and "Authorization: Bearer <key>" in body["error"]["message"]
        assert ask({"Authorization": "Bearer wrong"})[0] == 401
        assert ask({"Authorization": "Bearer s3cret-key"})[0] == 200
        assert ask({"Authorization": "bearer s3cret-key"})[0] == 200  # the scheme is case-insensitive
        assert ask({"Authorization": "Basic s3cret-key"})[0] == 401
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=15)
    assert "s3cret-key" not in errors
    assert errors.count("POST /get-online-features") == 5  # the access log: method, path, status, time
    assert "warning: serving on 0.0.0.0" not in errors  # a key is configured


def test_serving_beyond_loopback_without_a_key_warns(served):
    store, _ = served
    process = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "serve", "--port", "0", "--host", "0.0.0.0",
                                "--repo", str(store.repo_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    process.stdout.readline()
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=15)
    assert errors.startswith("warning: serving on 0.0.0.0, beyond this machine, with no API key")


def test_the_server_never_starts_a_jvm(served):
    store, _ = served
    code = ("import sys, threading, json, http.client\n"
            "from featurestore.store import FeatureStore\n"
            "from featurestore.serving.server import FeatureServer\n"
            "server = FeatureServer(FeatureStore(sys.argv[1]), port=0).start()\n"
            "c = http.client.HTTPConnection(*server.server_address[:2])\n"
            "c.request('POST', '/get-online-features', body=json.dumps({'entities': {'driver_id': [1]}, "
            "'features': ['stats:rate']}), headers={'Content-Type': 'application/json'})\n"
            "print(c.getresponse().status, sorted(m for m in sys.modules if m.startswith(('pyspark', 'py4j'))))\n"
            "server.stop()\n")
    result = subprocess.run([sys.executable, "-c", code, str(store.repo_path)], capture_output=True, text=True)
    assert result.stdout == "200 []\n", result.stderr


def test_the_plain_urllib_example_client_reads_what_the_server_serves(served):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent.parent / "examples" / "feature_server_client.py"
    spec = importlib.util.spec_from_file_location("feature_server_client", path)
    client_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client_module)
    store, server = served
    url = server.url
    assert client_module.get_online_features(url, {"driver_id": [1, 4]}, ["stats:rate", "stats:trips"]) == \
        {"driver_id": [1, 4], "rate": [0.5, None], "trips": [5, None]}
    remote = client_module.ServerStore(url)
    local = store.get_online_features(store.get_feature_service("ranking"), [{"driver_id": 1}]).to_dict()
    assert remote.get_online_features(remote.get_feature_service("ranking"), [{"driver_id": 1}]).to_dict() == local
    with pytest.raises(RuntimeError, match="no feature view 'nope'"):
        client_module.get_online_features(url, {"driver_id": [1]}, ["nope:x"])


def test_client_mistakes_that_used_to_be_500s_are_400s(served):
    _, server = served
    deep = b'{"entities": ' + b"[" * 3_000 + b"]" * 3_000 + b"}"  # within the fixture's limits
    status, body = call(server, "POST", "/get-online-features", raw=deep)
    assert status == 400 and body["error"]["message"] == "the body nests arrays or objects too deeply to be a request"
    lone = b'{"entities": {"driver_id": ["\\ud800"]}, "features": ["stats:rate"]}'
    status, body = call(server, "POST", "/get-online-features", raw=lone)
    assert status == 400 and "lone UTF-16 surrogate" in body["error"]["message"]
    pair = b'{"entities": {"driver_id": [1]}, "features": ["stats:rate"], "x": "\\ud83d\\ude00"}'
    assert call(server, "POST", "/get-online-features", raw=pair)[0] == 200  # a pair is a character


def test_head_answers_as_get_without_a_body(served):
    _, server = served
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    connection.request("HEAD", "/health")
    response = connection.getresponse()
    assert response.status == 200 and response.read() == b"" and int(response.getheader("Content-Length")) > 0
    connection.close()


def test_the_access_log_escapes_what_the_client_sent():
    from featurestore.serving.app import printable

    assert printable("/x\nPOST /push 200 0.12 ms") == "/x\\x0aPOST /push 200 0.12 ms"
    assert printable("/a\x00b\u00e9\ud800") == "/a\\x00b\\xe9\\ud800"
    assert printable("/get-online-features") == "/get-online-features"


def test_a_push_to_offline_only_views_is_refused_as_the_python_api_refuses_it(served):
    """It answered 200 {"written": {}}; the Python API refused it: one rule (featurestore.push.checked)."""
    store, server = served
    offline_only = FeatureView(name="stats_archive", entities=[DRIVER], source=PushSource(
        name="archive_push", batch_source=SOURCE), online=False, ttl=timedelta(days=1), schema=STATS.schema)
    store.registry_store.update(lambda state: state.feature_views.__setitem__("stats_archive", offline_only))
    rows = {"driver_id": [1], "event_timestamp": [iso(NOW_US)], "rate": [0.9], "trips": [9]}
    status, body = call(server, "POST", "/push", {"push_source_name": "archive_push", "df": rows})
    message = "push to 'archive_push': its feature views stats_archive are offline (online=False); push to='offline'"
    assert (status, body["error"]["message"]) == (422, message)
    with pytest.raises(ValidationError, match=re.escape(message)):
        store.push("archive_push", {**rows, "event_timestamp": [NOW]})


def test_a_body_of_many_small_arrays_is_refused_before_it_is_parsed(served):
    _, server = served
    status, body = call(server, "POST", "/push", raw=b"[" + b"[]," * 5_000 + b"[]]")
    assert status == 413 and "arrays and objects, more than a request of 50 rows" in body["error"]["message"]


def test_sigterm_under_keep_alive_load_resets_nothing(served):
    """Clients on kept-alive connections, reading as fast as they can, while the server is
    told to stop: every request sent on an open connection is answered (the last ones with
    Connection: close); none is reset. 9 of 13,500 were before the drain."""
    import threading

    store, _ = served
    process, port = start_serving(store.repo_path, "--workers", "2")
    body = json.dumps({"entities": {"driver_id": [1]}, "features": ["stats:rate"]}).encode()
    answered, resets, stop = [0], [], threading.Event()

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while not stop.is_set():
            try:
                connection.request("POST", "/get-online-features", body=body,
                                   headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
            except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError) as error:
                resets.append(repr(error))
                return
            answered[0] += 1
            if response.getheader("Connection") == "close":
                return  # the server is stopping: this client would go elsewhere
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert answered[0] > 100 and resets == [], (answered[0], resets)


def test_a_corrupt_or_deleted_registry_is_the_servers_fault_and_flips_ready(served):
    """It was answered 422 (the client's fault) while /ready stayed 200."""
    store, server = served
    registry = store.repo_path / "data" / "registry.db"
    good = registry.read_bytes()
    request = {"entities": {"driver_id": [1]}, "features": ["stats:rate"]}
    try:
        registry.write_bytes(b"not a registry")
        status, body = call(server, "POST", "/get-online-features", request)
        assert status == 503 and body["error"]["message"].startswith("the registry cannot be read")
        assert call(server, "GET", "/ready")[0] == 503
        registry.unlink()
        status, body = call(server, "POST", "/get-online-features", request)
        assert status == 503 and "no longer exists (deleted or moved while serving)" in body["error"]["message"]
        assert call(server, "GET", "/ready")[0] == 503
    finally:
        registry.write_bytes(good)
    assert call(server, "GET", "/ready")[0] == 200
    assert call(server, "POST", "/get-online-features", request)[0] == 200


def test_a_redis_that_lost_its_data_is_not_ready_and_the_registry_forgets_what_it_claimed(clean_redis, tmp_path):
    """After a Redis restart without persistence, /ready said 200, values were NOT_FOUND, and
    materialize-incremental wrote nothing (the registry still recorded the intervals)."""
    from featurestore.materialize import forget_intervals, lost_data, record_interval
    from featurestore.testing.repos import redis_online_store

    repo = write_repo(tmp_path / "repo", project=PROJECT,
                      online_store=redis_online_store(clean_redis.host, clean_redis.port))
    store = FeatureStore(repo)
    store.registry_store.update(lambda state: (state.entities.__setitem__(DRIVER.name, DRIVER),
                                               state.data_sources.__setitem__(SOURCE.name, SOURCE),
                                               state.feature_views.__setitem__(STATS.name, STATS)))
    store.online_store.mark_holding(PROJECT)  # as materialization does before it writes
    store.online_store.online_write_flat(PROJECT, STATS, [row(STATS, 1, {"rate": 0.5, "trips": 5}, NOW_US)])
    record_interval(store.registry_store, "stats", NOW - timedelta(days=1), NOW)
    server = FeatureServer(store, port=0).start()
    try:
        assert call(server, "GET", "/ready") == (200, {"status": "ready"})
        clean_redis.flushall()  # what a restart without persistence leaves
        status, body = call(server, "GET", "/ready")
        assert status == 503 and "lost what was materialized into it" in body["error"]["message"]
        assert lost_data(store.context, store.list_feature_views())
        assert forget_intervals(store.registry_store, "test") == ["stats"]
        assert store.get_feature_view("stats").materialization_intervals == []
        assert not lost_data(store.context, store.list_feature_views())  # the registry claims nothing now
        assert call(server, "GET", "/ready")[0] == 200
    finally:
        server.stop()


def test_an_unexpected_server_fault_is_a_json_500_and_flips_ready_until_a_request_succeeds(served, monkeypatch):
    from featurestore.serving import api

    _, server = served
    request = {"entities": {"driver_id": [1]}, "features": ["stats:rate"]}
    real = api._read

    def broken(*args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(api, "_read", broken)
    status, body = call(server, "POST", "/get-online-features", request)
    assert (status, body["error"]["message"]) == (500, "unexpected ZeroDivisionError; see the server's log")
    status, body = call(server, "GET", "/ready")
    assert status == 503 and body["error"]["message"] == ("the last request failed on the server: unexpected "
                                                          "ZeroDivisionError")
    monkeypatch.setattr(api, "_read", real)
    assert call(server, "POST", "/get-online-features", request)[0] == 200
    assert call(server, "GET", "/ready")[0] == 200


def test_a_push_dated_in_the_future_is_refused_and_no_stored_time_fails_a_read(served):
    """A row dated 9999-01-01 pinned its value forever (later real pushes were older); a stored
    time past the year 9999 made every HTTP read of that entity answer 500."""
    store, server = served
    rows = {"driver_id": [7], "event_timestamp": ["9999-01-01T00:00:00Z"], "rate": [0.9], "trips": [9]}
    status, body = call(server, "POST", "/push", {"push_source_name": "stats_push", "df": rows})
    assert status == 422 and body["error"]["message"] == (
        "push to 'stats_push': row 0 (column 'event_timestamp'): the event time 9999-01-01T00:00:00+00:00 is more "
        "than 5 minutes past this machine's clock; a future time would pin the value online (no real later row "
        "could replace it): send the time the event happened; nothing was written")
    with pytest.raises(ValidationError, match="is more than 5 minutes past this machine's clock"):
        store.push("stats_push", {**rows, "event_timestamp": [datetime(9999, 1, 1, tzinfo=UTC)]})
    beyond = 100_000 * 365 * 24 * HOUR_US  # about the year 101,900: no datetime holds it
    store.online_store.online_write_flat(PROJECT, STATS, [row(STATS, 8, {"rate": 0.8, "trips": 8}, beyond)])
    status, body = call(server, "POST", "/get-online-features", {"entities": {"driver_id": [8]},
                                                                 "features": ["stats:rate"]})
    assert status == 200 and body["results"][1]["values"] == [0.8]
    assert body["results"][1]["event_timestamps"] == ["9999-12-31T23:59:59.999999Z"]


def test_a_push_that_an_apply_overtook_is_refused_with_409(served, monkeypatch):
    """The rows were checked against the view as it was; an apply changes it before they are written:
    they are refused (409, one line), never written under the new definition."""
    import featurestore.push

    store, server = served
    real_checked = featurestore.push.checked
    wider = FeatureView(name="stats", entities=[DRIVER], source=PUSH, ttl=timedelta(days=1),
                        schema=[*STATS.schema, Field(name="extra", dtype=Float64)])

    def checked_then_overtaken(*args):
        checked = real_checked(*args)
        store.apply([DRIVER, wider], validate=False)  # another process, between the check and the write
        return checked

    monkeypatch.setattr(featurestore.push, "checked", checked_then_overtaken)
    status, body = call(server, "POST", "/push", {"push_source_name": "stats_push", "df": {
        "driver_id": [1], "event_timestamp": [iso(NOW_US)], "rate": [0.9], "trips": [9]}})
    assert (status, body["error"]["message"]) == (409, "stats changed while pushing; nothing recorded; run it again")
    answer = get_online_features(store.registry, store.online_store, PROJECT, ["stats:rate"], [{"driver_id": 1}])
    assert (answer.to_dict()["rate"], answer.statuses()["rate"]) == ([None], ["NOT_FOUND"])  # reset, nothing new


@pytest.mark.parametrize("path, body, status, message", [
    ("/materialize", {"start_ts": "2026-01-01", "end_ts": "2026-01-02", "feature_views": ["nope"]}, 404,
     "no feature view named 'nope'"),
    ("/materialize", {"end_ts": "2026-01-02"}, 400, "'start_ts'"),
    ("/materialize-incremental", {"feature_views": ["stats"]}, 400, "'end_ts'"),
    ("/materialize-incremental?async=true", {"end_ts": "2026-01-02"}, 422,
     "this server materializes synchronously (a Spark job per request); send the request without ?async=true"),
])
def test_feasts_materialize_endpoints_check_the_request_before_starting_a_job(served, path, body, status, message):
    answer, payload = call(served[1], "POST", path, body)
    assert answer == status and message in payload["error"]["message"], payload


def test_openapi_json_and_docs_describe_every_endpoint(served):
    from featurestore.serving.app import GET, POST

    status, document = call(served[1], "GET", "/openapi.json")
    assert status == 200 and document["openapi"] == "3.1.0"
    assert sorted(document["paths"]) == sorted([*POST, *GET])
    assert set(document["paths"]["/get-online-features"]["post"]["responses"]) == {"200", "400", "404", "413", "422",
                                                                                   "503"}
    status, page = call(served[1], "GET", "/docs")
    assert status == 200 and "<h2>POST /materialize-incremental</h2>" in page and "/openapi.json" in page
