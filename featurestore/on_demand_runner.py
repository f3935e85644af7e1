"""Running an on-demand view's function on a batch of rows: the one code path online and offline.

Online (featurestore.online.read) calls run_on_demand() with the values read from the store
and the request fields of the entity rows; offline (featurestore.offline.on_demand) calls
it from Spark on Arrow batches of the point-in-time joined rows. Both hand it the same
thing, each input column as Python values of its declared type, so the function sees the
same input and its output is checked and normalized the same way:

    mode="python":  fn({"conv_rate": [0.5, None], "val_to_add": [2, 3]}) -> {"conv_rate_plus_val": [2.5, None]}
    mode="pandas":  the same columns as a DataFrame, built through Arrow with the declared
                    types (Float32 -> float32, an Int64 column with nulls -> float64 with NaN,
                    as Spark gives them), returning a DataFrame.

Output rules: every feature of the schema must be returned, one value per row; a value
must fit its declared type (an integral float such as 3.0 fits Int64, pandas' NaN/NA/NaT
in a non-float column is null, Float32 values are rounded to float32 as Spark stores
them: featurestore.values, the rule the online store follows too). Extra returned columns
are ignored. A function that raises is run again row by row to name the first entity row
it fails on. Every error is one RetrievalError line
naming the view; nothing is half-returned.

This module imports neither pyspark nor, in python mode, pandas or pyarrow.
"""
from __future__ import annotations

import sys

from featurestore.errors import RetrievalError
from featurestore.types import FeatureType
from featurestore.values import Mismatch, normalizer


def arrow_type(dtype: FeatureType):
    """The Arrow type Spark uses for a column of this feature type; None for Feast's Map and
    Struct, whose columns reach the function as Python dicts (as online reads return them)."""
    import pyarrow as pa

    if dtype.holds_dicts:
        return None
    scalars = {"Int32": pa.int32(), "Int64": pa.int64(), "Float32": pa.float32(), "Float64": pa.float64(),
               "String": pa.string(), "Json": pa.string(), "Bool": pa.bool_(), "Bytes": pa.binary(),
               "UnixTimestamp": pa.timestamp("us", tz="UTC")}
    if dtype.is_list:
        return pa.list_(scalars[dtype.element.name])
    return scalars[dtype.name]


def pandas_frame(columns: dict, types: dict[str, FeatureType], count: int):
    """A pandas DataFrame from Python-value columns, converted through Arrow as Spark converts them
    (maps and structs: one dict per row, as online reads give them)."""
    import pandas as pd
    import pyarrow as pa

    as_objects = {name for name in columns if arrow_type(types[name]) is None}
    arrays = {name: values if isinstance(values, (pa.Array, pa.ChunkedArray))
              else pa.array(values, type=arrow_type(types[name])) for name, values in columns.items()
              if name not in as_objects}
    frame = pa.table(arrays).to_pandas() if arrays else pd.DataFrame(index=range(count))
    for name in as_objects:
        frame[name] = pd.Series(list(columns[name]), dtype=object, index=frame.index)
    return frame[list(columns)] if columns else frame


def run_on_demand(odfv, fn, columns: dict[str, list], types: dict[str, FeatureType], count: int, row_of,
                  features: list[str] | None = None) -> dict[str, list]:
    """Run `fn` of on-demand view `odfv` on `count` rows; returns {feature: [normalized value per row]}.

    columns: {input name: [Python value per row]} (source features, then request fields).
    types: their declared types. row_of(i): text naming row i in errors ("1 {'driver_id': 1002, ...}").
    features: the features wanted (default: the whole schema); all are checked anyway.
    """
    inputs = columns if odfv.mode == "python" else pandas_frame(columns, types, count)
    try:
        result = fn(inputs)
    except Exception as error:
        raise _failure(odfv, fn, columns, types, count, row_of, error) from None
    return _outputs(odfv, result, count, row_of, features)


def _outputs(odfv, result, count: int, row_of, features) -> dict[str, list]:
    where = f"OnDemandFeatureView {odfv.name!r}: udf {odfv.udf_code.qualified_name}"
    if odfv.mode == "python":
        if not isinstance(result, dict):
            raise RetrievalError(f"{where} returned {type(result).__name__}; in mode='python' it must return a dict "
                                 f"of feature name -> list of values, one per row")
        returned = result
    else:
        pandas = sys.modules.get("pandas")
        if pandas is None or not isinstance(result, pandas.DataFrame):
            raise RetrievalError(f"{where} returned {type(result).__name__}; in mode='pandas' it must return a "
                                 f"pandas DataFrame with one row per input row")
        returned = result
    outputs = {}
    wanted = set(features) if features is not None else None
    for field in odfv.schema:
        if field.name not in returned:
            keys = ", ".join(map(str, returned.keys())) or "none"
            raise RetrievalError(f"{where} returned no {field.name!r} (it returned: {keys}); return every feature "
                                 f"of its schema")
        values = returned[field.name]
        values = values.tolist() if hasattr(values, "tolist") else values
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) != count:
            size = len(values) if hasattr(values, "__len__") and not isinstance(values, (str, bytes)) else "no list"
            raise RetrievalError(f"{where} returned {size} values for {field.name!r}, expected one per row "
                                 f"({count}); return a list as long as the input columns")
        convert = normalizer(field.dtype)
        try:
            converted = [convert(v) for v in values]
        except Mismatch:
            for index, value in enumerate(values):
                try:
                    convert(value)
                except Mismatch as mismatch:
                    raise RetrievalError(f"{where} returned a wrong value for {field.name!r} (declared "
                                         f"{field.dtype!r}) in entity row {row_of(index)}: {mismatch}; "
                                         f"return {field.dtype!r} values or change the schema") from None
            raise
        if wanted is None or field.name in wanted:
            outputs[field.name] = converted
    return outputs


def _failure(odfv, fn, columns, types, count, row_of, error) -> RetrievalError:
    """The udf raised on a batch: find the first row it raises on by itself, and name it."""
    where = f"OnDemandFeatureView {odfv.name!r}: udf {odfv.udf_code.qualified_name}"
    if count > 1:
        for index in range(count):
            single = {name: [values[index]] for name, values in _as_lists(columns).items()}
            try:
                fn(single if odfv.mode == "python" else pandas_frame(single, types, 1))
            except Exception as row_error:
                return RetrievalError(f"{where} raised {type(row_error).__name__}: {row_error} on entity row "
                                      f"{row_of(index)}; fix the function or the row's values")
    which = f"entity row {row_of(0)}" if count == 1 else f"a batch of {count} rows (no single row fails)"
    return RetrievalError(f"{where} raised {type(error).__name__}: {error} on {which}; fix the function")


def _as_lists(columns: dict) -> dict[str, list]:
    return {name: values.to_pylist() if hasattr(values, "to_pylist") else list(values)
            for name, values in columns.items()}
