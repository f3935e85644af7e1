"""Spark Connect: `make spark-up`'s server, and plan/apply run through it (README "Spark Connect").

The slow tests start one real Spark Connect server (featurestore.spark_server, its own
JVM) for an init'ed repo and run the CLI in subprocesses with SPARK_REMOTE: a process
of the test suite must not become a Connect client, since the suite's shared session is
a classic one. The server holds the repo's embedded Derby metastore, so a command that
started its own JVM on that repo would be refused: a command that succeeds went through
the server.
"""
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from featurestore.config import load_config
from featurestore.errors import ConfigError, SparkSetupError
from featurestore.spark import get_spark, parse_remote_url, remote_url
from tests.repo_helpers import offline_store

WRITE_SAMPLE_DATA = textwrap.dedent("""
    import sys
    from pathlib import Path
    from featurestore.config import load_config
    from featurestore.scaffold import ENTITY_TABLE, STATS_TABLE, TRIPS_TABLE
    from featurestore.scaffold.sample_data import write_sample_data
    from featurestore.spark import get_spark, is_remote
    repo = Path(sys.argv[1])
    spark = get_spark(load_config(repo))
    assert is_remote(spark), type(spark)
    write_sample_data(spark, STATS_TABLE, ENTITY_TABLE, repo / "data" / "driver_stats.parquet", trips_table=TRIPS_TABLE)
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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(url, repo, state_dir): a Spark Connect server for an init'ed repo holding the sample tables."""
    work = tmp_path_factory.mktemp("connect")
    repo = work / "sample"
    cli(work, "init", str(repo), "--no-data")  # no JVM: the tables are written through the server below
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    state = work / "state"
    started = run("-m", "featurestore.spark_server", "up", "--repo", str(repo), "--state-dir", str(state),
                  "--port", str(port))
    url = f"sc://127.0.0.1:{port}"
    try:
        assert f"export SPARK_REMOTE={url}" in started.stdout
        env = dict(os.environ, SPARK_REMOTE=url)
        run("-c", WRITE_SAMPLE_DATA, str(repo), env=env)
        yield url, repo, state
    finally:
        stopped = run("-m", "featurestore.spark_server", "down", "--state-dir", str(state), "--port", str(port))
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
def test_what_the_server_cannot_do_says_so_in_one_line(server, tmp_path):
    url, repo, _ = server
    cli(repo, "apply", remote=url)
    result = cli(repo, "materialize-incremental", "now", remote=url, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: materialize_incremental is not supported over Spark Connect: materialization reads rows through "
        "RDDs and SparkContext accumulators; run it without SPARK_REMOTE / offline_store.spark_remote, after "
        "`make spark-down` (the server holds the repo's embedded metastore) or with a shared metastore "
        "(docs/metastore.md)"]

    # Without SPARK_REMOTE the command would start its own JVM: refused at once, naming the server.
    local = cli(repo, "plan", check=False)
    assert local.returncode == 1
    assert "is held by a Spark Connect server" in local.stderr
    assert f"use it with SPARK_REMOTE={url}" in local.stderr

    # A server started for another repo is never used against this one's catalog.
    other = tmp_path / "other"
    cli(tmp_path, "init", str(other), "--no-data")
    mismatch = cli(other, "plan", remote=url, check=False)
    assert mismatch.returncode == 1
    assert (f"the Spark Connect server at {url} serves another catalog: its warehouse is "
            f"{repo / 'data' / 'spark-warehouse'}, repo {other} uses {other / 'data' / 'spark-warehouse'}"
            in mismatch.stderr)


def test_the_server_command_has_the_repo_settings(repo_factory):
    """What spark-up launches: Spark's SparkConnectServer, on loopback, with the repo's session settings."""
    from featurestore.spark import session_conf
    from featurestore.spark_server import SERVER_CLASS, server_command

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
