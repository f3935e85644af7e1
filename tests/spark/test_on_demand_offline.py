"""On-demand views offline (Spark, mapInArrow) with exact rows, and the consistency of online and
offline values on SQLite and Redis: after materialize(start, end), get_online_features equals
get_historical_features at ts = end with the same request values."""
import math
import struct
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from featurestore.errors import RetrievalError
from featurestore.store import FeatureStore
from tests.repo_helpers import online_store_section

pytestmark = pytest.mark.spark
UTC = UTC
DAY1 = datetime(2026, 1, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return DAY1 + timedelta(hours=hours)


def f32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


DEFINITIONS = '''
from datetime import timedelta
from featurestore import (Aggregation, Entity, FeatureService, FeatureView, Field, OnDemandFeatureView, RequestSource,
                          SparkSource, on_demand_feature_view)
from featurestore.types import Array, Float32, Float64, Int32, Int64, String, UnixTimestamp

driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(0),
    source=SparkSource(name="stats_src", table="{stats}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32),
            Field(name="acc_rate", dtype=Float64)])
trips = FeatureView(name="trips", entities=[driver],
    source=SparkSource(name="trips_src", table="{trips}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="fare", dtype=Float64)],
    aggregations=[Aggregation(column="fare", function="sum", time_window=timedelta(hours=10))])
vals = RequestSource(name="vals", schema=[Field(name="val_to_add", dtype=Int64)])


@on_demand_feature_view(sources=[stats[["conv_rate"]], vals], schema=[Field(name="conv_rate_plus_val", dtype=Float64)],
                        mode="python")
def transformed_conv_rate(inputs):
    return {{"conv_rate_plus_val": [None if c is None else c + v
                                   for c, v in zip(inputs["conv_rate"], inputs["val_to_add"])]}}


def rates_pandas(df):
    import pandas as pd

    out = pd.DataFrame()
    out["rate_sum"] = df["conv_rate"] + df["acc_rate"]
    out["label"] = df["acc_rate"].map(lambda a: "high" if a > 0.5 else "low")
    return out


rates = OnDemandFeatureView(name="rates", sources=[stats], schema=[Field(name="rate_sum", dtype=Float64),
                            Field(name="label", dtype=String)], udf=rates_pandas, mode="pandas")


def inverse_of(inputs):
    return {{"inverse": [1 / v for v in inputs["val_to_add"]]}}


inverse = OnDemandFeatureView(name="inverse", sources=[vals], schema=[Field(name="inverse", dtype=Float64)],
                              udf=inverse_of, mode="python")


def one_short(inputs):
    return {{"short": [1.0 for v in inputs["val_to_add"]][1:]}}


def not_a_number(inputs):
    return {{"word": ["many" for v in inputs["val_to_add"]]}}


short = OnDemandFeatureView(name="short", sources=[vals], schema=[Field(name="short", dtype=Float64)],
                            udf=one_short, mode="python")
wrong_type = OnDemandFeatureView(name="wrong_type", sources=[vals], schema=[Field(name="word", dtype=Float64)],
                                 udf=not_a_number, mode="python")
when = RequestSource(name="when", schema=[Field(name="request_ts", dtype=UnixTimestamp), Field(name="city", dtype=String)])


def describe_request(inputs):
    return {{"hour": [t.hour for t in inputs["request_ts"]],
            "greeting": [c + "!" for c in inputs["city"]],
            "pair": [[t.hour, len(c)] for t, c in zip(inputs["request_ts"], inputs["city"])],
            "later": [t + timedelta(hours=1) for t in inputs["request_ts"]],
            "scaled": [None if a is None else a * 2 for a in inputs["acc_rate"]]}}


described = OnDemandFeatureView(name="described", sources=[when, stats[["acc_rate"]]], udf=describe_request,
    mode="python", schema=[Field(name="hour", dtype=Int32), Field(name="greeting", dtype=String),
                           Field(name="pair", dtype=Array(Int64)), Field(name="later", dtype=UnixTimestamp),
                           Field(name="scaled", dtype=Float32)])
ranking = FeatureService(name="ranking", features=[stats[["acc_rate"]], trips[["fare_sum_10h"]],
                                                   transformed_conv_rate[["conv_rate_plus_val"]], rates[["label"]]])
'''

END = at(5)


@pytest.fixture(scope="module")
def tables(spark):
    suffix = uuid.uuid4().hex[:6]
    names = {"stats": f"od_stats_{suffix}", "trips": f"od_trips_{suffix}"}
    spark.createDataFrame([
        (1001, at(1), 0.5, 0.75),
        (1001, at(3), 0.1, 0.3),      # 0.1 is not exact in float32: both paths must see the same float32 value
        (1002, at(2), 0.25, 0.125),
        (1004, at(2), None, 0.9),     # a null feature value
    ], "driver_id bigint, event_ts timestamp, conv_rate float, acc_rate double") \
        .write.format("delta").saveAsTable(names["stats"])
    spark.createDataFrame([(1001, at(1), 10.0), (1001, at(3), 5.0), (1002, at(2), 7.0)],
                          "driver_id bigint, event_ts timestamp, fare double").write.format("delta") \
        .saveAsTable(names["trips"])
    return names


def make_store(request, repo_factory, tables, kind: str) -> FeatureStore:
    online = online_store_section(request, kind)
    repo = repo_factory(DEFINITIONS.format(**tables), online_store=online, project=f"p_{uuid.uuid4().hex[:6]}")
    store = FeatureStore(repo)
    store.apply(None, partial=False)
    return store


@pytest.fixture
def store(request, repo_factory, tables):
    return make_store(request, repo_factory, tables, "sqlite")


def entities(spark, rows=None):
    rows = rows or [(1001, at(2), 2, "a"), (1001, at(4), 3, "b"), (1002, at(4), 10, "c"), (1003, at(4), 1, "d")]
    return spark.createDataFrame(rows, "driver_id bigint, event_timestamp timestamp, val_to_add bigint, tag string")


def collected(job):
    frame = job.to_spark_df()
    return [tuple(row) for row in frame.orderBy("driver_id", "event_timestamp").collect()], frame.columns


def test_python_mode_offline_gives_exact_rows_with_request_values_from_entity_columns(spark, store):
    rows, columns = collected(store.get_historical_features(entities(spark),
                                                            ["transformed_conv_rate:conv_rate_plus_val"]))
    assert columns == ["driver_id", "event_timestamp", "val_to_add", "tag", "conv_rate_plus_val"]
    assert [(r[0], r[4]) for r in rows] == [(1001, 2.5), (1001, f32(0.1) + 3), (1002, 10.25), (1003, None)]


def test_pandas_mode_offline_and_inputs_dropped_unless_requested(spark, store):
    rows, columns = collected(store.get_historical_features(entities(spark), ["rates:rate_sum", "rates:label",
                                                                              "stats:acc_rate"]))
    assert columns == ["driver_id", "event_timestamp", "val_to_add", "tag", "rate_sum", "label", "acc_rate"]
    assert [r[4:] for r in rows[:3]] == [(1.25, "high", 0.75), (f32(0.1) + 0.3, "low", 0.3), (0.375, "low", 0.125)]
    assert math.isnan(rows[3][4]) and rows[3][5:] == ("low", None)  # pandas: null inputs arrive as NaN


def test_a_feature_service_mixes_lookups_aggregations_and_on_demand_features(spark, store):
    job = store.get_historical_features(entities(spark), store.get_feature_service("ranking"), full_feature_names=True)
    rows, columns = collected(job)
    assert columns == ["driver_id", "event_timestamp", "val_to_add", "tag", "stats__acc_rate", "trips__fare_sum_10h",
                       "transformed_conv_rate__conv_rate_plus_val", "rates__label"]
    assert [r[4:] for r in rows] == [(0.75, 10.0, 2.5, "high"), (0.3, 15.0, f32(0.1) + 3, "low"),
                                     (0.125, 7.0, 10.25, "low"), (None, None, None, "low")]
    udf = store.registry.on_demand_feature_views
    assert job.definition["transformations"] == {"rates": udf["rates"].udf_code.sha256,
                                                 "transformed_conv_rate": udf["transformed_conv_rate"].udf_code.sha256}


def test_a_missing_request_column_is_refused_before_spark_runs(spark, store):
    frame = entities(spark).drop("val_to_add")
    with pytest.raises(RetrievalError, match=r"^entity rows lack request field 'val_to_add' of OnDemandFeatureView "
                                             r"'transformed_conv_rate'; add the column to the entity frame"):
        store.get_historical_features(frame, ["transformed_conv_rate:conv_rate_plus_val"])


def test_a_request_column_of_the_wrong_type_is_refused(spark, store):
    frame = entities(spark)
    frame = frame.withColumn("val_to_add", frame["val_to_add"].cast("string"))
    with pytest.raises(RetrievalError, match=r"entity column 'val_to_add' has type string, but OnDemandFeatureView "
                                             r"'transformed_conv_rate' declares the request field Int64; cast the "
                                             r"column"):
        store.get_historical_features(frame, ["transformed_conv_rate:conv_rate_plus_val"])


def test_a_raising_function_fails_the_job_naming_the_view_and_the_row(spark, store):
    job = store.get_historical_features(entities(spark, [(1001, at(2), 2, "a"), (1002, at(2), 0, "z")]),
                                        ["inverse:inverse"])
    with pytest.raises(Exception) as error:
        job.to_spark_df().collect()
    assert ("RetrievalError: OnDemandFeatureView 'inverse': udf features.py:inverse_of raised ZeroDivisionError: "
            "division by zero on entity row {'driver_id': 1002, 'event_timestamp': '2026-01-01T02:00:00+00:00', "
            "'val_to_add': 0, 'tag': 'z'}; fix the function") in str(error.value)


@pytest.mark.parametrize("reference", ["short:short", "wrong_type:word"])
def test_a_udf_returning_the_wrong_length_or_type_is_the_same_one_line_offline_and_online(spark, store, reference):
    """Regression: offline gave pyspark's PythonException with the message three times among
    executor lines and a worker traceback; online gave one RetrievalError line."""
    with pytest.raises(RetrievalError) as online:
        store.get_online_features([reference], [{"driver_id": 1001, "val_to_add": 2}])
    job = store.get_historical_features(entities(spark, [(1001, at(2), 2, "a")]), [reference])
    with pytest.raises(RetrievalError) as offline:
        job.to_df()
    assert "\n" not in str(offline.value) and "PythonException" not in str(offline.value)
    assert str(offline.value).split("entity row")[0] == str(online.value).split("entity row")[0]


def comparable(values):
    return ["NaN" if isinstance(v, float) and math.isnan(v) else v for v in values]


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_online_values_equal_offline_values_at_the_end_of_materialization(spark, request, repo_factory, tables, kind):
    store = make_store(request, repo_factory, tables, kind)
    store.materialize(at(0), END, ["stats"], log=lambda m: None)
    requests = [(1001, 7), (1002, -3), (1003, 1), (1004, 0)]
    refs = ["stats:conv_rate", "transformed_conv_rate:conv_rate_plus_val", "rates:rate_sum", "rates:label"]
    online = store.get_online_features(refs, [{"driver_id": d, "val_to_add": v} for d, v in requests]).to_dict()
    frame = entities(spark, [(d, END, v, "x") for d, v in requests])
    offline = store.get_historical_features(frame, refs).to_spark_df().orderBy("driver_id").collect()
    for column in ("conv_rate", "conv_rate_plus_val", "rate_sum", "label"):
        assert comparable(online[column]) == comparable([row[column] for row in offline]), column
    assert online["conv_rate_plus_val"] == [f32(0.1) + 7, 0.25 - 3, None, None]


def test_typed_inputs_and_outputs_agree_online_and_offline(spark, store):
    store.materialize(at(0), END, ["stats"], log=lambda m: None)
    refs = ["described:hour", "described:greeting", "described:pair", "described:later", "described:scaled"]
    request_ts = datetime(2026, 1, 1, 7, 30, tzinfo=UTC)
    online = store.get_online_features(refs, [{"driver_id": 1002, "request_ts": request_ts, "city": "Oslo"},
                                              {"driver_id": 1003, "request_ts": request_ts.replace(tzinfo=None),
                                               "city": ""}]).to_dict()
    assert online == {"driver_id": [1002, 1003], "hour": [7, 7], "greeting": ["Oslo!", "!"], "pair": [[7, 4], [7, 0]],
                      "later": [at(8.5), at(8.5)], "scaled": [0.25, None]}
    frame = spark.createDataFrame([(1002, END, request_ts, "Oslo"), (1003, END, request_ts, "")],
                                  "driver_id bigint, event_timestamp timestamp, request_ts timestamp, city string")
    offline = store.get_historical_features(frame, refs).to_spark_df().orderBy("driver_id").collect()
    assert [(r.hour, r.greeting, r.pair, r.later.replace(tzinfo=UTC), r.scaled) for r in offline] == \
        list(zip(online["hour"], online["greeting"], online["pair"], online["later"], online["scaled"]))
