"""Where Spark's files come from: its settings files and the jars a session needs.

spark-defaults.conf, log4j2.properties and spark-jars.txt are read from the first folder
holding them: FEATURESTORE_SPARK_CONF_DIR, the checkout's spark_conf/, then the copy shipped
in the package (featurestore/spark_defaults/). Jars (Delta's and Spark's Kafka and Avro
connectors, listed in spark-jars.txt; Derby's network server and client; PostgreSQL's JDBC
driver) come from FEATURESTORE_JARS_DIR, the checkout's jars/
(`make setup`) or the per-user cache, else they are downloaded once into that cache from
Maven Central (the named jars only, as `make setup` copies them), so later starts are offline.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from featurestore.errors import SparkSetupError

DERBY_VERSION = "10.16.1.1"  # pyspark 4.0.1's bundled derby; derbynet/derbyclient must match it
POSTGRES_JDBC = "org.postgresql:postgresql:42.7.14"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # featurestore/
PROJECT_ROOT = PACKAGE_DIR.parent
PACKAGE_SPARK_CONF = PACKAGE_DIR / "spark_defaults"


def checkout_root() -> Path | None:
    """The source checkout featurestore runs from, or None when it is installed from a wheel."""
    if (PROJECT_ROOT / "setup.cfg").is_file() and (PROJECT_ROOT / "spark_conf").is_dir():
        return PROJECT_ROOT
    return None


def spark_conf_dirs() -> list[Path]:
    """Where Spark settings are looked up, first match wins per file."""
    dirs = []
    given = os.environ.get("FEATURESTORE_SPARK_CONF_DIR")
    if given:
        if not Path(given).is_dir():
            raise SparkSetupError(f"FEATURESTORE_SPARK_CONF_DIR={given} is not a folder; point it at a folder "
                                  f"holding spark-defaults.conf (and optionally log4j2.properties), or unset it")
        dirs.append(Path(given).resolve())
    root = checkout_root()
    if root is not None:
        dirs.append(root / "spark_conf")
    dirs.append(PACKAGE_SPARK_CONF)
    return dirs


def spark_conf_file(name: str) -> Path:
    """spark-defaults.conf, log4j2.properties or spark-jars.txt from the first folder that has it."""
    for folder in spark_conf_dirs():
        if (folder / name).is_file():
            return folder / name
    raise SparkSetupError(f"{PACKAGE_SPARK_CONF / name} is missing from the installed package; reinstall "
                          f"featurestore")


def read_spark_defaults(path: Path | None = None) -> dict[str, str]:
    """Parse a spark-defaults.conf file: `key value` lines, '#' comments."""
    path = path or spark_conf_file("spark-defaults.conf")
    conf = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition(" ")
                conf[key] = value.strip()
    return conf


def session_coordinates() -> list[str]:
    lines = spark_conf_file("spark-jars.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def jar_cache_dir() -> Path:
    """The per-user folder where fetched jars are kept: $XDG_CACHE_HOME/featurestore/jars."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "featurestore" / "jars"


def _jar_files(folder: Path, coordinates: list[str]) -> list[Path]:
    return [folder / "{1}-{2}.jar".format(*coordinate.split(":")) for coordinate in coordinates]


def session_jars(fetch: bool = True) -> list[Path]:
    """The jar files every session loads (spark-jars.txt: Delta, Kafka, Avro), on disk.

    From FEATURESTORE_JARS_DIR when set (and only there), else from the checkout's jars/
    or the per-user cache, whichever holds them all. Otherwise (fetch=True) they are
    downloaded once into the cache from Maven Central (fetch_jars).
    """
    coordinates = session_coordinates()
    given = os.environ.get("FEATURESTORE_JARS_DIR")
    if given:
        jars = _jar_files(Path(given).resolve(), coordinates)
        missing = [j.name for j in jars if not j.is_file()]
        if missing:
            raise SparkSetupError(f"FEATURESTORE_JARS_DIR={given} lacks {', '.join(missing)}; copy the jars of "
                                  f"{', '.join(coordinates)} there (e.g. `mvn dependency:copy -Dartifact=COORDINATE "
                                  f"-DoutputDirectory={given}`), or unset it to fetch them into {jar_cache_dir()}")
        return jars
    folders = ([checkout_root() / "jars"] if checkout_root() else []) + [jar_cache_dir()]
    for folder in folders:
        jars = _jar_files(folder, coordinates)
        if all(j.is_file() for j in jars):
            return jars
    if not fetch:
        raise SparkSetupError(f"Spark's jars {', '.join(coordinates)} are not in {' or '.join(map(str, folders))}; "
                              f"set FEATURESTORE_JARS_DIR to a folder holding them, or start a session once with "
                              f"network access to fetch them")
    return fetch_jars(coordinates, jar_cache_dir())


