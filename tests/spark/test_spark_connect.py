"""Spark Connect: `make spark-up`'s server, and the user paths run through it (docs/deployment.md, Spark Connect).

The slow tests start one real Spark Connect server (featurestore.runtime.spark_server, its own
JVM) for an init'ed repo and run the CLI and scripts in subprocesses with SPARK_REMOTE:
a process of the test suite must not become a Connect client, since the suite's shared
session is a classic one. The server holds the repo's embedded Derby metastore, so a
command that started its own JVM on that repo would be refused: a command that succeeds
went through the server. Through it: plan and apply, a training set (equal row for row
to the classic session's on the same data), save_as_table with its profile, rebuild,
and materialization into SQLite and Redis read back online.
"""
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from featurestore.config import load_config
from featurestore.errors import ConfigError, SparkSetupError
from featurestore.runtime.session import get_spark, parse_remote_url, remote_url
from featurestore.testing.repos import offline_store

WRITE_SAMPLE_DATA = textwrap.dedent("""
    import sys
    from pathlib import Path
    from featurestore.config import load_config
    from featurestore.scaffold import ENTITY_TABLE, STATS_TABLE, TRIPS_TABLE
    from featurestore.scaffold.sample_data import write_sample_data
    from datetime import datetime
    from featurestore.runtime.session import get_spark, is_remote
    repo, end = Path(sys.argv[1]), datetime.fromisoformat(sys.argv[2])
    spark = get_spark(load_config(repo))
    assert is_remote(spark), type(spark)
    write_sample_data(spark, STATS_TABLE, ENTITY_TABLE, repo / "data" / "driver_stats.parquet", end=end,
                      trips_table=TRIPS_TABLE)
""")

FEATURES = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips",
            "driver_trips:trips_count_1d", "driver_trips:fare_mean_7d", "transformed_conv_rate:conv_rate_plus_val"]

# The sample entity rows, with the on-demand view's request field, and the training set of FEATURES.
TRAINING_SET = textwrap.dedent("""
    from featurestore.scaffold import ENTITY_TABLE
    from pyspark.sql import functions as F

    def training_set(store, features):
        entities = store.spark.table(ENTITY_TABLE).withColumn("val_to_add", F.lit(2).cast("bigint"))
        return store.get_historical_features(entities, features)
""")

SAVE_TRAINING_SET = TRAINING_SET + textwrap.dedent("""
    import json, sys
    from featurestore import FeatureStore
    from featurestore.runtime.session import is_remote
    store = FeatureStore(sys.argv[1])
    assert is_remote(store.spark), type(store.spark)
    training_set(store, json.loads(sys.argv[2])).save_as_table(sys.argv[3], profile=False)  # rebuild stores one
""")

BAD_VIEW = textwrap.dedent("""
    from datetime import timedelta
    from featurestore import Entity, FeatureView, Field, SparkSource
    from featurestore.types import Float32, Int64
    rider = Entity(name="rider", join_keys=["rider_id"])
    missing = FeatureView(name="missing", entities=[rider], ttl=timedelta(days=1),
                          schema=[Field(name="rider_id", dtype=Int64), Field(name="score", dtype=Float32)],
                          source=SparkSource(name="missing_source", table="no_such_table",
                                             timestamp_field="event_timestamp"))
""")


# --- no JVM: the setting and its checks ------------------------------------------------------

@pytest.mark.parametrize("url, expected", [
    ("sc://127.0.0.1:15002", ("127.0.0.1", 15002)),
    ("sc://localhost", ("localhost", 15002)),
    ("sc://spark.internal:443/;use_ssl=true", ("spark.internal", 443)),
])
def test_remote_urls_are_parsed(url, expected):
    assert parse_remote_url(url) == expected


