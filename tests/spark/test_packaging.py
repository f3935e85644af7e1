"""featurestore as users get it: a wheel installed outside the checkout.

The fast tests pin the package data (template, default Spark settings) and the one
source of truth for the version and the Spark settings. The slow test builds the wheel
and walks a user's first session with it in a fresh virtualenv, in a folder whose path
holds a space.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

import featurestore
from featurestore.runtime import session as fs_spark
from featurestore.scaffold.sample_data import driver_stats_rows

CHECKOUT = Path(__file__).resolve().parent.parent.parent
SHIPPED_SPARK_FILES = ("spark-defaults.conf", "log4j2.properties", "spark-jars.txt")
SESSION_JARS = ["delta-spark_2.13-4.0.1.jar", "delta-storage-4.0.1.jar", "spark-sql-kafka-0-10_2.13-4.0.1.jar",
                "spark-token-provider-kafka-0-10_2.13-4.0.0.jar", "kafka-clients-3.9.1.jar",
                "commons-pool2-2.12.0.jar", "spark-avro_2.13-4.0.1.jar"]


@pytest.mark.parametrize("name", SHIPPED_SPARK_FILES)
def test_the_spark_settings_are_kept_once_in_the_package(name):
    """spark_conf/NAME is a link to featurestore/spark_defaults/NAME: one file, which the jobs
    read in a checkout and an installed package ships."""
    link = CHECKOUT / "spark_conf" / name
    assert link.is_symlink() and link.resolve() == (CHECKOUT / "featurestore" / "spark_defaults" / name).resolve()


def test_the_version_is_written_once():
    assert "version = attr: featurestore.__version__" in (CHECKOUT / "setup.cfg").read_text()
    assert featurestore.__version__ == "0.1.0"


def test_settings_fall_back_to_the_package_copy_file_by_file(tmp_path, monkeypatch):
    (tmp_path / "spark-defaults.conf").write_text("spark.master local[1]\nspark.driver.memory 1g\n")
    monkeypatch.setenv("FEATURESTORE_SPARK_CONF_DIR", str(tmp_path))
    assert fs_spark.read_spark_defaults() == {"spark.master": "local[1]", "spark.driver.memory": "1g"}
    assert fs_spark.spark_conf_file("log4j2.properties") == CHECKOUT / "spark_conf" / "log4j2.properties"
    monkeypatch.setenv("FEATURESTORE_SPARK_CONF_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(fs_spark.SparkSetupError, match=r"FEATURESTORE_SPARK_CONF_DIR=.*/nowhere is not a folder"):
        fs_spark.read_spark_defaults()


def test_jars_come_from_the_given_folder_or_the_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv("FEATURESTORE_JARS_DIR", raising=False)
    assert fs_spark.session_jars(fetch=False) == [CHECKOUT / "jars" / name for name in SESSION_JARS]
    monkeypatch.setenv("FEATURESTORE_JARS_DIR", str(tmp_path))
    with pytest.raises(fs_spark.SparkSetupError) as error:
        fs_spark.session_jars()
    assert str(error.value).startswith(f"FEATURESTORE_JARS_DIR={tmp_path} lacks {', '.join(SESSION_JARS)}; copy the "
                                       f"jars of io.delta:delta-spark_2.13:4.0.1, io.delta:delta-storage:4.0.1, "
                                       f"org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.1, ")


def test_java_options_with_spaces_stay_one_argument():
    assert fs_spark.java_option("derby.system.home", "/srv/data") == "-Dderby.system.home=/srv/data"
    assert fs_spark.java_option("derby.system.home", "/home/me/my work/data") == \
        '"-Dderby.system.home=/home/me/my work/data"'
    assert fs_spark.java_option("x", 'a "b"\\c') == '"-Dx=a \\"b\\"\\\\c"'


def build_wheel(out: Path) -> Path:
    """`pip wheel --no-deps` of a copy of the sources, so the build leaves nothing in the checkout."""
    source = out / "src"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, source / name)
    shutil.copytree(CHECKOUT / "featurestore", source / "featurestore",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out / "dist"), str(source)], check=True, capture_output=True, text=True)
    (wheel,) = (out / "dist").glob("featurestore-*.whl")
    return wheel


@pytest.fixture(scope="module")
def user_venv(tmp_path_factory):
    """A fresh virtualenv holding the wheel just built, and a clean environment for it.

    The venv gets the wheel itself with `--no-deps`; its dependencies (pyspark, delta-spark,
    protobuf, ...) come from the checkout's .venv through a .pth line naming that
    site-packages. That keeps the test offline and fast, and honest: a .pth path line adds
    only that folder, so the checkout's editable-install hook (itself a .pth there) is not
    run and the checkout's featurestore cannot leak in (asserted below). The environment has
    no PYTHONPATH, no FEATURESTORE_/SPARK_/PYSPARK_ variables, and an empty per-user cache.
    """
    root = tmp_path_factory.mktemp("packaging")
    wheel = build_wheel(root)
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("featurestore/scaffold/template/feature_store.yaml", "featurestore/scaffold/template/features.py",
                    *(f"featurestore/spark_defaults/{name}" for name in SHIPPED_SPARK_FILES)):
        assert shipped in names

    venv = root / "user venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, text=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "checkout_venv_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FEATURESTORE_", "PYSPARK_", "SPARK_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", XDG_CACHE_HOME=str(root / "cache"), TZ="UTC")
    return python, site, env


def run_in(env, cwd, *command, expect=0):
    result = subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == expect, f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_runs_a_users_first_session(user_venv, tmp_path):
    """init, apply, materialize-incremental, an online read and a training set with the installed
    wheel, in a folder outside the checkout whose path holds a space, the Delta jars given as a
    user would, through FEATURESTORE_JARS_DIR."""
    python, site, env = user_venv
    env = dict(env, FEATURESTORE_JARS_DIR=str(CHECKOUT / "jars"))
    work = tmp_path / "my work"
    work.mkdir()

    def run(*command, cwd=work):
        return run_in(env, cwd, *command).stdout

    where = run(str(python), "-c", "import featurestore, sys; print(featurestore.__file__); print(featurestore.__version__);"
                                   " print(any('/work/main' == p.rstrip('/') for p in sys.path))")
    assert where.splitlines() == [str(site / "featurestore" / "__init__.py"), featurestore.__version__, "False"]

    out = run("featurestore", "init", "myrepo")
    repo = work / "myrepo"
    assert out.splitlines()[:2] == [f"Creating {repo}: feature_store.yaml, features.py, data/",
                                    "Writing sample Delta tables driver_hourly_stats, trip_events and driver_entities "
                                    "(without Spark)"]
    assert "driver_hourly_stats" in run("featurestore", "apply", cwd=repo)
    try:  # on the repo's warm Spark, the default for the CLI, started here
        run("featurestore", "materialize-incremental", "now", cwd=repo)
    finally:
        run("featurestore", "spark", "stop", cwd=repo)
    assert (repo / "data" / "metastore_db").is_dir() and not (work / "data").exists()
    online = json.loads(run("featurestore", "get-online-features", "-f", "driver_hourly_stats:conv_rate",
                            "-e", "driver_id=1001", cwd=repo))
    newest_1001 = [row for row in driver_stats_rows(datetime.now(UTC)) if row[0] == 1001][-1]
    assert online["statuses"] == {"driver_id": ["PRESENT"], "conv_rate": ["PRESENT"]}
    assert online["values"]["conv_rate"] == [pytest.approx(newest_1001[2], abs=1e-6)]

    training = run(str(python), "-c", textwrap.dedent("""
        from featurestore import FeatureStore
        store = FeatureStore(repo_path=".")
        job = store.get_historical_features("driver_entities", ["driver_hourly_stats:conv_rate"])
        frame = job.to_df()
        print(len(frame), sorted(frame.columns), int(frame["conv_rate"].notna().sum()))
    """), cwd=repo)
    assert training.split() == ["200", "['conv_rate',", "'driver_id',", "'event_timestamp',",
                                "'label_driver_reported_satisfaction']", "200"]


UNREACHABLE = "-Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=9 -Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=9"
NO_NETWORK = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}  # for Python's downloads


@pytest.mark.slow
def test_installed_package_fetches_the_session_jars_once_then_starts_offline(user_venv, tmp_path):
    """Without FEATURESTORE_JARS_DIR and outside a checkout, the jars come from the per-user cache.

    "No network" is a real one for the JVM and for Python's downloads: every HTTP(S) connection
    goes through a proxy on a closed port, and user.home is an empty folder so no local Maven
    repository helps. The download then fails and the error names the coordinates and both
    ways out.
    With the network, the first call fetches the jars (the same bytes as the checkout's
    jars/) into $XDG_CACHE_HOME/featurestore/jars; after that no network is needed.
    """
    python, _, env = user_venv
    env = dict(env, XDG_CACHE_HOME=str(tmp_path / "cache"))
    offline = dict(env, JAVA_TOOL_OPTIONS=f"-Duser.home={tmp_path / 'home'} {UNREACHABLE}", **NO_NETWORK)
    cache = tmp_path / "cache" / "featurestore" / "jars"
    ask = "from featurestore.runtime.session import session_jars; print(*session_jars(), sep=chr(10))"

    init = "import sys; from featurestore.cli import main; sys.exit(main(['init', 'r']))"
    run_in(offline, tmp_path, str(python), "-c", init)  # no JVM, no jar: offline is fine
    run_in(offline, tmp_path / "r", str(python), "-c", init.replace("['init', 'r']", "['apply']"))
    materialize = "import sys; from featurestore.cli import main; sys.exit(main(['materialize-incremental', 'now']))"
    failed = run_in(offline, tmp_path / "r", str(python), "-c", materialize, expect=1)
    error = failed.stderr.splitlines()[-1]
    assert error.startswith("Error: Spark's jars io.delta:delta-spark_2.13:4.0.1, io.delta:delta-storage:4.0.1, "
                            "org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.1, ")
    assert ("org.apache.spark:spark-avro_2.13:4.0.1 could not be fetched from Maven Central ([Errno 111] Connection "
            "refused from repo1.maven.org") in error, error
    assert error.endswith(f"; is the network reachable?); either set FEATURESTORE_JARS_DIR to a folder holding their "
                          f"jar files, or put the jars in {cache} (e.g. `mvn dependency:copy -Dartifact=COORDINATE "
                          f"-DoutputDirectory={cache}`)")

    fetched = run_in(env, tmp_path, str(python), "-c", ask).stdout.split()
    assert fetched == [str(cache / name) for name in SESSION_JARS]
    for jar in fetched:
        assert Path(jar).read_bytes() == (CHECKOUT / "jars" / Path(jar).name).read_bytes()

    again = run_in(offline, tmp_path, str(python), "-c", ask)
    assert again.stdout.split() == fetched and "fetching" not in again.stderr


@pytest.mark.slow
def test_installed_package_fetches_the_derby_server_and_client_jars_the_same_way(user_venv, tmp_path):
    """`python -m featurestore.runtime.metastore up` outside a checkout needs derbynet, a session using
    the server needs derbyclient: both come from the per-user cache, fetched once."""
    python, _, env = user_venv
    env = dict(env, XDG_CACHE_HOME=str(tmp_path / "cache"))
    offline = dict(env, JAVA_TOOL_OPTIONS=f"-Duser.home={tmp_path / 'home'} {UNREACHABLE}", **NO_NETWORK)
    cache = tmp_path / "cache" / "featurestore" / "jars" / "derby"
    ask = "from featurestore.runtime.jars import derby_jar; print(derby_jar('derbynet'), derby_jar('derbyclient'))"

    failed = run_in(offline, tmp_path, str(python), "-m", "featurestore.runtime.metastore", "up", expect=1)
    assert failed.stderr.splitlines()[-1].startswith(
        "error: Derby jars org.apache.derby:derbynet:10.16.1.1 could not be fetched from Maven Central "
        "([Errno 111] Connection refused from repo1.maven.org; is the network reachable?)")

    fetched = run_in(env, tmp_path, str(python), "-c", ask).stdout.split()
    assert fetched == [str(cache / "derbynet-10.16.1.1.jar"), str(cache / "derbyclient-10.16.1.1.jar")]
    for jar in fetched:
        assert Path(jar).read_bytes() == (CHECKOUT / "jars" / "derby" / Path(jar).name).read_bytes()
    assert run_in(offline, tmp_path, str(python), "-c", ask).stdout.split() == fetched
