"""On-demand views offline: the same function as online, run by Spark on Arrow batches.

The point-in-time joined rows (entity columns plus the features the views read) go
through `mapInArrow`: each batch's input columns are cast to their declared Arrow types
and handed to featurestore.on_demand_runner.run_on_demand, exactly what an online read
does with the values it read, so both paths give the same values. Every row comes back
once, with its columns unchanged and the view's features appended.
"""
from __future__ import annotations

from featurestore.errors import RetrievalError


def check_request_fields(entities, odfv) -> None:
    """The entity frame holds every request field of the view, with a type that fits."""
    types = {f.name: f.dataType.simpleString() for f in entities.schema.fields}
    for field in odfv.request_fields:
        if field.name not in types:
            raise RetrievalError(f"entity rows lack request field {field.name!r} of OnDemandFeatureView "
                                 f"{odfv.name!r}; add the column to the entity frame (entity columns: "
                                 f"{', '.join(types)})")
        if not field.dtype.accepts_spark_type(types[field.name]):
            raise RetrievalError(f"entity column {field.name!r} has type {types[field.name]}, but OnDemandFeatureView "
                                 f"{odfv.name!r} declares the request field {field.dtype!r}; cast the column")


def add_on_demand_features(frame, odfv, fn, inputs: dict[str, str], types: dict, outputs: dict[str, str],
                           describe: list[str]):
    """`frame` with the view's features appended as the columns named by `outputs`.

    inputs: {function input name: column of frame}; types: {input name: FeatureType};
    outputs: {feature: output column}; describe: the columns that name a row in errors.
    """
    from pyspark.sql import functions as F

    features = [f for f in odfv.schema if f.name in outputs]
    schema = frame.select("*", *[F.lit(None).cast(f.dtype.spark_type).alias(outputs[f.name])
                                 for f in features]).schema
    run = _batch_runner(odfv, fn, dict(inputs), dict(types), [(f.name, f.dtype) for f in features],
                        [outputs[f.name] for f in features], list(describe))
    return frame.mapInArrow(run, schema)


def _batch_runner(odfv, fn, inputs, types, features, output_names, describe):
    def run(batches):
        import pyarrow as pa

        from featurestore.on_demand_runner import arrow_type, run_on_demand
        from featurestore.values import normalizer

        arrow_types = {name: arrow_type(dtype) for name, dtype in types.items()}
        out_types = [arrow_type(dtype) for _, dtype in features]
        for batch in batches:
            count = batch.num_rows
            if count == 0:
                yield pa.RecordBatch.from_arrays(
                    list(batch.columns) + [pa.array([], type=t) for t in out_types],
                    names=list(batch.schema.names) + output_names)
                continue
            names = batch.schema.names
            columns = {}
            for name, column in inputs.items():
                if arrow_types[name] is None:  # a map or a struct: dicts, as online reads give them
                    normalize = normalizer(types[name])
                    columns[name] = [normalize(v) for v in batch.column(names.index(column)).to_pylist()]
                    continue
                array = batch.column(names.index(column)).cast(arrow_types[name])
                columns[name] = array.to_pylist() if odfv.mode == "python" else array

            def row_of(index, batch=batch, names=names):  # only called to word an error
                values = {c: batch.column(names.index(c))[index].as_py() for c in describe}
                return repr({c: v.isoformat() if hasattr(v, "isoformat") else v for c, v in values.items()})
            result = run_on_demand(odfv, fn, columns, types, count, row_of, [name for name, _ in features])
            arrays = [pa.array(result[name], type=t) for (name, _), t in zip(features, out_types)]
            yield pa.RecordBatch.from_arrays(list(batch.columns) + arrays,
                                             names=list(names) + output_names)
    return run


def input_columns(odfv, registry, column_of) -> tuple[dict[str, str], dict]:
    """({input name: frame column}, {input name: FeatureType}) for the view's function inputs.

    column_of(view_name, feature) gives the joined column holding a source feature.
    """
    inputs, types = {}, {}
    for projection in odfv.source_projections:
        view = registry.feature_views[projection.view_name]
        for feature in projection.features:
            inputs[feature] = column_of(view.name, feature)
            types[feature] = view.feature(feature).dtype
    for field in odfv.request_fields:
        inputs[field.name] = field.name
        types[field.name] = field.dtype
    return inputs, types

