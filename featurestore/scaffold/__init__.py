"""`featurestore init NAME`: lay out a ready feature repo as Feast's walkthrough does."""
from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from featurestore.definitions._checks import IDENTIFIER
from featurestore.errors import RepoError

TEMPLATE = Path(__file__).parent / "template"
STATS_TABLE = "driver_hourly_stats"
ENTITY_TABLE = "driver_entities"
TRIPS_TABLE = "trip_events"


def init_repo(path: str | Path, with_data: bool = True, spark=None, log: Callable[[str], object] | None = None) -> Path:
    """Write feature_store.yaml, features.py and (with_data) the sample Delta tables.

    Each step is reported through `log` (default: the logger `featurestore.init`, INFO).
    When a step fails, what init created is removed again (the whole folder if init made
    it), so running init again starts clean.
    """
    log = log or logging.getLogger("featurestore.init").info
    if str(path).strip() in ("", ".") or Path(path).name in ("", ".."):
        raise RepoError(f"featurestore init needs the name of a new folder, got {str(path)!r}; e.g. "
                        f"`featurestore init my_repo` (it will not turn an existing folder such as the current "
                        f"one into a repo)")
    path = Path(path).resolve()
    project = path.name.replace("-", "_")
    if not IDENTIFIER.match(project):
        raise RepoError(f"repo name {path.name!r} must be a plain identifier (letters, digits, '_', '-')")
    if (path / "feature_store.yaml").exists():
        raise RepoError(f"{path} already holds a feature repo (feature_store.yaml exists); choose another name "
                        f"or delete it")
    created = [p for p in (path, path / "data", path / "feature_store.yaml", path / "features.py")
               if not p.exists()]
    try:
        log(f"Creating {path}: feature_store.yaml, features.py, data/")
        (path / "data").mkdir(parents=True, exist_ok=True)
        (path / "feature_store.yaml").write_text(
            (TEMPLATE / "feature_store.yaml").read_text().format(project=project))
        (path / "features.py").write_text((TEMPLATE / "features.py").read_text().format(table=STATS_TABLE,
                                                                                     trips_table=TRIPS_TABLE))
        if with_data:
            write_data(path, spark, log)
    except BaseException:
        _remove(created)
        log(f"init failed; removed what it created in {path}")
        raise
    return path


def write_data(path: Path, spark, log: Callable[[str], object]) -> None:
    """The sample tables: with the Spark given or running in this process, written by it (and the
    template's transformation run once); else without a JVM, with delta-rs, the tables left for
    the repo's first Spark session to register and the transformation's output recorded."""
    from featurestore.config import load_config
    from featurestore.runtime.session import spark_running

    config = load_config(path)
    parquet = path / "data" / "driver_stats.parquet"
    if spark is None and not spark_running():
        from featurestore.runtime import unregistered_tables
        from featurestore.scaffold.sample_data import write_sample_tables

        log(f"Writing sample Delta tables {STATS_TABLE}, {TRIPS_TABLE} and {ENTITY_TABLE} (without Spark)")
        try:
            config.warehouse_dir.mkdir(parents=True, exist_ok=True)
            tables = write_sample_tables(config.warehouse_dir, STATS_TABLE, ENTITY_TABLE, parquet,
                                         trips_table=TRIPS_TABLE)
        except Exception as error:  # delta-rs's errors come as several lines, the cause in the last
            raise RepoError(f"init could not write its sample tables under {config.warehouse_dir}: "
                            f"{one_line(error)}; fix the folder (a shorter path, free space, a folder where a file "
                            f"is), or run `featurestore init --no-data NAME`") from error
        unregistered_tables.add(config.warehouse_dir, tables)
        record_template_transformation(config)
        return
    from featurestore.runtime.session import get_spark
    from featurestore.scaffold.sample_data import write_sample_data

    if spark is None:
        spark = get_spark(config, app_name="featurestore-init")
    log(f"Writing sample Delta tables {STATS_TABLE}, {TRIPS_TABLE} and {ENTITY_TABLE}")
    write_sample_data(spark, STATS_TABLE, ENTITY_TABLE, parquet, trips_table=TRIPS_TABLE)
    check_transformations(spark, path)


def one_line(error: BaseException) -> str:
    """An error's message on one line: its lines joined, terminal colours and arrows removed.

    >>> one_line(OSError("Kernel error -> Generic LocalFileSystem error\\n   \\x1b[31m↳\\x1b[0m File name too long"))
    'OSError: Kernel error -> Generic LocalFileSystem error: File name too long'
    """
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    parts = [line.strip().lstrip("↳").strip() for line in text.splitlines() if line.strip()]
    return f"{type(error).__name__}: {': '.join(parts)}"


# What the template's transformation (features.py's driver_stats_transformation) adds to its
# input's columns; tests/spark/test_init.py checks it against Spark running the function.
TEMPLATE_TRANSFORMATION_ADDS = {"trips_per_hour": "float"}


def record_template_transformation(config) -> None:
    """Record the template's transformation output (offline.transformation_schemas) so that the
    first `featurestore apply` checks it without Spark, as if Spark had run it."""
    from featurestore.offline import transformation_schemas
    from featurestore.offline.schema_reader import mapped_source_columns
    from featurestore.repo import load_repo

    for view in load_repo(config.repo_path).feature_views.values():
        if view.transformation_code is None:
            continue
        columns = mapped_source_columns(config, view.source, view.name)
        if isinstance(columns, dict):
            transformation_schemas.remember(view, config.repo_path, columns, {**columns, **TEMPLATE_TRANSFORMATION_ADDS})


def check_transformations(spark, path: Path) -> None:
    """Run the template's transformed views in init's Spark once, so that their output schemas are
    known (offline.transformation_schemas) and the first `featurestore apply` needs no JVM."""
    from featurestore.offline.sources import validate_feature_view
    from featurestore.repo import load_repo

    for view in load_repo(path).feature_views.values():
        if view.transformation_code is not None:
            validate_feature_view(spark, view, "", path)


def _remove(created: list[Path]) -> None:
    """Undo init: the folder if init made it, else the files and data/ it added."""
    for item in created:  # outermost first: removing a folder removes what init put in it
        if item.is_dir():
            shutil.rmtree(item, ignore_errors=True)
        elif item.exists():
            item.unlink()
