"""A repo's catalog and other processes: the embedded Derby metastore admits one process, and
says so at once; a Derby network server lets several processes share it.

The slow tests start a second process that holds a real SparkSession on a repo (its own
JVM), since the test suite's shared session must not be the one holding the lock.
"""
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from featurestore.config import load_config
from featurestore.errors import SparkSetupError
from featurestore.runtime import derby, metastore
from featurestore.runtime.processes import alive, listening
from featurestore.runtime.session import session_conf
from featurestore.scaffold import init_repo

CHECKOUT = Path(__file__).resolve().parent.parent.parent
URL_KEY = "spark.hadoop.javax.jdo.option.ConnectionURL"

HOLDER = textwrap.dedent("""
    import sys
    from featurestore.config import load_config
    from featurestore.runtime.session import get_spark
    spark = get_spark(load_config(sys.argv[1]), app_name="holder")
    spark.sql("CREATE TABLE IF NOT EXISTS shared_numbers USING delta AS SELECT id FROM range(3)")
    spark.stop()  # a new session in the same process: its own JVM still holds Derby, and that is fine
    spark = get_spark(load_config(sys.argv[1]), app_name="holder")
    assert spark.table("shared_numbers").count() == 3
    print(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid(), flush=True)
    sys.stdin.read()  # hold the session until the test closes our stdin
    spark.stop()
""")


def clean_env(**extra):
    keep = ("FEATURESTORE_METASTORE_SERVER_DIR", "FEATURESTORE_METASTORE_IDLE_SECONDS")  # this run's shared server
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEATURESTORE_", "PYSPARK_")) or k in keep}
    env.update(PYTHONPATH=str(CHECKOUT), TZ="UTC", **extra)
    return env


def yaml_with(repo: Path, spark_conf: dict) -> None:
    lines = "".join(f"    {k}: \"{v}\"\n" for k, v in spark_conf.items())
    (repo / "feature_store.yaml").write_text(f"project: {repo.name}\noffline_store:\n  type: spark\n"
                                             f"  spark_conf:\n{lines}")


def test_derby_version_matches_pyspark_and_the_makefile():
    import pyspark

    assert (Path(pyspark.__file__).parent / "jars" / f"derby-{metastore.DERBY_VERSION}.jar").is_file()
    assert f"DERBY_VERSION := {metastore.DERBY_VERSION}\n" in (CHECKOUT / "Makefile").read_text()


def test_the_default_is_the_shared_server_and_a_users_url_wins(tmp_path, monkeypatch):
    from featurestore.runtime import metastore_server

    monkeypatch.delenv(metastore.ENV_URL, raising=False)
    monkeypatch.delenv(metastore.MODE_ENV, raising=False)
    repo = init_repo(tmp_path / "repo", with_data=False, log=lambda line: None)
    config = load_config(repo)
    conf = session_conf(config)  # starts (or reuses) this run's shared Derby server
    port = metastore_server.current_url().split(":")[3].split("/")[0]
    assert conf[URL_KEY] == f"jdbc:derby://127.0.0.1:{port}/{repo}/data/metastore_db;create=true"
    assert conf["spark.hadoop.javax.jdo.option.ConnectionDriverName"] == "org.apache.derby.jdbc.ClientDriver"
    assert conf["spark.driver.extraClassPath"] == str(CHECKOUT / "jars" / "derby" / "derbyclient-10.16.1.1.jar")

    (repo / "feature_store.yaml").write_text("project: repo\noffline_store:\n  metastore: embedded\n")
    conf = session_conf(load_config(repo))
    assert conf[URL_KEY] == f"jdbc:derby:;databaseName={repo}/data/metastore_db;create=true"
    assert "spark.hadoop.javax.jdo.option.ConnectionDriverName" not in conf

    yaml_with(repo, {URL_KEY: "jdbc:derby://db.internal:1527/{metastore_dir};create=true"})
    conf = session_conf(load_config(repo))
    assert conf[URL_KEY] == f"jdbc:derby://db.internal:1527/{repo}/data/metastore_db;create=true"

    (repo / "feature_store.yaml").write_text(
        "project: repo\noffline_store:\n  metastore_url: jdbc:postgresql://pg:5432/metastore?user=hive\n")
    conf = session_conf(load_config(repo))
    assert conf[URL_KEY] == "jdbc:postgresql://pg:5432/metastore?user=hive"
    assert conf["spark.hadoop.javax.jdo.option.ConnectionDriverName"] == "org.postgresql.Driver"
    assert conf["spark.hadoop.datanucleus.schema.autoCreateTables"] == "true"
    assert conf["spark.driver.extraClassPath"].endswith("postgresql-42.7.14.jar")

    (repo / "feature_store.yaml").write_text("project: repo\noffline_store:\n  metastore_url: thrift://hms:9083\n")
    conf = session_conf(load_config(repo))
    assert conf["spark.hadoop.hive.metastore.uris"] == "thrift://hms:9083" and URL_KEY not in conf

    monkeypatch.setenv(metastore.ENV_URL, "jdbc:postgresql://other:5432/metastore")
    assert session_conf(load_config(repo))[URL_KEY] == "jdbc:postgresql://other:5432/metastore"


