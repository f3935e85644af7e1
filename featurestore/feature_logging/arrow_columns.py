"""Logged requests as one Arrow table in the layout's columns (the writer process's work).

A record is what featurestore.feature_logging.logger kept of a request: (answered at, in
microseconds; rows; the response's values, statuses and event times by column; the request
fields' columns). Values are typed as the feature is declared (Spark type -> Arrow type);
a map or struct value (a dict) is kept as its JSON text. A value Arrow cannot take in its
column's type is logged as null rather than failing the batch.
"""
from __future__ import annotations

import json

from featurestore.feature_logging.layout import LOG_DATE, LOG_TIMESTAMP, REGISTRY, REQUEST_ID, STATUS_CODES

MICROS_PER_DAY = 86_400_000_000
_SIMPLE = {"tinyint": "int8", "smallint": "int16", "int": "int32", "bigint": "int64", "float": "float32",
           "double": "float64", "string": "string", "boolean": "bool_", "binary": "binary", "date": "date32"}


def arrow_type(spark_type: str):
    """The Arrow type a log column of this Spark type holds (maps and structs: JSON text)."""
    import pyarrow as pa

    spark_type = spark_type.strip()
    if spark_type in _SIMPLE:
        return getattr(pa, _SIMPLE[spark_type])()
    if spark_type in ("timestamp", "timestamp_ntz"):
        return pa.timestamp("us", tz="UTC")
    if spark_type.startswith("array<") and spark_type.endswith(">"):
        return pa.list_(arrow_type(spark_type[len("array<"):-1]))
    return pa.string()


def _json_text(value):
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _array(values: list, spark_type: str):
    import pyarrow as pa

    kind = arrow_type(spark_type)
    if kind == pa.string() and not spark_type.startswith("string"):
        values = [_json_text(v) for v in values]
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        cleaned = []
        for value in values:
            try:
                pa.array([value], type=kind)
                cleaned.append(value)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
                cleaned.append(None)
        return pa.array(cleaned, type=kind)


def log_table(layout, records: list, token: str, first_request: int):
    """The records' log rows as a pyarrow Table in layout.column_names() order."""
    import pyarrow as pa

    columns: dict[str, list] = {name: [] for name in layout.column_names()}
    request_ids, log_us = columns[REQUEST_ID], columns[LOG_TIMESTAMP]
    for index, (answered_us, rows, values, statuses, times, requested) in enumerate(records):
        for column, _ in layout.keys:
            columns[column].extend(values.get(column) or [None] * rows)
        for position, (name, _) in enumerate(layout.request_fields):
            columns[name].extend(requested[position] if requested else [None] * rows)
        for feature in layout.features:
            source = feature.response_column
            column_statuses = statuses.get(source) or ["NOT_FOUND"] * rows
            columns[feature.column].extend(values.get(source) or [None] * rows)
            event_times = times.get(source)
            if event_times is None:
                columns[f"{feature.column}__timestamp"].extend([None] * rows)
            else:
                columns[f"{feature.column}__timestamp"].extend(
                    t if s != "NOT_FOUND" else None for t, s in zip(event_times, column_statuses))
            columns[f"{feature.column}__status"].extend(STATUS_CODES.get(s, 0) for s in column_statuses)
        request_ids.extend([f"{token}-{first_request + index}"] * rows)
        log_us.extend([answered_us] * rows)
    arrays, names = [], []
    types = {k: t for k, t in layout.keys} | {r: t for r, t in layout.request_fields}
    for feature in layout.features:
        types[feature.column] = feature.spark_type
    micros = pa.timestamp("us", tz="UTC")
    for name, values in columns.items():
        if name == LOG_DATE:
            array = pa.array([us // MICROS_PER_DAY for us in log_us], pa.int32()).cast(pa.date32())
        elif name == REGISTRY:
            array = pa.array([layout.registry] * len(log_us), pa.string())
        elif name == REQUEST_ID:
            array = pa.array(values, pa.string())
        elif name == LOG_TIMESTAMP or (name.endswith("__timestamp") and name not in types):
            array = pa.array(values, pa.int64()).cast(micros)
        elif name.endswith("__status") and name not in types:
            array = pa.array(values, pa.int32())
        else:
            array = _array(values, types[name])
        arrays.append(array)
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)
