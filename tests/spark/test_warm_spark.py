"""The warm Spark as users meet it (featurestore.runtime.warm_spark): fresh `featurestore`
processes, two at once on one repo, a server killed under them, a server left idle.

One real Spark Connect server is started per test, with its supervisor, in a state folder
of the test's own; commands run in subprocesses that imported nothing first, with
FEATURESTORE_WARM_SPARK=cli as a user's shell has it (the suite's default is off)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from featurestore.config import load_config
from featurestore.runtime import warm_spark
from featurestore.runtime.processes import alive

pytestmark = pytest.mark.spark


def cli(repo: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "featurestore.cli", "--repo", str(repo), *args], capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.fixture
def warm(tmp_path, monkeypatch):
    """(repo, env): an init'ed, applied repo, and the environment of a shell using its warm Spark;
    the server is stopped at the end whatever happened."""
    off = dict(os.environ, FEATURESTORE_WARM_SPARK="off")
    subprocess.run([sys.executable, "-m", "featurestore.cli", "init", "warm_repo"], cwd=tmp_path, env=off, check=True,
                   capture_output=True, timeout=300)
    repo = tmp_path / "warm_repo"
    assert cli(repo, "apply", env=off).returncode == 0
    monkeypatch.setenv(warm_spark.DIR_ENV, str(tmp_path / "warm-state"))
    env = dict(os.environ, FEATURESTORE_WARM_SPARK="cli", FEATURESTORE_WARM_SPARK_IDLE_SECONDS="8")
    yield repo, env
    config = load_config(repo)
    monkeypatch.setenv(warm_spark.MODE_ENV, "cli")
    warm_spark.stop(config)


def servers_started(state: Path) -> list[str]:
    return [line for folder in state.glob("*") for line in (folder / "server.log").read_text().splitlines()
            if " serving " in line] if state.exists() else []


def test_two_commands_at_once_share_one_server_that_stops_when_idle(warm):
    repo, env = warm
    state = Path(env[warm_spark.DIR_ENV])
    commands = [subprocess.Popen([sys.executable, "-m", "featurestore.cli", "--repo", str(repo),
                                  "materialize-incremental", "now", "--views", view], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env)
                for view in ("driver_hourly_stats", "driver_trips")]
    outputs = [command.communicate(timeout=300) for command in commands]
    assert [command.returncode for command in commands] == [0, 0], outputs
    assert len(servers_started(state)) == 1
    status = cli(repo, "spark", "status", env=env).stdout
    assert status.startswith(f"Warm Spark for {repo}: supervisor pid ")
    read = cli(repo, "get-online-features", "-f", "driver_hourly_stats:conv_rate,driver_trips:trips_count_1d",
               "-e", "driver_id=1001", env=env)
    assert json.loads(read.stdout)["statuses"] == {"driver_id": ["PRESENT"], "conv_rate": ["PRESENT"],
                                                   "trips_count_1d": ["PRESENT"]}
    # a third process on the same shared session sees the tables the first two registered (the
    # server's plan cache once answered its tableExists with theirs, from before)
    built = cli(repo, "training-set", "build", "--entities", "driver_entities", "--features",
                "driver_hourly_stats:conv_rate", "--output", "warm_training_set", env=env)
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("Training set warm_training_set: 200 rows in ")
    (folder,) = state.glob("*")
    supervisor = int((folder / "server").read_text().split()[0])
    deadline = time.monotonic() + 60
    while alive(supervisor) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive(supervisor)
    assert (folder / "server.log").read_text().splitlines()[-1].endswith("idle: stopped")
    assert not (folder / "server").exists()


def test_a_killed_server_is_replaced_by_the_next_command(warm):
    repo, env = warm
    state = Path(env[warm_spark.DIR_ENV])
    assert cli(repo, "materialize-incremental", "now", env=env).returncode == 0
    (folder,) = state.glob("*")
    port = int((folder / "server").read_text().split()[1])
    java = subprocess.run(["pgrep", "-f", f"spark.connect.grpc.binding.port={port}"], capture_output=True,
                          text=True).stdout.split()
    assert java
    for pid in java:
        os.kill(int(pid), signal.SIGKILL)
    after = cli(repo, "materialize-incremental", "now", env=env)
    assert after.returncode == 0, after.stderr
    assert len(servers_started(state)) == 2
    assert "Spark exited" in (folder / "server.log").read_text()


def test_off_starts_spark_in_the_command_itself(warm):
    repo, env = warm
    result = cli(repo, "materialize-incremental", "now", env=dict(env, FEATURESTORE_WARM_SPARK="off"))
    assert result.returncode == 0, result.stderr
    assert servers_started(Path(env[warm_spark.DIR_ENV])) == []