def test_embedded_database_folder_is_read_from_either_url_form():
    assert metastore.embedded_database("jdbc:derby:;databaseName=/a b/metastore_db;create=true") == \
        Path("/a b/metastore_db")
    assert metastore.embedded_database("jdbc:derby:/srv/metastore_db;create=true") == Path("/srv/metastore_db")


def test_an_unused_or_unlocked_metastore_passes(tmp_path):
    metastore.check_metastore_free(metastore.embedded_url(tmp_path / "never_created"))
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "dbex.lck").write_text("")  # left by a session that ended: no lock on it
    metastore.check_metastore_free(metastore.embedded_url(tmp_path / "db"))
    metastore.check_metastore_free("jdbc:derby://127.0.0.1:1527/anything")  # servers admit many


def start_holder(repo: Path, env: dict) -> tuple[subprocess.Popen, int]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(repo)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = holder.stdout.readline()
    if not line.strip().isdigit():
        holder.kill()
        raise AssertionError(f"the holder failed to start:\n{holder.stderr.read()[-3000:]}")
    return holder, int(line)


def count_rows(repo: Path, table: str, env: dict) -> int:
    """The rows of a table of the repo's catalog, counted by a process of its own."""
    reader = subprocess.run(
        [sys.executable, "-c", "import sys; from featurestore.config import load_config; "
         "from featurestore.runtime.session import get_spark; "
         "print(get_spark(load_config(sys.argv[1])).table(sys.argv[2]).count())", str(repo), table],
        capture_output=True, text=True, env=env, timeout=300)
    assert reader.returncode == 0, reader.stderr[-3000:]
    return int(reader.stdout.split()[-1])


def stop_holder(holder: subprocess.Popen, jvm_pid: int) -> None:
    """End the holder, then wait for its JVM, which outlives the Python process by a moment."""
    holder.stdin.close()
    try:
        holder.wait(timeout=60)
    except subprocess.TimeoutExpired:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(jvm_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)


@pytest.mark.slow
def test_a_held_embedded_metastore_is_refused_at_once_naming_the_holder(tmp_path):
    repo = init_repo(tmp_path / "busy_repo", with_data=False, log=lambda line: None)
    metastore_dir = repo / "data" / "metastore_db"
    holder, jvm_pid = start_holder(repo, clean_env(FEATURESTORE_METASTORE="embedded"))
    try:
        with pytest.raises(SparkSetupError) as error:
            metastore.check_metastore_free(metastore.embedded_url(metastore_dir))
        message = str(error.value)
        assert message.startswith(f"{metastore_dir}: the embedded Derby metastore is held by pid {jvm_pid} "
                                  f"(java org.apache.spark.deploy.SparkSubmit started by pid {holder.pid}: ")
        assert message.endswith(") and admits one process at a time; stop that Spark session (spark.stop(), or "
                                "shut its notebook kernel down), or share the catalog: offline_store.metastore: "
                                "shared, the default (docs/deployment.md)")

        started = time.monotonic()
        plan = subprocess.run([sys.executable, "-m", "featurestore.cli", "--repo", str(repo), "plan"],
                              capture_output=True, text=True, env=clean_env(FEATURESTORE_METASTORE="embedded"),
                              timeout=120)
        elapsed = time.monotonic() - started
        assert plan.returncode == 1 and elapsed < 10, (elapsed, plan.stderr[-2000:])
        assert plan.stderr.splitlines() == [f"Error: {message}"]
    finally:
        stop_holder(holder, jvm_pid)
    metastore.check_metastore_free(metastore.embedded_url(metastore_dir))  # free again once it ended


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_a_metastore_server_lets_two_processes_share_a_repos_catalog(tmp_path):
    repo = init_repo(tmp_path / "shared_repo", with_data=False, log=lambda line: None)
    port = free_port()
    url = derby.start_server(tmp_path / "server state", port=port)
    assert url == f"jdbc:derby://127.0.0.1:{port}/{{metastore_dir}};create=true"
    env = clean_env(FEATURESTORE_METASTORE_URL=url)
    try:
        holder, jvm_pid = start_holder(repo, env)
        try:  # while the holder keeps its session, a second process reads the table it created
            assert count_rows(repo, "shared_numbers", env) == 3
        finally:
            stop_holder(holder, jvm_pid)
    finally:
        assert derby.stop_server(tmp_path / "server state")
    assert not derby.stop_server(tmp_path / "server state")


