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
            from featurestore.config import load_config
            from featurestore.runtime.session import get_spark
            from featurestore.scaffold.sample_data import write_sample_data

            if spark is None:
                log("Starting Spark (warehouse and metastore under data/)")
                spark = get_spark(load_config(path), app_name="featurestore-init")
            log(f"Writing sample Delta tables {STATS_TABLE}, {TRIPS_TABLE} and {ENTITY_TABLE}")
            write_sample_data(spark, STATS_TABLE, ENTITY_TABLE, path / "data" / "driver_stats.parquet",
                              trips_table=TRIPS_TABLE)
            check_transformations(spark, path)
    except BaseException:
        _remove(created)
        log(f"init failed; removed what it created in {path}")
        raise
    return path


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
