"""The one SparkSession factory, used by the library, the jobs and the tests.

Settings come from spark-defaults.conf, then feature_store.yaml's offline_store.spark_conf,
then what this module must set: Hive support with the warehouse under the repo's data
folder, Delta Lake, UTC. The metastore is the repo's embedded Derby database unless the
user names another (FEATURESTORE_METASTORE_URL, or spark.hadoop.javax.jdo.option.ConnectionURL
in spark-defaults.conf or spark_conf; see featurestore/runtime/metastore.py).

spark-defaults.conf, log4j2.properties and spark-jars.txt are read from the first folder
holding them: FEATURESTORE_SPARK_CONF_DIR, the checkout's spark_conf/, then the copy shipped
in the package (featurestore/spark_defaults/). Delta's jars are loaded from disk (see
session_jars), so a session starts offline. When a session already runs (spark-submit, a
notebook, the test suite) it is reused.

Spark Connect. When SPARK_REMOTE (or else offline_store.spark_remote) names a server,
sc://HOST:PORT, get_spark returns a Spark Connect session to it instead, and no JVM
starts in this process (outside spark-submit, whose JVM is already there). The server
is started by `make spark-up` (featurestore/runtime/spark_server.py) with session_conf's
settings for the repo; remote_session checks once per process that it serves the
repo's warehouse and metastore. The library needs no JVM-only API (Delta metadata is
read with SQL, materialization runs through mapInArrow), so everything works over
Connect; a user's own JVM-only code (a transformation calling df.rdd) fails in one line
(connect_limitation).

Where a cold command's time goes (95% is starting Spark and its catalog): docs/performance.md.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from featurestore.errors import SparkSetupError
from featurestore.runtime import metastore, unregistered_tables
from featurestore.runtime.jars import (  # noqa: F401 - where a session's files come from, named here too
    PACKAGE_SPARK_CONF,
    checkout_root,
    client_jar,
    fetch_jars,
    jar_cache_dir,
    postgres_jar,
    read_spark_defaults,
    session_jars,
    spark_conf_file,
)
from featurestore.runtime.processes import listening


def java_option(name: str, value: str | Path) -> str:
    """`-Dname=value`, quoted when needed so Spark's option parser keeps it one argument.

    spark.driver.extraJavaOptions is split on spaces unless quoted; a path such as
    /home/me/my work/data would otherwise become a stray argument the JVM takes for its
    main class.
    """
    option = f"-D{name}={value}"
    if any(c.isspace() or c in "\"'\\" for c in option):
        return '"' + option.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return option


def under_spark_submit() -> bool:
    """True inside a job launched by spark-submit: the JVM, master and jars are already chosen."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def session_conf(config=None, master: str | None = None, overrides: dict | None = None) -> dict[str, str]:
    """All settings a new session gets, in order of precedence (later wins).

    Under spark-submit, spark-defaults.conf, the master and the jars came with the
    command line (--properties-file, --master, --jars) and are not set again here; only
    the repo's own settings (warehouse, metastore, Delta, UTC, its spark_conf) are.
    The metastore URL is the one exception to "ours win": a URL the user set
    (FEATURESTORE_METASTORE_URL, spark_conf, spark-defaults.conf) beats the embedded default.
    """
    launching = not under_spark_submit()
    jars = session_jars() if launching else []  # first: without them nothing else matters
    conf = read_spark_defaults() if launching else {}
    if config is not None:
        warehouse, metastore_dir = config.warehouse_dir, config.metastore_dir
        conf.update({str(k): str(v) for k, v in config.offline_store.spark_conf.items()})
    else:
        data = Path(os.environ.get("FEATURESTORE_DATA_DIR", Path.cwd() / "data")).resolve()
        warehouse, metastore_dir = data / "spark-warehouse", data / "metastore_db"
    conf.update(metastore.connection_conf(conf, metastore_dir, **metastore_settings(config)))
    conf.update({
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
    })
    if launching:
        log4j = spark_conf_file("log4j2.properties")
        conf.update({
            "spark.driver.extraJavaOptions": " ".join([
                "-Duser.timezone=UTC", java_option("derby.system.home", metastore_dir.parent),
                java_option("log4j.configurationFile", log4j)]),
            "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
            "spark.jars": ",".join(str(j) for j in jars),
        })
        client = metastore.client_classpath(conf)
        if client:
            conf["spark.driver.extraClassPath"] = os.pathsep.join(
                p for p in (conf.get("spark.driver.extraClassPath"), client) if p)
        if master:
            conf["spark.master"] = master
    conf.update(overrides or {})
    return conf