EXIT_WITHOUT_STOP = textwrap.dedent("""
    import sys
    from featurestore.config import load_config
    from featurestore.runtime.session import get_spark
    spark = get_spark(load_config(sys.argv[1]), app_name="leaves")
    spark.sql("CREATE TABLE IF NOT EXISTS left_behind USING delta AS SELECT id FROM range(4)")
    # exits without spark.stop(): its JVM lingers a moment after this process is gone
""")


@pytest.mark.slow
def test_by_default_processes_share_a_repos_catalog_with_no_extra_step(tmp_path):
    repo = init_repo(tmp_path / "team_repo", with_data=False, log=lambda line: None)
    env = clean_env()
    holder, jvm_pid = start_holder(repo, env)  # a notebook keeping its session open
    try:
        assert count_rows(repo, "shared_numbers", env) == 3
        profile = subprocess.run([sys.executable, "-m", "featurestore.cli", "--repo", str(repo), "profile",
                                  "shared_numbers"], capture_output=True, text=True, env=env, timeout=300)
        assert profile.returncode == 0, profile.stderr[-3000:]
    finally:
        stop_holder(holder, jvm_pid)
    # a script that ends without spark.stop(), and at once the next process on the repo
    leaves = subprocess.run([sys.executable, "-c", EXIT_WITHOUT_STOP, str(repo)], capture_output=True, text=True,
                            env=env, timeout=300)
    assert leaves.returncode == 0, leaves.stderr[-3000:]
    assert count_rows(repo, "left_behind", env) == 4


LEASE = "import sys, time; from featurestore.runtime import metastore_server; metastore_server.ensure_server(); " \
        "print('up', flush=True); time.sleep(float(sys.argv[1]))"


@pytest.mark.slow
def test_the_shared_server_stays_while_a_user_lives_and_stops_when_idle(tmp_path):
    from featurestore.runtime import metastore_server

    folder = tmp_path / "server"
    env = clean_env(FEATURESTORE_METASTORE_SERVER_DIR=str(folder), FEATURESTORE_METASTORE_IDLE_SECONDS="2")
    user = subprocess.Popen([sys.executable, "-c", LEASE, "8"], stdout=subprocess.PIPE, text=True, env=env)
    assert user.stdout.readline().strip() == "up"
    pid, port = (int(word) for word in (folder / "server").read_text().split())
    time.sleep(6)  # idle time passes, but its user still lives
    assert listening("127.0.0.1", port)
    user.wait(timeout=30)
    deadline = time.monotonic() + 30
    while listening("127.0.0.1", port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not listening("127.0.0.1", port) and not (folder / "server").exists()
    assert "idle: stopped" in (folder / "server.log").read_text()
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:  # its supervisor exits too
        time.sleep(0.1)
    assert not alive(pid)
    # the next user starts a new one
    again = subprocess.run([sys.executable, "-c", LEASE, "0"], capture_output=True, text=True, env=env, timeout=60)
    assert again.stdout.strip() == "up"
    assert metastore_server.live_leases(folder) == []
    new_pid = int((folder / "server").read_text().split()[0])
    os.kill(new_pid, 15)
