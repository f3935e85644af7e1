"""The `featurestore` command, run in-process: the init walkthrough, listing, errors as one line."""
import json
import subprocess
import sys
from datetime import UTC

import pytest

from featurestore.cli import main

pytestmark = pytest.mark.spark


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def repo(spark, tmp_path_factory):
    """`featurestore init` of the driver example in the test warehouse, then `apply`."""
    folder = tmp_path_factory.mktemp("cli") / "driver_repo"
    assert main(["init", str(folder)]) == 0
    assert main(["--repo", str(folder), "apply"]) == 0
    return folder


def test_init_writes_a_ready_repo_with_sample_tables(spark, repo):
    assert sorted(p.name for p in repo.iterdir()) == ["data", "feature_store.yaml", "features.py"]
    assert "project: driver_repo" in (repo / "feature_store.yaml").read_text()
    stats = spark.table("driver_hourly_stats")
    assert stats.columns == ["driver_id", "event_timestamp", "conv_rate", "acc_rate", "avg_daily_trips", "created"]
    assert sorted(r[0] for r in stats.select("driver_id").distinct().collect()) == [1001, 1002, 1003, 1004, 1005]
    assert stats.count() == 5 * 7 * 24
    assert spark.table("driver_entities").columns == ["driver_id", "event_timestamp",
                                                      "label_driver_reported_satisfaction"]
    assert (repo / "data" / "driver_stats.parquet").is_dir()
    assert spark.table("trip_events").columns == ["driver_id", "customer_id", "fare", "event_timestamp"]


def test_list_describe_dump_and_plan(capsys, repo):
    code, out, _ = run(capsys, "--repo", str(repo), "feature-views", "list")
    assert code == 0 and out == ("driver_hourly_stats\tentities=driver features=4 ttl=1 day, 0:00:00\n"
                                 "driver_trips\tentities=driver features=5 ttl=2 days, 0:00:00\n")
    code, out, _ = run(capsys, "--repo", str(repo), "entities", "describe", "driver")
    assert json.loads(out) == {"name": "driver", "join_keys": ["driver_id"],
                               "description": "A driver of the ride-hailing fleet"}
    code, out, _ = run(capsys, "--repo", str(repo), "registry", "dump")
    dump = json.loads(out)
    assert dump["project"] == "driver_repo" and [v["name"] for v in dump["feature_views"]] == ["driver_hourly_stats",
                                                                                           "driver_trips"]
    trips = dump["feature_views"][1]
    assert trips["delay"] == "300s" and trips["aggregations"][0] == {
        "function": "count", "time_window": "3600s", "name": "trips_count_1h"}
    code, out, _ = run(capsys, "--repo", str(repo), "data-sources", "list")
    assert out == "driver_hourly_stats_source\ttable driver_hourly_stats\ntrip_events_source\ttable trip_events\n"
    code, out, _ = run(capsys, "--repo", str(repo), "plan")
    assert code == 0 and out.strip() == "No changes: the registry already matches the definitions."


def test_materialize_and_read_online(capsys, repo):
    # -v before END and --repo after the command: both used to fail (-v swallowed `now`)
    code, out, _ = run(capsys, "materialize-incremental", "-v", "driver_hourly_stats", "now", "--repo", str(repo))
    assert code == 0 and "driver_hourly_stats: [" in out and "rows selected 5, written 5" in out
    code, out, _ = run(capsys, "--repo", str(repo), "get-online-features", "--feature-service", "driver_ranking",
                       "-e", "driver_id=1001", "-e", "driver_id=9999")
    result = json.loads(out)
    assert code == 0 and result["values"]["driver_id"] == [1001, 9999]
    assert result["statuses"]["conv_rate"] == ["PRESENT", "NOT_FOUND"]


def test_online_json_is_strict_for_nan_and_infinity(capsys, repo):
    from datetime import datetime

    from featurestore.online.base import OnlineRow
    from featurestore.online.codec import datetime_to_micros, encode_value, entity_key_serializer
    from featurestore.store import FeatureStore
    from featurestore.types import Float32, Int32, Int64

    store = FeatureStore(repo)
    view = store.get_feature_view("driver_hourly_stats")
    now = datetime_to_micros(datetime.now(UTC))
    key = entity_key_serializer(["driver_id"], [Int64])([4242])
    values = {"conv_rate": encode_value(float("nan"), Float32), "acc_rate": encode_value(float("-inf"), Float32),
              "avg_daily_trips": encode_value(7, Int32), "trips_per_hour": encode_value(None, Float32)}
    assert store.online_store.online_write_batch(store.project, view, [OnlineRow(key, values, now, now)]) == 1
    code, out, err = run(capsys, "get-online-features", "-f", "driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate",
                         "-e", "driver_id=4242", "--repo", str(repo))
    assert code == 0, err
    result = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert result == {"values": {"driver_id": [4242], "conv_rate": ["NaN"], "acc_rate": ["-Infinity"]},
                      "statuses": {"driver_id": ["PRESENT"], "conv_rate": ["PRESENT"], "acc_rate": ["PRESENT"]}}


