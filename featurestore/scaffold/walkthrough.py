"""The steps of the driver-ranking walkthrough, shared by `make demo` and the notebooks.

Each function does one step and returns what it shows, so the demo script, the notebooks
and the tests all run the same code.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips", "trips_count_1d", "fare_mean_7d"]
LABEL = "label_driver_reported_satisfaction"
REQUEST_BONUS = 1  # the request value the walkthrough sends to transformed_conv_rate


REPO_ENV = "FEATURESTORE_REPO"


def notebook_repo() -> Path:
    """The repo the notebooks use, whatever folder they run from: FEATURESTORE_REPO (what `make
    notebook` sets: demo_work/driver_repo), else ~/featurestore_notebooks/driver_repo; made with
    `featurestore init` when it holds no repo yet."""
    import os

    from featurestore.scaffold import init_repo

    repo = Path(os.environ.get(REPO_ENV) or Path.home() / "featurestore_notebooks" / "driver_repo").expanduser()
    repo = repo.resolve()
    if not (repo / "feature_store.yaml").exists():
        init_repo(repo)
    return repo


def source_overview(spark, table: str, driver_ids=(1001, 1002, 1003)):
    """(row count, pandas frame of the newest row of each driver) of the stats table."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    frame = spark.table(table)
    newest = Window.partitionBy("driver_id").orderBy(F.col("event_timestamp").desc(), F.col("created").desc())
    rows = (frame.where(F.col("driver_id").isin(list(driver_ids)))
            .withColumn("rank", F.row_number().over(newest)).where("rank = 1").drop("rank")
            .orderBy("driver_id"))
    return frame.count(), rows.toPandas()


def online_store_schema(path: Path) -> str:
    """What `sqlite3 online_store.db .tables` and `.schema` print."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        schema = [r[0] + ";" for r in db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return "\n".join(["sqlite> .tables", "  ".join(tables), "sqlite> .schema", *schema])


def train_model(training_frame):
    """Fit LinearRegression on the features against the label (rows with a null feature dropped)."""
    from sklearn.linear_model import LinearRegression

    data = training_frame.dropna(subset=[*FEATURES, LABEL])
    model = LinearRegression()
    model.fit(data[FEATURES], data[LABEL])
    return model, len(data)


def save_model(model, path: Path) -> Path:
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    return path


def load_model(path: Path):
    import joblib

    return joblib.load(path)


def rank_drivers(store, model, driver_ids=(1001, 1002, 1003)):
    """Online features for the drivers, a prediction for each, and the best driver id."""
    response = store.get_online_features(store.get_feature_service("driver_ranking"),
                                         [{"driver_id": d} for d in driver_ids])
    frame = response.to_df()
    # An on-demand feature: computed at request time from conv_rate and a value sent with
    # the request (Feast's transformed_conv_rate), in this process, no JVM.
    boosted = store.get_online_features(["transformed_conv_rate:conv_rate_plus_val"],
                                        [{"driver_id": d, "val_to_add": REQUEST_BONUS} for d in driver_ids])
    frame["conv_rate_plus_val"] = boosted.to_dict()["conv_rate_plus_val"]
    ready = frame.dropna(subset=FEATURES)
    frame["prediction"] = None
    if not ready.empty:
        frame.loc[ready.index, "prediction"] = model.predict(ready[FEATURES])
    best = frame.loc[frame["prediction"].astype(float).idxmax(), "driver_id"] if not ready.empty else None
    return frame, best