def metastore_settings(config) -> dict:
    """The repo's catalog settings (offline_store.metastore, metastore_url, metastore_password_env)."""
    if config is None:
        return {}
    offline = config.offline_store
    return {"mode": offline.metastore, "configured_url": offline.metastore_url,
            "password_env": offline.metastore_password_env}


# Called with one line before a new local session starts; the CLI sets it when a person
# watches its terminal, so a cold start says what it waits for (library code never prints).
on_start = None
# Set by the `featurestore` CLI: its commands use the repo's warm Spark (featurestore.runtime.warm_spark).
from_cli = False


def spark_running() -> bool:
    """Whether this process already has a Spark (spark-submit's, a notebook's, the test suite's
    session): asking it costs no JVM start. Never imports pyspark."""
    if under_spark_submit():
        return True
    if "pyspark.sql" not in sys.modules:
        return False
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession() is not None


def get_spark(config=None, app_name: str = "featurestore", master: str | None = None,
              overrides: dict | None = None):
    """The active SparkSession, or a new one configured for `config` (a RepoConfig).

    With a Spark Connect server named (SPARK_REMOTE, else feature_store.yaml's
    offline_store.spark_remote) and outside spark-submit, a Spark Connect session to it
    instead: no JVM starts in this process (see remote_session). Else, without a session in
    this process, the repo's warm Spark when offline_store.warm_spark asks for it
    (featurestore.runtime.warm_spark; a session given its own master or settings is local).
    Tables `featurestore init` wrote without Spark are registered in its catalog first
    (featurestore.runtime.unregistered_tables).
    """
    session = _session(config, app_name, master, overrides)
    if config is not None and unregistered_tables.pending(config.warehouse_dir):
        unregistered_tables.register(session, config.warehouse_dir)
    return session


def _session(config=None, app_name: str = "featurestore", master: str | None = None,
              overrides: dict | None = None):
    """get_spark's session, before the pending tables are registered."""
    remote = None if under_spark_submit() else remote_url(config)
    if remote is not None:
        return remote_session(*remote, config)
    from pyspark.sql import SparkSession

    _quiet_captured_exception_logs()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    from featurestore.runtime import warm_spark

    if master is None and not overrides and warm_spark.wanted(config, from_cli):
        return warm_session(config)
    conf = session_conf(config, master, overrides)
    metastore.check_metastore_free(conf.get(metastore.URL_KEY, ""))
    if config is not None:
        config.warehouse_dir.mkdir(parents=True, exist_ok=True)
        config.metastore_dir.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TZ", "UTC")  # Python-side datetimes from collect() are local time
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # bind to loopback, no hostname warnings
    # Python workers must run this interpreter (with featurestore installed), not whatever
    # `python3` is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if on_start is not None:
        on_start("starting Spark (a JVM, the Hive catalog, Delta); a cold start takes 5 to 15 s: `make spark-up` "
                 "keeps one running")
    builder = SparkSession.builder.appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.enableHiveSupport().getOrCreate()
    except Exception as error:
        message = (str(error).strip().splitlines() or [type(error).__name__])[0]
        if _java_failed(error):
            raise SparkSetupError(f"Spark failed to start: {message}; check JAVA_HOME points at Java 17 or 21 "
                                  f"(`make` picks one) and {spark_conf_file('spark-defaults.conf')}") from error
        raise SparkSetupError(f"Spark failed to start: {type(error).__name__}: {message}; set FEATURESTORE_DEBUG=1 "
                              f"for the traceback") from error
    return session