@pytest.mark.parametrize("argv, message", [
    (["entities", "describe", "drivr"], "Error: no entity named 'drivr' in project 'driver_repo'. Did you mean 'driver'?"),
    (["get-online-features", "-f", "driver_hourly_stats:conv", "-e", "driver_id=1"],
     "Error: feature view 'driver_hourly_stats' has no feature 'conv' (its features: conv_rate, acc_rate, "
     "avg_daily_trips, trips_per_hour). Did you mean 'conv_rate'?"),
    (["get-online-features", "-f", "driver_hourly_stats:conv_rate", "-e", "driver_id=abc"],
     "Error: --entity driver_id=abc: driver_id is declared Int64, so its value must be an Int64"),
    (["materialize", "yesterday", "now"], "Error: START 'yesterday' is not a time"),
    (["training-set", "build", "--entities", "driver_entities", "--feature-service", "driver_ranking", "--output",
      "driver_entities"], "Error: table driver_entities already exists; pass --overwrite to replace it, or --output "
                          "another name"),
])
def test_errors_are_one_line_and_exit_non_zero(capsys, repo, argv, message):
    code, _out, err = run(capsys, "--repo", str(repo), *argv)
    assert code == 1 and err.startswith(message) and len(err.strip().splitlines()) == 1, err


def test_missing_repo_is_one_clear_line(capsys, tmp_path):
    code, _out, err = run(capsys, "--repo", str(tmp_path), "plan")
    assert code == 1 and err.strip() == f"Error: {tmp_path}/feature_store.yaml: not found; run `featurestore init NAME` " \
                                        f"to create a feature repo, or pass --repo/repo_path pointing at a folder " \
                                        f"with feature_store.yaml"


def test_every_command_has_help():
    for command in (["version"], ["init"], ["apply"], ["plan"], ["teardown"], ["registry", "dump"], ["entities"], ["materialize"],
                    ["materialize-incremental"], ["get-online-features"], ["training-set", "rebuild"]):
        result = subprocess.run([sys.executable, "-m", "featurestore.cli", *command, "--help"], capture_output=True,
                                text=True)
        assert result.returncode == 0 and "usage: featurestore" in result.stdout, command


def test_registry_commands_start_no_jvm(repo):
    code = ("import sys; from featurestore.cli import main; main(['--repo', sys.argv[1], 'feature-views', 'list']); "
            "main(['--repo', sys.argv[1], 'registry', 'dump']); "
            "assert not [m for m in sys.modules if m.startswith('pyspark')], 'pyspark imported'")
    result = subprocess.run([sys.executable, "-c", code, str(repo)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_teardown_removes_registry_and_online_tables(capsys, repo, tmp_path):
    code, _out, _ = run(capsys, "--repo", str(repo), "teardown")
    assert code == 0 and not (repo / "data" / "registry.db").exists()
    assert not (repo / "data" / "online_store.db").exists()
    assert main(["--repo", str(repo), "apply"]) == 0  # the module's other tests may run after


def test_the_catalog_of_the_init_repo_in_a_browser(capsys, repo, browser):
    """As a colleague would: search "conv", open driver_hourly_stats, follow the lineage to
    driver_ranking, and see the freshness of the last materialization."""
    import signal

    from tests.browser import follow_lineage_to, search_and_open, start_ui

    assert run(capsys, "--repo", str(repo), "materialize-incremental", "now")[0] == 0
    process, url = start_ui(repo)
    try:
        text = search_and_open(browser, url, "conv", "driver_hourly_stats:conv_rate", "init-repo")
        assert "event time event_timestamp" in text and "fresh" in text and " rows selected, " in text
        text = follow_lineage_to(browser, "driver_ranking", "init-repo")
        assert "conv_rate, acc_rate, avg_daily_trips" in text
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