@pytest.mark.parametrize("url, message", [
    ("localhost:15002", "must be a Spark Connect URL such as sc://127.0.0.1:15002"),
    ("sc://:15002", "needs a host"),
    ("sc://host:99999", "port"),
    ("sc://host:abc", "port"),
])
def test_bad_remote_urls_are_refused(url, message):
    with pytest.raises(ValueError, match=message):
        parse_remote_url(url)


def test_the_yaml_key_is_read_and_checked_with_its_line(repo_factory, monkeypatch):
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    repo = repo_factory(None, offline=offline_store(spark_remote="sc://127.0.0.1:15999"))
    assert remote_url(load_config(repo)) == ("sc://127.0.0.1:15999", f"offline_store.spark_remote in {repo}")
    monkeypatch.setenv("SPARK_REMOTE", "sc://127.0.0.1:16000")  # the environment wins
    assert remote_url(load_config(repo))[0] == "sc://127.0.0.1:16000"

    repo = repo_factory(None, name="bad", offline=offline_store(spark_remote="http://host:15002"))
    line = (repo / "feature_store.yaml").read_text().splitlines().index("  spark_remote: http://host:15002") + 1
    with pytest.raises(ConfigError, match=rf"feature_store.yaml:{line}: 'offline_store.spark_remote' must be a "
                                          r"Spark Connect URL such as sc://127.0.0.1:15002, got 'http://host:15002'"):
        load_config(repo)


def test_a_server_that_does_not_answer_is_one_line_at_once(repo_factory, monkeypatch):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setenv("SPARK_REMOTE", f"sc://127.0.0.1:{port}")
    repo = repo_factory(None)
    with pytest.raises(SparkSetupError, match=rf"no Spark Connect server answers at sc://127.0.0.1:{port} \(from "
                                              rf"SPARK_REMOTE\); start one with `make spark-up REPO={repo}`"):
        get_spark(load_config(repo))
    monkeypatch.setenv("SPARK_REMOTE", "127.0.0.1:15002")
    with pytest.raises(SparkSetupError, match="SPARK_REMOTE must be a Spark Connect URL"):
        get_spark(load_config(repo))


# --- a real server -------------------------------------------------------------------------

def run(*argv, env=None, cwd=None, check=True):
    result = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"{argv} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def cli(repo, *argv, remote=None, check=True):
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED")}
    if remote:
        env["SPARK_REMOTE"] = remote
    return run("-m", "featurestore.cli", "--repo", str(repo), *argv, env=env, check=check)


