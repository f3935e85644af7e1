"""Where a FeatureService's served features are logged: Feast's LoggingConfig, and a Delta table.

With a service's logging configured, every `get_online_features` of that service (in a
process or through `featurestore serve`) is logged, sampled at `sample_rate`
(featurestore.feature_logging). `featurestore skew SERVICE` compares the logged values
with what a training set gives for the same keys at the same times, and fails when a
feature's mismatch rate is above `max_mismatch_rate` (or the command's own threshold).
"""
from __future__ import annotations

import re

from featurestore.definitions._checks import check_str
from featurestore.errors import DefinitionError

_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FileLoggingDestination:
    """A folder of parquet files, one per flush (Feast's FileLoggingDestination); a relative
    path is relative to the feature repo. Spark and pyarrow read the folder as one table."""

    def __init__(self, *, path: str, **_options):
        self.path = check_str("FileLoggingDestination", "path", path, allow_empty=False)

    def __repr__(self) -> str:
        return f"FileLoggingDestination(path={self.path!r})"


class DeltaLoggingDestination:
    """A Delta table in the repo's warehouse (`default` database), appended to without a JVM
    (delta-rs) and registered in the catalog by the repo's next Spark session."""

    def __init__(self, *, table_name: str):
        name = check_str("DeltaLoggingDestination", "table_name", table_name, allow_empty=False)
        if not _TABLE_NAME.match(name):
            raise DefinitionError(f"DeltaLoggingDestination: table_name must be a plain table name (letters, "
                                  f"digits, underscores) in the warehouse's default database, got {name!r}")
        self.table_name = name

    def __repr__(self) -> str:
        return f"DeltaLoggingDestination(table_name={self.table_name!r})"


class LoggingConfig:
    """Feast's logging settings for a FeatureService, plus the skew gate's threshold.

    >>> LoggingConfig(destination=FileLoggingDestination(path="logs/ranking"), sample_rate=0.5)
    LoggingConfig(destination=FileLoggingDestination(path='logs/ranking'), sample_rate=0.5)
    >>> LoggingConfig(destination=DeltaLoggingDestination(table_name="ranking_log"), max_mismatch_rate=0.01)
    LoggingConfig(destination=DeltaLoggingDestination(table_name='ranking_log'), sample_rate=1.0, max_mismatch_rate=0.01)
    """

    def __init__(self, *, destination, sample_rate: float = 1.0, max_mismatch_rate: float | None = None):
        if not isinstance(destination, (FileLoggingDestination, DeltaLoggingDestination)):
            raise DefinitionError(f"LoggingConfig: destination must be a FileLoggingDestination or a "
                                  f"DeltaLoggingDestination, got {destination!r}")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)) or not 0 < sample_rate <= 1:
            raise DefinitionError(f"LoggingConfig: sample_rate must be in (0, 1], got {sample_rate!r}")
        if max_mismatch_rate is not None and (isinstance(max_mismatch_rate, bool) or
                                              not isinstance(max_mismatch_rate, (int, float)) or
                                              not 0 <= max_mismatch_rate <= 1):
            raise DefinitionError(f"LoggingConfig: max_mismatch_rate must be in [0, 1] (0.01: at most 1% of a "
                                  f"feature's compared rows may differ), got {max_mismatch_rate!r}")
        self.destination = destination
        self.sample_rate = float(sample_rate)
        self.max_mismatch_rate = None if max_mismatch_rate is None else float(max_mismatch_rate)

    def __repr__(self) -> str:
        gate = "" if self.max_mismatch_rate is None else f", max_mismatch_rate={self.max_mismatch_rate}"
        return f"LoggingConfig(destination={self.destination!r}, sample_rate={self.sample_rate}{gate})"
