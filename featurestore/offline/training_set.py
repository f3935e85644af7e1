"""Training sets as results: RetrievalJob (lazy), saved Delta tables, and their rebuilds.

A saved training set carries its own definition (features, entity source, the Delta
versions of every source it read) in the table property `featurestore.training_set`,
so that `featurestore training-set rebuild TABLE` can recompute it by time travel.
The property is read back through Delta's own metadata (`DESCRIBE DETAIL`), never through
`SHOW TBLPROPERTIES`: Spark redacts property values that match its redaction pattern
(`(?i)url` by default, which a feature named `hourly_stats` does not match but
`hourly_url_count` does), and a redacted definition cannot be rebuilt. Everything here is
DataFrame and SQL work, so it runs the same over Spark Connect (where Delta's DeltaTable
API would need Delta's Connect server plugin).
"""
from __future__ import annotations

import contextlib
import json
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor

from featurestore.errors import RetrievalError, raised_on_executor
from featurestore.offline.tables import check_table_name, delta_properties

DEFINITION_PROPERTY = "featurestore.training_set"
HISTORY_SEARCHED = 20  # newest commits searched for a save's own, to store its profile under its version


class RetrievalJob:
    """A training set, not computed yet: ask for it as Spark, pandas, or a Delta table."""

    def __init__(self, frame, definition: dict):
        self._frame = frame
        self.definition = definition
        self.rebuilt_with = ""  # a rebuild: which definitions it used, in words (FeatureStore.rebuild_training_set)

    def to_spark_df(self):
        """The lazy Spark DataFrame: nothing is computed or collected."""
        return self._frame

    def to_df(self):
        """The training set as a pandas DataFrame (collected to the driver).

        Timestamp columns are tz-aware UTC, as Feast returns them: a naive column would
        read as local time in every pandas operation that compares it with an aware one.
        """
        import pandas as pd

        with executor_errors(), warnings.catch_warnings():
            # pyspark warns that Arrow "has reached the error below" before re-raising a task's
            # failure; the failure itself becomes featurestore's one line
            warnings.filterwarnings("ignore", message="toPandas attempted Arrow optimization")
            frame = self._frame.toPandas()
        for name in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[name]) and frame[name].dt.tz is None:
                frame[name] = frame[name].dt.tz_localize("UTC")
        return frame

    def save_as_table(self, name: str, mode: str = "error", profile: bool = True) -> str:
        """Write a Delta table holding the rows and, in its properties, how to rebuild them.

        With profile=True (the default) a profile of every column is stored beside it, under
        the Delta version this write made (featurestore.quality.profile), for `featurestore
        validate` and drift plots. It is computed from the rows being written, kept for it in
        memory (spilling to local disk), rather than by reading the new version back, whose
        first read costs Delta a pass over its log (docs/performance.md).
        """
        from pyspark import StorageLevel

        check_table_name(name)
        if mode not in ("error", "overwrite"):
            raise RetrievalError(f"mode must be 'error' (fail if the table exists) or 'overwrite', got {mode!r}")
        spark = self._frame.sparkSession
        if mode == "error" and spark.catalog.tableExists(name):
            raise RetrievalError(f"table {name} already exists; pass mode='overwrite' to replace it")
        marker = f"featurestore save_as_table {uuid.uuid4().hex}"  # finds a replace's version in the history
        frame = self._frame.persist(StorageLevel.MEMORY_AND_DISK) if profile else self._frame
        try:
            writer = (frame.writeTo(name).using("delta").option("userMetadata", marker)
                      .tableProperty(DEFINITION_PROPERTY, json.dumps(self.definition)))
            with executor_errors():
                writer.createOrReplace() if mode == "overwrite" else writer.create()
            if profile:  # beside the table, by Delta version: a rebuild can be compared with its original
                _store_profile_of_write(spark, name, frame, marker if mode == "overwrite" else None)
        finally:
            if profile:
                frame.unpersist()
        return name


def _version_marked(spark, name: str, marker: str) -> int | None:
    """The version whose commit carries `marker` (a replace records its userMetadata; create()
    does not, but made version 0), so that a write to the same table in between cannot be
    mistaken for it; None when it is too far back in the history to find."""
    from pyspark.sql import functions as F

    found = (spark.sql(f"DESCRIBE HISTORY {name} LIMIT {HISTORY_SEARCHED}")
             .where(F.col("userMetadata") == marker).select("version").collect())
    return found[0]["version"] if found else None


def _store_profile_of_write(spark, name: str, frame, marker: str | None) -> None:
    """Store the profile of the rows `frame` wrote under the version the write made: 0 for a
    create (no marker), else the one `marker` finds, looked up while the profile is computed.
    Without a version, the profile of the table as it is now."""
    from featurestore.quality.profile import profile_dataframe, store_profile

    with ThreadPoolExecutor(max_workers=1) as lookup:
        found = lookup.submit(_version_marked, spark, name, marker) if marker else None
        profile = profile_dataframe(frame)
    version = found.result() if found else 0
    if version is None:
        store_profile(spark, name)
    else:
        store_profile(spark, name, version, profile)


@contextlib.contextmanager
def executor_errors():
    """A featurestore error raised on an executor (an on-demand function that failed on a row,
    or a raise_error of ours: an unparsable entity time, a source time with nanoseconds)
    re-raised on the driver as its one line, instead of a Java stack trace."""
    try:
        yield
    except Exception as error:
        found = raised_on_executor(error, "RetrievalError: ")
        if found:
            raise RetrievalError(found[1]) from None
        text = str(error)
        if "[USER_RAISED_EXCEPTION] " in text:  # our own raise_error in the plan: a bad entity time or source value
            message = text.split("[USER_RAISED_EXCEPTION] ", 1)[1].split(" SQLSTATE:", 1)[0].strip()
            raise RetrievalError(message.splitlines()[0]) from None
        raise


def read_definition(spark, table: str) -> dict:
    """The definition stored with a saved training set, read unredacted from the Delta log."""
    check_table_name(table)
    if not spark.catalog.tableExists(table):
        raise RetrievalError(f"training-set table {table!r} does not exist")
    properties = delta_properties(spark, table)
    if DEFINITION_PROPERTY not in properties:
        raise RetrievalError(f"table {table!r} was not written by save_as_table (no {DEFINITION_PROPERTY} "
                             f"property), so it cannot be rebuilt")
    try:
        return json.loads(properties[DEFINITION_PROPERTY])
    except ValueError:
        raise RetrievalError(f"table {table!r}: its {DEFINITION_PROPERTY} property is not the JSON save_as_table "
                             f"writes; rebuild it by calling get_historical_features again") from None