# The sample data's end: fixed for the module, so the classic session can write the same rows.
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(url, repo, state_dir): a Spark Connect server for an init'ed repo holding the sample tables
    (ending at END)."""
    work = tmp_path_factory.mktemp("connect")
    repo = work / "sample"
    cli(work, "init", str(repo), "--no-data")  # no JVM: the tables are written through the server below
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    state = work / "state"
    started = run("-m", "featurestore.runtime.spark_server", "up", "--repo", str(repo), "--state-dir", str(state),
                  "--port", str(port))
    url = f"sc://127.0.0.1:{port}"
    try:
        assert f"export SPARK_REMOTE={url}" in started.stdout
        env = dict(os.environ, SPARK_REMOTE=url)
        run("-c", WRITE_SAMPLE_DATA, str(repo), END.isoformat(), env=env)
        yield url, repo, state
    finally:
        stopped = run("-m", "featurestore.runtime.spark_server", "down", "--state-dir", str(state), "--port", str(port))
        assert "Stopped the Spark Connect server." in stopped.stdout
    assert not (state / f"spark-connect-{port}.pid").exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


@pytest.mark.slow
def test_plan_and_apply_run_through_the_server(server):
    url, repo, _ = server
    registry = repo / "data" / "registry.db"

    plan = cli(repo, "plan", remote=url)
    assert "+ add    FeatureView         driver_hourly_stats" in plan.stdout
    assert "7 to add, 0 to change, 0 to delete." in plan.stdout
    assert not registry.exists()  # plan writes nothing

    apply = cli(repo, "apply", remote=url)
    assert "7 to add, 0 to change, 0 to delete." in apply.stdout
    assert f"Registry {registry} is at version 1." in apply.stdout
    views = cli(repo, "feature-views", "list").stdout  # reads the registry only: no Spark at all
    assert [line.split("\t")[0] for line in views.splitlines()] == ["driver_hourly_stats", "driver_trips"]
    services = cli(repo, "feature-services", "list").stdout
    assert services.startswith("driver_ranking\t")

    # The same server named in feature_store.yaml instead of the environment.
    config_file = repo / "feature_store.yaml"
    original = config_file.read_text()
    config_file.write_text(original.replace("offline_store:\n", f"offline_store:\n  spark_remote: {url}\n"))
    try:
        again = cli(repo, "plan")
    finally:
        config_file.write_text(original)
    assert "No changes" in again.stdout or "0 to add, 0 to change, 0 to delete." in again.stdout


@pytest.mark.slow
def test_validation_errors_come_through_the_server(server):
    url, repo, _ = server
    bad = repo / "missing_view.py"
    bad.write_text(BAD_VIEW)
    try:
        result = cli(repo, "plan", remote=url, check=False)
    finally:
        bad.unlink()
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {bad}: FeatureView 'missing': source 'missing_source' reads table no_such_table, which does not "
        f"exist in the warehouse file:{repo / 'data' / 'spark-warehouse'}; create the table or fix table=")


@pytest.mark.slow
def test_the_server_holds_its_repo_and_serves_no_other(server, tmp_path):
    url, repo, _ = server
    # Without SPARK_REMOTE the command starts its own JVM, beside the server: the default catalog
    # is shared, so it works (with `metastore: embedded` the server would hold it).
    local = cli(repo, "plan", check=False)
    assert local.returncode == 0, local.stderr[-2000:]

    # A server started for another repo is never used against this one's catalog.
    other = tmp_path / "other"
    cli(tmp_path, "init", str(other), "--no-data")
    mismatch = cli(other, "plan", remote=url, check=False)
    assert mismatch.returncode == 1
    assert (f"the Spark Connect server at {url} serves another catalog: its warehouse is "
            f"{repo / 'data' / 'spark-warehouse'}, repo {other} uses {other / 'data' / 'spark-warehouse'}"
            in mismatch.stderr)


def delta_table(spark, repo, table):
    """A Delta table of the server's warehouse, read by path (the server holds the catalog)."""
    return spark.read.format("delta").load(str(repo / "data" / "spark-warehouse" / table))


@pytest.mark.slow
@pytest.mark.spark
def test_training_sets_saved_and_rebuilt_through_the_server(server, spark):
    """The training set over Connect equals the classic session's on the same rows. Rebuild over
    Connect reads the saved definition (DESCRIBE DETAIL) and the Delta versions (DESCRIBE
    HISTORY), and stores the rebuilt table's profile (INSERT INTO)."""
    from chispa import assert_df_equality

    from featurestore import FeatureStore
    from featurestore.scaffold import ENTITY_TABLE, STATS_TABLE, TRIPS_TABLE
    from featurestore.scaffold.sample_data import write_sample_data

    url, repo, _ = server
    cli(repo, "apply", remote=url)
    run("-c", SAVE_TRAINING_SET, str(repo), json.dumps(FEATURES), "connect_training_set",
        env=dict(os.environ, SPARK_REMOTE=url))
    rebuilt = cli(repo, "training-set", "rebuild", "connect_training_set", remote=url)
    assert re.fullmatch(r"Rebuilt connect_training_set into connect_training_set_rebuilt: 200 rows, with the "
                        r"definitions saved with it \(registry version \d+ of project '\w+'\)",
                        rebuilt.stdout.strip().splitlines()[-1])

    saved = delta_table(spark, repo, "connect_training_set")
    assert saved.count() == 200
    assert_df_equality(delta_table(spark, repo, "connect_training_set_rebuilt"), saved, ignore_row_order=True)
    profiles = delta_table(spark, repo, "featurestore_profiles").select("table_name", "version").collect()
    assert list(map(tuple, profiles)) == [("default.connect_training_set_rebuilt", 0)]

    # The classic session, on the same sample rows in a database of its own, from the same registry.
    namespace = {}
    exec(TRAINING_SET, namespace)
    database = "connect_reference"
    previous = spark.catalog.currentDatabase()
    spark.sql(f"CREATE DATABASE {database}")
    try:
        spark.catalog.setCurrentDatabase(database)
        write_sample_data(spark, STATS_TABLE, ENTITY_TABLE, repo / "data" / "classic_stats.parquet", end=END,
                          trips_table=TRIPS_TABLE)
        classic = namespace["training_set"](FeatureStore(repo), FEATURES).to_spark_df()
        assert_df_equality(classic, saved, ignore_row_order=True, ignore_nullable=True)
    finally:
        spark.catalog.setCurrentDatabase(previous)
        spark.sql(f"DROP DATABASE {database} CASCADE")


