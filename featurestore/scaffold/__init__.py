"""`featurestore init NAME`: lay out a ready feature repo as Feast's walkthrough does."""
from __future__ import annotations

from pathlib import Path

from featurestore.definitions._checks import IDENTIFIER
from featurestore.errors import RepoError

TEMPLATE = Path(__file__).parent / "template"
STATS_TABLE = "driver_hourly_stats"
ENTITY_TABLE = "driver_entities"


def init_repo(path: str | Path, with_data: bool = True, spark=None) -> Path:
    """Write feature_store.yaml, features.py and (with_data) the sample Delta tables."""
    path = Path(path).resolve()
    project = path.name.replace("-", "_")
    if not IDENTIFIER.match(project):
        raise RepoError(f"repo name {path.name!r} must be a plain identifier (letters, digits, '_', '-')")
    if (path / "feature_store.yaml").exists():
        raise RepoError(f"{path} already holds a feature repo (feature_store.yaml exists); choose another name "
                        f"or delete it")
    (path / "data").mkdir(parents=True, exist_ok=True)
    (path / "feature_store.yaml").write_text(
        (TEMPLATE / "feature_store.yaml").read_text().format(project=project))
    (path / "features.py").write_text((TEMPLATE / "features.py").read_text().format(table=STATS_TABLE))
    if with_data:
        from featurestore.config import load_config
        from featurestore.scaffold.sample_data import write_sample_data
        from featurestore.spark import get_spark

        spark = spark or get_spark(load_config(path), app_name="featurestore-init")
        write_sample_data(spark, STATS_TABLE, ENTITY_TABLE, path / "data" / "driver_stats.parquet")
    return path
