"""Feature logging: every get_online_features of a FeatureService with a LoggingConfig is
recorded (entity keys, request fields, each feature's value, status and event time, the
time and the registry version it was served under), for the skew monitor
(featurestore.quality.skew) and anyone who reads the logs.

Also Feast's import path `feast.feature_logging`, so that a Feast repo needs only `feast`
renamed. Modules: layout (the log table's columns), logger (the request side, in the
serving process), frames (the pipe), writer (the process that writes), arrow_columns,
destinations.
"""
from featurestore.definitions.logging_config import DeltaLoggingDestination, FileLoggingDestination, LoggingConfig
from featurestore.feature_logging.logger import close, flush, log_served, on_counts

__all__ = ["DeltaLoggingDestination", "FileLoggingDestination", "LoggingConfig", "close", "flush", "log_served", "on_counts"]