def expected_online_values(end):
    """Per driver: the newest hourly stats before `end`, and the trips in the day window as of `end`."""
    from featurestore.scaffold.sample_data import DRIVER_IDS, driver_stats_rows, trip_rows

    newest = {}
    for driver, ts, conv_rate, _, trips, _ in driver_stats_rows(end):
        if ts < end and (driver not in newest or ts > newest[driver][0]):
            newest[driver] = (ts, conv_rate, trips)
    window_end = end - timedelta(minutes=5)  # driver_trips' delay
    counts = {driver: sum(1 for d, _, _, at in trip_rows(end) if d == driver and window_end - timedelta(days=1) < at
                          <= window_end) for driver in DRIVER_IDS}
    return {"driver_id": list(DRIVER_IDS),
            "conv_rate": [newest[d][1] for d in DRIVER_IDS],
            "avg_daily_trips": [newest[d][2] for d in DRIVER_IDS],
            "trips_count_1d": [counts[d] for d in DRIVER_IDS]}


@pytest.mark.slow
@pytest.mark.parametrize("online_store", ["sqlite", "redis"])
def test_materialize_through_the_server_then_read_online(server, online_store, request):
    """SQLite: rows encoded and sorted on the server's executors, streamed to this process.
    Redis: written from the server's executors."""
    from featurestore.scaffold.sample_data import DRIVER_IDS
    from featurestore.testing.repos import redis_online_store

    url, repo, _ = server
    config_file = repo / "feature_store.yaml"
    original = config_file.read_text()
    if online_store == "redis":
        redis = request.getfixturevalue("clean_redis")
        section = original[original.index("online_store:"):original.index("offline_store:")]
        config_file.write_text(original.replace(section, redis_online_store(redis.host, redis.port)))
    try:
        cli(repo, "apply", remote=url)
        start = (END - timedelta(days=2)).isoformat()
        materialized = cli(repo, "materialize", start, END.isoformat(), remote=url)
        assert "driver_hourly_stats: [" in materialized.stdout and "rows selected 5, written 5" in materialized.stdout
        entities = [arg for d in DRIVER_IDS for arg in ("-e", f"driver_id={d}")]
        online = cli(repo, "get-online-features", "-f", "driver_hourly_stats:conv_rate,"
                     "driver_hourly_stats:avg_daily_trips,driver_trips:trips_count_1d", *entities)
    finally:
        config_file.write_text(original)
    response = json.loads(online.stdout)
    values = response["values"]
    expected = expected_online_values(END)
    assert values["conv_rate"] == pytest.approx(expected["conv_rate"], abs=1e-6)  # stored as float32
    for column in ("driver_id", "avg_daily_trips", "trips_count_1d"):
        assert values[column] == expected[column], column
    assert set(response["statuses"]["conv_rate"]) == {"PRESENT"}