def _java_failed(error: Exception) -> bool:
    """Whether starting the JVM itself failed (the one case where JAVA_HOME is the likely cause),
    rather than something in this process (a module that cannot be imported again, say)."""
    text = f"{getattr(error, 'getErrorClass', lambda: '')()} {error}"
    return any(sign in text for sign in ("JAVA_GATEWAY_EXITED", "Java gateway", "JAVA_HOME", "java: not found",
                                         "UnsupportedClassVersionError", "No such file or directory: 'java'"))


# --- Spark Connect ---------------------------------------------------------------------------

REMOTE_ENV = "SPARK_REMOTE"
CONNECT_PORT = 15002  # Spark Connect's default port


def parse_remote_url(url: str) -> tuple[str, int]:
    """(host, port) of a Spark Connect URL sc://HOST[:PORT][/;param=value...]; ValueError saying
    what is wrong otherwise."""
    from urllib.parse import urlsplit

    example = f"sc://127.0.0.1:{CONNECT_PORT}"
    if not isinstance(url, str) or not url.startswith("sc://"):
        raise ValueError(f"must be a Spark Connect URL such as {example}, got {url!r}")
    parts = urlsplit("http://" + url[len("sc://"):].split("/", 1)[0])
    try:
        port = parts.port or CONNECT_PORT
    except ValueError:
        raise ValueError(f"has a port that is not a number from 1 to 65535 in {url!r}; e.g. {example}") from None
    if not parts.hostname or not 1 <= port <= 65535:
        raise ValueError(f"needs a host and a port from 1 to 65535, got {url!r}; e.g. {example}")
    return parts.hostname, port


def remote_url(config=None) -> tuple[str, str] | None:
    """(url, where it was set) of the Spark Connect server to use, or None for a local session.

    SPARK_REMOTE (when not empty) wins over feature_store.yaml's offline_store.spark_remote,
    as FEATURESTORE_METASTORE_URL wins over the file's metastore URL.
    """
    url = os.environ.get(REMOTE_ENV, "").strip()
    where = REMOTE_ENV
    if not url and config is not None and config.offline_store.spark_remote:
        url, where = config.offline_store.spark_remote, f"offline_store.spark_remote in {config.repo_path}"
    if not url:
        return None
    try:
        parse_remote_url(url)
    except ValueError as error:
        raise SparkSetupError(f"{where} {error}; or unset it to start Spark in this process") from None
    return url, where


_checked_servers: set = set()


def warm_session(config):
    """A session on the repo's warm Spark: the CLI's shared one, else (the Python API, or the
    shared one closed by the server's own session timeout) a session of this process's own."""
    from featurestore.runtime import warm_spark

    shared, own = warm_spark.ensure(config, on_start)
    where = "the repo's warm Spark (offline_store.warm_spark)"
    if from_cli:
        try:
            return remote_session(shared, where, config)
        except Exception as error:
            if "SESSION_CLOSED" not in str(error):
                raise
    return remote_session(own, where, config)


def remote_session(url: str, where: str, config=None):
    """A Spark Connect session to the server at `url`, checked (once per process) to serve
    `config`'s warehouse and metastore: a server started for another repo would otherwise
    read and validate against another catalog without a word."""
    from pyspark.sql import SparkSession

    host, port = parse_remote_url(url)
    if not listening(host, port):
        repo = f" REPO={config.repo_path}" if config is not None else ""
        raise SparkSetupError(f"no Spark Connect server answers at {url} (from {where}); start one with "
                              f"`make spark-up{repo}`, or unset {REMOTE_ENV} / offline_store.spark_remote to start "
                              f"Spark in this process")
    _quiet_captured_exception_logs()
    os.environ.setdefault("TZ", "UTC")  # as for a local session: collect() gives local-time datetimes
    session = SparkSession.builder.remote(url).getOrCreate()
    key = (url, config.repo_path if config is not None else None)
    if config is not None and key not in _checked_servers:
        check_server_serves(session, url, config)
    _checked_servers.add(key)
    return session


