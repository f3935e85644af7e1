"""The one SparkSession factory, used by the library, the jobs and the tests.

Settings come from spark_conf/spark-defaults.conf, then feature_store.yaml's
offline_store.spark_conf, then what this module must set: Hive support with the Derby
metastore and the warehouse under the repo's data folder, Delta Lake, UTC. Delta's jars
are loaded from jars/ (fetched once by `make setup`), so a session starts offline.
When a session already runs (spark-submit, a notebook, the test suite) it is reused.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from featurestore.errors import SparkSetupError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SPARK_CONF_DIR = Path(os.environ.get("FEATURESTORE_SPARK_CONF_DIR", PROJECT_ROOT / "spark_conf"))
JARS_DIR = Path(os.environ.get("FEATURESTORE_JARS_DIR", PROJECT_ROOT / "jars"))


def read_spark_defaults(path: Path | None = None) -> dict[str, str]:
    """Parse a spark-defaults.conf file: `key value` lines, '#' comments."""
    path = path or SPARK_CONF_DIR / "spark-defaults.conf"
    conf = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition(" ")
                conf[key] = value.strip()
    return conf


def delta_coordinates() -> list[str]:
    lines = (SPARK_CONF_DIR / "delta-jars.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def delta_jars() -> list[Path]:
    """The Delta jar files on disk, or an error naming the missing ones and how to get them."""
    jars, missing = [], []
    for coordinate in delta_coordinates():
        _, artifact, version = coordinate.split(":")
        jar = JARS_DIR / f"{artifact}-{version}.jar"
        (jars if jar.exists() else missing).append(jar)
    if missing:
        raise SparkSetupError(
            f"Delta Lake jars missing: {', '.join(str(j) for j in missing)}; run `make setup` (it copies "
            f"{', '.join(delta_coordinates())} from Maven Central into {JARS_DIR})")
    return jars


def under_spark_submit() -> bool:
    """True inside a job launched by spark-submit: the JVM, master and jars are already chosen."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def session_conf(config=None, master: str | None = None, overrides: dict | None = None) -> dict[str, str]:
    """All settings a new session gets, in order of precedence (later wins).

    Under spark-submit, spark-defaults.conf, the master and the jars came with the
    command line (--properties-file, --master, --jars) and are not set again here; only
    the repo's own settings (warehouse, metastore, Delta, UTC, its spark_conf) are.
    """
    launching = not under_spark_submit()
    conf = read_spark_defaults() if launching else {}
    if config is not None:
        warehouse, metastore = config.warehouse_dir, config.metastore_dir
        conf.update({str(k): str(v) for k, v in config.offline_store.spark_conf.items()})
    else:
        data = Path(os.environ.get("FEATURESTORE_DATA_DIR", Path.cwd() / "data")).resolve()
        warehouse, metastore = data / "spark-warehouse", data / "metastore_db"
    conf.update({
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore};create=true",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
    })
    if launching:
        log4j = SPARK_CONF_DIR / "log4j2.properties"
        conf.update({
            "spark.driver.extraJavaOptions": f"-Duser.timezone=UTC -Dderby.system.home={metastore.parent} "
                                             f"-Dlog4j.configurationFile={log4j}",
            "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
            "spark.jars": ",".join(str(j) for j in delta_jars()),
        })
        if master:
            conf["spark.master"] = master
    conf.update(overrides or {})
    return conf


def get_spark(config=None, app_name: str = "featurestore", master: str | None = None,
              overrides: dict | None = None):
    """The active SparkSession, or a new one configured for `config` (a RepoConfig)."""
    from pyspark.sql import SparkSession

    _quiet_captured_exception_logs()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    conf = session_conf(config, master, overrides)
    if config is not None:
        config.warehouse_dir.mkdir(parents=True, exist_ok=True)
        config.metastore_dir.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TZ", "UTC")  # Python-side datetimes from collect() are local time
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # bind to loopback, no hostname warnings
    # Python workers must run this interpreter (with featurestore installed), not whatever
    # `python3` is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.enableHiveSupport().getOrCreate()
    except Exception as error:
        raise SparkSetupError(f"Spark failed to start: {error}; check JAVA_HOME points at Java 17 or 21 "
                              f"(`make` picks one) and spark_conf/spark-defaults.conf") from error
    return session


@functools.cache  # once per process: get_spark() runs on every FeatureStore.spark access
def _quiet_captured_exception_logs() -> None:
    """PySpark logs every analysis error it captures as a JSON stack dump on stderr; featurestore
    turns those errors into its own one-line messages, so the dumps are only noise."""
    import logging

    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def spark_submit_command(script: str | Path, args: list[str], master: str | None = None,
                         conf: dict | None = None) -> list[str]:
    """The spark-submit command line for one of jobs/, with our conf and the Delta jars.

    It starts with `env SPARK_HOME=... PYSPARK_PYTHON=...` so that it runs the same way
    from any shell, whether or not the virtualenv is activated.
    """
    import pyspark

    spark_home = Path(pyspark.__file__).resolve().parent
    log4j = SPARK_CONF_DIR / "log4j2.properties"
    command = ["env", f"SPARK_HOME={spark_home}", f"PYSPARK_PYTHON={sys.executable}",
               f"PYSPARK_DRIVER_PYTHON={sys.executable}", "TZ=UTC",
               str(spark_home / "bin" / "spark-submit"),
               "--properties-file", str(SPARK_CONF_DIR / "spark-defaults.conf"),
               "--jars", ",".join(str(j) for j in delta_jars()),
               "--conf", f"spark.driver.extraJavaOptions=-Duser.timezone=UTC -Dlog4j.configurationFile={log4j}",
               "--conf", f"spark.pyspark.python={sys.executable}"]
    if master:
        command += ["--master", master]
    for key, value in (conf or {}).items():
        command += ["--conf", f"{key}={value}"]
    return command + [str(script)] + list(args)