def fetch_jars(coordinates: list[str], target: Path, timeout: float = 600, what: str = "Spark's jars") -> list[Path]:
    """Download each coordinate's jar, that jar only, from Maven Central (or
    FEATURESTORE_MAVEN_REPOSITORY) into `target` once, checked against its published SHA-1, so
    later starts are offline. Only the named jars: pyspark ships what they depend on, and a
    transitive resolution would ask for versions the list deliberately avoids (Spark's Kafka
    connector 4.0.1 names a token provider 4.0.1 that Maven Central here does not serve)."""
    import hashlib
    import urllib.error
    import urllib.request

    repository = os.environ.get("FEATURESTORE_MAVEN_REPOSITORY", MAVEN_CENTRAL).rstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    jars = _jar_files(target, coordinates)
    print(f"featurestore: fetching {', '.join(coordinates)} once into {target}", file=sys.stderr)
    deadline = time.monotonic() + timeout
    failures = []
    for coordinate, jar in zip(coordinates, jars):
        if jar.is_file():
            continue
        group, artifact, version = coordinate.split(":")
        url = f"{repository}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar"
        try:
            seconds = max(1.0, deadline - time.monotonic())
            with urllib.request.urlopen(url, timeout=seconds) as response:
                data = response.read()
            with urllib.request.urlopen(url + ".sha1", timeout=seconds) as response:
                expected = response.read().decode().split()[0].strip().lower()
        except urllib.error.HTTPError as error:
            failures.append((coordinate, f"HTTP {error.code} for {url}"))
            continue
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            failures.append((coordinate, f"{reason} from {urlparse(url).netloc}; is the network reachable?"))
            continue
        if hashlib.sha1(data).hexdigest() != expected:
            failures.append((coordinate, f"{url} does not match its published SHA-1"))
            continue
        partial = jar.with_name(f".{jar.name}.{os.getpid()}.partial")  # concurrent fetches never mix
        partial.write_bytes(data)
        partial.replace(jar)
    if failures:
        raise SparkSetupError(
            f"{what} {', '.join(c for c, _ in failures)} could not be fetched from Maven Central ({failures[0][1]}); "
            f"either set FEATURESTORE_JARS_DIR to a folder holding their jar files, or put the jars in {target} "
            f"(e.g. `mvn dependency:copy -Dartifact=COORDINATE -DoutputDirectory={target}`)")
    return jars


# --- the metastore's jars ---------------------------------------------------------------------

def _jar_folders(subfolder: str) -> list[Path]:
    """Where a metastore jar is looked for: FEATURESTORE_JARS_DIR (and its `subfolder`), the
    checkout's jars/<subfolder> (`make setup`), the per-user cache's <subfolder>."""
    folders = []
    if os.environ.get("FEATURESTORE_JARS_DIR"):
        given = Path(os.environ["FEATURESTORE_JARS_DIR"])
        folders += [given, given / subfolder]
    if checkout_root() is not None:
        folders.append(checkout_root() / "jars" / subfolder)
    return [*folders, jar_cache_dir() / subfolder]


def _find_jar(coordinate: str, subfolder: str) -> Path | None:
    _, artifact, version = coordinate.split(":")
    for folder in _jar_folders(subfolder):
        if (folder / f"{artifact}-{version}.jar").is_file():
            return folder / f"{artifact}-{version}.jar"
    return None


def _jar(coordinate: str, subfolder: str, what: str, fetch: bool = True) -> Path | None:
    """The jar of `coordinate` from a jars folder (see _jar_folders), else (fetch=True) fetched
    once into the per-user cache with Spark's package resolution, as the Delta jars are."""
    jar = _find_jar(coordinate, subfolder)
    if jar is not None or not fetch:
        return jar
    return fetch_jars([coordinate], jar_cache_dir() / subfolder, what=what)[0]


def derby_jar(artifact: str) -> Path:
    """derbynet or derbyclient, found or fetched once (see _jar)."""
    return _jar(f"org.apache.derby:{artifact}:{DERBY_VERSION}", "derby", "Derby jars")


def client_jar() -> Path | None:
    """derbyclient.jar, which a session needs on its driver class path to reach a Derby server."""
    return _find_jar(f"org.apache.derby:derbyclient:{DERBY_VERSION}", "derby")


def postgres_jar(fetch: bool = True) -> Path | None:
    """PostgreSQL's JDBC driver, found (the checkout's jars/postgres after `make setup`) or
    fetched once (see _jar)."""
    return _jar(POSTGRES_JDBC, "postgres", "PostgreSQL's JDBC driver", fetch)