def _local_path(value: str | None) -> str | None:
    if value is None:
        return None
    return str(Path(value[len("file:"):] if value.startswith("file:") else value).resolve())


def check_server_serves(session, url: str, config) -> None:
    """Raise unless the server at `url` uses config's warehouse and metastore."""
    conf = read_spark_defaults()
    conf.update({str(k): str(v) for k, v in config.offline_store.spark_conf.items()})
    expected_conf = metastore.connection_conf(conf, config.metastore_dir, start=False, **metastore_settings(config))
    key = metastore.URIS_KEY if metastore.URIS_KEY in expected_conf else metastore.URL_KEY
    expected = {"warehouse": str(config.warehouse_dir), "metastore": expected_conf[key]}
    actual = {"warehouse": _local_path(session.conf.get("spark.sql.warehouse.dir", None)),
              "metastore": session.conf.get(key, None)}
    for what in ("warehouse", "metastore"):
        if actual[what] != expected[what]:
            raise SparkSetupError(
                f"the Spark Connect server at {url} serves another catalog: its {what} is {actual[what]}, repo "
                f"{config.repo_path} uses {expected[what]}; start a server for this repo (`make spark-down`, then "
                f"`make spark-up REPO={config.repo_path}`) or unset {REMOTE_ENV} / offline_store.spark_remote")


def is_remote(spark) -> bool:
    """True for a Spark Connect session (no JVM in this process)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


RUN_LOCALLY = (f"run it without {REMOTE_ENV} / offline_store.spark_remote, after `make spark-down` (the server holds "
               f"the repo's embedded metastore) or with the shared catalog, the default (docs/deployment.md)")


def connect_limitation(error: BaseException) -> str | None:
    """Why a Spark Connect failure happened, when it is one of the known gaps of Spark Connect,
    else None: Delta's DeltaTable API (versions, history, detail, merge) needs Delta's Spark
    Connect server plugin, which Delta 4.0.1 does not publish; RDDs and the SparkContext do
    not exist for a Connect client."""
    if "pyspark.sql.connect.session" not in sys.modules:  # not a Connect client
        return None
    text = str(error)
    if "No handler found for extension" in text:
        return ("it uses Delta's DeltaTable API (table versions, history, merge), which needs Delta's Spark "
                "Connect server plugin, not published for Delta 4.0.1")
    if "[NOT_IMPLEMENTED]" in text or "JVM_ATTRIBUTE_NOT_SUPPORTED" in text:
        return f"it uses a JVM-only API ({text.strip().splitlines()[0][:120]})"
    return None


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
    log4j = spark_conf_file("log4j2.properties")
    command = ["env", f"SPARK_HOME={spark_home}", f"PYSPARK_PYTHON={sys.executable}",
               f"PYSPARK_DRIVER_PYTHON={sys.executable}", "TZ=UTC",
               str(spark_home / "bin" / "spark-submit"),
               "--properties-file", str(spark_conf_file("spark-defaults.conf")),
               "--jars", ",".join(str(j) for j in session_jars()),
               "--conf", "spark.driver.extraJavaOptions=-Duser.timezone=UTC "
                         + java_option("log4j.configurationFile", log4j),
               "--conf", f"spark.pyspark.python={sys.executable}"]
    clients = [jar for jar in (client_jar(), postgres_jar(fetch=False)) if jar is not None]
    if clients:  # lets the job reach the shared Derby server or a PostgreSQL metastore
        command += ["--driver-class-path", os.pathsep.join(str(jar) for jar in clients)]
    if master:
        command += ["--master", master]
    for key, value in (conf or {}).items():
        command += ["--conf", f"{key}={value}"]
    return [*command, str(script), *args]