def test_the_server_command_has_the_repo_settings(repo_factory):
    """What spark-up launches: Spark's SparkConnectServer, on loopback, with the repo's session settings."""
    from featurestore.runtime.session import session_conf
    from featurestore.runtime.spark_server import SERVER_CLASS, server_command

    config = load_config(repo_factory(None))
    command = server_command(config, port=15123)
    assert Path(command[0]).name == "spark-submit" and command[1:3] == ["--class", SERVER_CLASS]
    conf = dict(arg.split("=", 1) for arg in command[4::2])
    assert conf["spark.connect.grpc.binding.address"] == "127.0.0.1"
    assert conf["spark.connect.grpc.binding.port"] == "15123"
    assert conf["spark.master"] == "local[2]"
    local = session_conf(config, master="local[2]")
    for key in ("spark.sql.warehouse.dir", "spark.hadoop.javax.jdo.option.ConnectionURL", "spark.jars",
                "spark.sql.extensions", "spark.sql.catalog.spark_catalog", "spark.driver.extraJavaOptions"):
        assert conf[key] == local[key]


@pytest.mark.spark
def test_the_client_encoding_equals_the_executor_encoding_for_every_type(spark, monkeypatch):
    """Materialization over Connect encodes the streamed rows in the client, chunk by chunk, a
    local session on the executors, partition by partition: the same flat rows for every feature
    type and null values, each chunk sorted by entity key."""
    from featurestore import Entity, FeatureView, Field, SparkSource, materialize
    from featurestore.materialize import _encode_sorted_partition, _encoded_sorted_chunks, latest_rows
    from featurestore.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp

    key = Entity(name="thing", join_keys=["thing_id", "region"])
    view = FeatureView(
        name="every_type", entities=[key], ttl=timedelta(days=1),
        schema=[Field(name="thing_id", dtype=Int64), Field(name="region", dtype=String),
                Field(name="small", dtype=Int32), Field(name="rate", dtype=Float32), Field(name="score", dtype=Float64),
                Field(name="flag", dtype=Bool), Field(name="raw", dtype=Bytes), Field(name="seen", dtype=UnixTimestamp),
                Field(name="nums", dtype=Array(Int64)), Field(name="names", dtype=Array(String)),
                Field(name="times", dtype=Array(UnixTimestamp))],
        source=SparkSource(name="every_type_source", table="unused", timestamp_field="event_timestamp"))
    at = datetime(2026, 1, 1, 12)
    rows = [(i, ["eu", "us", "ap"][i % 3], i if i % 4 else None, i / 3, i / 7, i % 2 == 0,
             bytes([i % 256, 7]) if i % 5 else None, at - timedelta(minutes=i), list(range(i % 4)),
             ["a", "b", "c"][: i % 3] if i % 6 else None, [at, at - timedelta(seconds=i)], at - timedelta(hours=i % 3))
            for i in range(60)]
    source = spark.createDataFrame(rows, "thing_id bigint, region string, small int, rate float, score double, "
                                         "flag boolean, raw binary, seen timestamp, nums array<bigint>, "
                                         "names array<string>, times array<timestamp>, event_timestamp timestamp")
    frame = latest_rows(view, source.repartition(3), datetime(2025, 1, 1), datetime(2027, 1, 1))
    monkeypatch.setattr(materialize, "CONNECT_CHUNK_ROWS", 25)
    client = list(_encoded_sorted_chunks(view, frame.toLocalIterator()))
    rdd = frame.rdd.mapPartitions(_encode_sorted_partition(view)).collect()
    assert len(client) == 60
    assert sorted(client) == sorted(tuple(row) for row in rdd)
    for first in (0, 25, 50):
        keys = [row[0] for row in client[first:first + 25]]
        assert keys == sorted(keys)
