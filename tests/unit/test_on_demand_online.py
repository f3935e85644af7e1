"""On-demand views online (no Spark): definitions, the registry's code identity, request fields,
python and pandas modes, and every error, against real SQLite and Redis stores.

Values are written to the online store directly (as materialization would), so these tests
never start a JVM; tests/spark/test_on_demand_offline.py covers Spark and the online/offline
consistency.
"""
import hashlib
import inspect
import json
import subprocess
import sys
import time
import uuid

import pytest

from featurestore import FeatureView, Field, OnDemandFeatureView, RequestSource, on_demand_feature_view
from featurestore.errors import DefinitionError, RetrievalError, ValidationError
from featurestore.online.base import OnlineRow
from featurestore.online.codec import encode_value, serialize_entity_key
from featurestore.registry import RegistryState
from featurestore.store import FeatureStore
from featurestore.types import Float32, Float64, Int64

NOW_US = int(time.time() * 1_000_000)

DEFINITIONS = '''
from datetime import timedelta
from featurestore import (Entity, FeatureService, FeatureView, Field, OnDemandFeatureView, RequestSource, SparkSource,
                          on_demand_feature_view)
from featurestore.types import Float32, Float64, Int64, String

driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(0),
    source=SparkSource(name="stats_src", table="stats_table", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="conv_rate", dtype=Float32),
            Field(name="acc_rate", dtype=Float64)])
vals = RequestSource(name="vals", schema=[Field(name="val_to_add", dtype=Int64)])


@on_demand_feature_view(sources=[stats[["conv_rate"]], vals], schema=[Field(name="conv_rate_plus_val", dtype=Float64)],
                        mode="python")
def transformed_conv_rate(inputs):
    return {"conv_rate_plus_val": [None if c is None else c + v
                                   for c, v in zip(inputs["conv_rate"], inputs["val_to_add"])]}


def rates_pandas(df):
    import pandas as pd

    out = pd.DataFrame()
    out["rate_sum"] = df["conv_rate"] + df["acc_rate"]
    out["label"] = df["acc_rate"].map(lambda a: "high" if a > 0.5 else "low")
    return out


rates = OnDemandFeatureView(name="rates", sources=[stats], schema=[Field(name="rate_sum", dtype=Float64),
                            Field(name="label", dtype=String)], udf=rates_pandas, mode="pandas")
ranking = FeatureService(name="ranking", features=[stats[["acc_rate"]], transformed_conv_rate[["conv_rate_plus_val"]]])
'''


def write_stats(store, rows):
    """rows: {driver_id: (conv_rate, acc_rate)}, written as materialization would write them."""
    view = store.get_feature_view("stats")
    online_rows = [OnlineRow(serialize_entity_key(["driver_id"], [driver], [Int64]),
                             {"conv_rate": encode_value(conv, Float32), "acc_rate": encode_value(acc, Float64)},
                             NOW_US, 0) for driver, (conv, acc) in rows.items()]
    store.online_store.online_write_batch(store.project, view, online_rows)


@pytest.fixture
def store(online_config, repo_factory):
    repo = repo_factory(DEFINITIONS, online_store=online_config, project=f"p_{uuid.uuid4().hex[:6]}")
    store = FeatureStore(repo)
    store.apply(None, partial=False, validate=False)
    write_stats(store, {1001: (0.5, 0.75), 1002: (0.25, 0.125)})
    return store


def test_python_mode_adds_request_values_to_stored_features(store):
    response = store.get_online_features(["transformed_conv_rate:conv_rate_plus_val"],
                                         [{"driver_id": 1001, "val_to_add": 2}, {"driver_id": 1002, "val_to_add": 10},
                                          {"driver_id": 9999, "val_to_add": 1}])
    assert response.to_dict() == {"driver_id": [1001, 1002, 9999], "conv_rate_plus_val": [2.5, 10.25, None]}
    assert response.statuses()["conv_rate_plus_val"] == ["PRESENT", "PRESENT", "NULL_VALUE"]  # computed as null


def test_pandas_mode_and_mixed_requests_keep_the_requested_order(store):
    response = store.get_online_features(
        ["rates:label", "stats:conv_rate", "transformed_conv_rate:conv_rate_plus_val", "rates:rate_sum"],
        [{"driver_id": 1001, "val_to_add": 1}, {"driver_id": 1002, "val_to_add": 0}])
    assert response.to_dict() == {"driver_id": [1001, 1002], "label": ["high", "low"], "rate_sum": [1.25, 0.375],
                                  "conv_rate": [0.5, 0.25], "conv_rate_plus_val": [1.5, 0.25]}


def test_feature_service_mixes_lookups_and_on_demand_features_with_full_names(store):
    service = store.get_feature_service("ranking")
    response = store.get_online_features(service, [{"driver_id": 1002, "val_to_add": 3}], full_feature_names=True)
    assert response.to_dict() == {"driver_id": [1002], "stats__acc_rate": [0.125],
                                  "transformed_conv_rate__conv_rate_plus_val": [3.25]}


def test_registry_holds_name_source_and_hash_never_code(store):
    odfv = store.registry.on_demand_feature_views["transformed_conv_rate"]
    text = (store.repo_path / "features.py").read_text()
    assert odfv.udf_code.file == "features.py" and odfv.udf_code.name == "transformed_conv_rate"
    assert odfv.udf_code.source in text and odfv.udf_code.source.startswith("@on_demand_feature_view(")
    assert odfv.udf_code.sha256 == hashlib.sha256(odfv.udf_code.source.encode()).hexdigest()
    dumped = json.loads(store.registry.to_json())
    assert [v["name"] for v in dumped["on_demand_feature_views"]] == ["rates", "transformed_conv_rate"]
    assert set(dumped["on_demand_feature_views"][1]["udf"]) == {"file", "name", "source", "sha256"}
    assert odfv.udf is None  # loaded from the registry: resolved from the repo when first needed
    assert store.get_on_demand_feature_view("transformed_conv_rate") == odfv
    assert [v.name for v in store.list_on_demand_feature_views()] == ["rates", "transformed_conv_rate"]


def test_an_edited_function_is_refused_until_applied(store):
    path = store.repo_path / "features.py"
    path.write_text(path.read_text().replace("c + v", "c + 2 * v"))
    rows = [{"driver_id": 1001, "val_to_add": 2}]
    with pytest.raises(ValidationError) as error:
        store.get_online_features(["transformed_conv_rate:conv_rate_plus_val"], rows)
    message = str(error.value)
    assert "OnDemandFeatureView 'transformed_conv_rate': udf features.py:transformed_conv_rate in the repo" in message
    assert "differs from the registered one" in message and "`featurestore apply`" in message and "\n" not in message
    plan = store.plan(validate=False)
    assert "~ change OnDemandFeatureView transformed_conv_rate" in plan.render()
    assert "udf features.py:transformed_conv_rate changed (sha256 " in plan.render()
    store.apply(None, partial=False, validate=False)
    assert store.get_online_features(["transformed_conv_rate:conv_rate_plus_val"], rows).to_dict()[
        "conv_rate_plus_val"] == [4.5]


def test_a_missing_request_field_names_the_row_and_the_view(store):
    with pytest.raises(RetrievalError, match=r"^entity row 1 \{'driver_id': 1002\} lacks request field 'val_to_add' "
                                             r"of OnDemandFeatureView 'transformed_conv_rate'; add it to every entity "
                                             r"row$"):
        store.get_online_features(["transformed_conv_rate:conv_rate_plus_val"],
                                  [{"driver_id": 1001, "val_to_add": 1}, {"driver_id": 1002}])


def test_a_request_value_of_the_wrong_type_is_refused(store):
    with pytest.raises(RetrievalError, match=r"request field 'val_to_add' of OnDemandFeatureView "
                                             r"'transformed_conv_rate' must be Int64: 'two' \(str\) is not an integer"):
        store.get_online_features(["transformed_conv_rate:conv_rate_plus_val"], [{"driver_id": 1001, "val_to_add": "two"}])


# --- errors of the function itself: each its own repo -------------------------------------------

BAD = '''
from featurestore import Field, RequestSource, on_demand_feature_view
from featurestore.types import Float64, Int64

req = RequestSource(name="req", schema=[Field(name="x", dtype=Int64)])


@on_demand_feature_view(sources=[req], schema=[Field(name="inverse", dtype=Float64)], mode="{mode}")
def inverse(inputs):
{body}
'''


def bad_store(repo_factory, body: str, mode: str = "python") -> FeatureStore:
    repo = repo_factory(BAD.format(mode=mode, body=body), name=f"bad_{uuid.uuid4().hex[:6]}")
    store = FeatureStore(repo)
    store.apply(None, partial=False, validate=False)
    return store


def test_request_only_view_needs_no_entity_keys(repo_factory):
    store = bad_store(repo_factory, '    return {"inverse": [1 / x for x in inputs["x"]]}')
    assert store.get_online_features(["inverse:inverse"], [{"x": 4}, {"x": 2}]).to_dict() == {"inverse": [0.25, 0.5]}


def test_a_raising_function_names_the_first_failing_row(repo_factory):
    store = bad_store(repo_factory, '    return {"inverse": [1 / x for x in inputs["x"]]}')
    with pytest.raises(RetrievalError, match=r"^OnDemandFeatureView 'inverse': udf features.py:inverse raised "
                                             r"ZeroDivisionError: division by zero on entity row 1 \{'x': 0\}; fix "
                                             r"the function or the row's values$"):
        store.get_online_features(["inverse:inverse"], [{"x": 4}, {"x": 0}, {"x": 0}])


def test_a_missing_output_feature_is_refused(repo_factory):
    store = bad_store(repo_factory, '    return {"inv": [1.0 for x in inputs["x"]]}')
    with pytest.raises(RetrievalError, match=r"^OnDemandFeatureView 'inverse': udf features.py:inverse returned no "
                                             r"'inverse' \(it returned: inv\); return every feature of its schema$"):
        store.get_online_features(["inverse:inverse"], [{"x": 4}])


def test_an_output_of_the_wrong_type_names_the_row(repo_factory):
    store = bad_store(repo_factory, '    return {"inverse": [1.0 if x else "none" for x in inputs["x"]]}')
    with pytest.raises(RetrievalError, match=r"^OnDemandFeatureView 'inverse': udf features.py:inverse returned a "
                                             r"wrong value for 'inverse' \(declared Float64\) in entity row 1 "
                                             r"\{'x': 0\}: 'none' \(str\) is not a number; return Float64 values or "
                                             r"change the schema$"):
        store.get_online_features(["inverse:inverse"], [{"x": 4}, {"x": 0}])


def test_an_output_of_the_wrong_length_is_refused(repo_factory):
    store = bad_store(repo_factory, '    return {"inverse": [1.0]}')
    with pytest.raises(RetrievalError, match=r"returned 1 values for 'inverse', expected one per row \(2\)"):
        store.get_online_features(["inverse:inverse"], [{"x": 4}, {"x": 0}])


def test_pandas_mode_must_return_a_dataframe(repo_factory):
    store = bad_store(repo_factory, '    return {"inverse": [1.0] * len(inputs)}', mode="pandas")
    with pytest.raises(RetrievalError, match=r"returned dict; in mode='pandas' it must return a pandas DataFrame"):
        store.get_online_features(["inverse:inverse"], [{"x": 4}])


def test_pandas_mode_ints_with_nulls_arrive_as_floats_as_spark_gives_them(repo_factory):
    store = bad_store(repo_factory, '    import pandas as pd\n    return pd.DataFrame({"inverse": inputs["x"] / 2})',
                      mode="pandas")
    response = store.get_online_features(["inverse:inverse"], [{"x": 4}, {"x": None}])
    assert response.to_dict()["inverse"][0] == 2.0 and response.to_dict()["inverse"][1] != response.to_dict()[
        "inverse"][1]  # NaN: a float value, as in Spark


# --- definitions -----------------------------------------------------------------------------

def plain(inputs):
    return inputs


def test_definitions_round_trip_through_the_registry_proto():
    from featurestore import Entity, SparkSource

    driver = Entity(name="driver", join_keys=["driver_id"])
    view = FeatureView(name="stats", entities=[driver], schema=[Field(name="driver_id", dtype=Int64),
                                                                Field(name="conv_rate", dtype=Float32)],
                       source=SparkSource(name="s", table="t", timestamp_field="ts"))
    odfv = OnDemandFeatureView(name="odfv", sources=[view, RequestSource(name="r", schema=[
        Field(name="val", dtype=Int64)])], schema=[Field(name="out", dtype=Float64)], udf=plain, mode="python")
    assert odfv.input_names == ["conv_rate", "val"]
    back = OnDemandFeatureView.from_proto(odfv.to_proto())
    assert back == odfv and back.udf is None and back.udf_code.source == inspect.getsource(plain)
    state = RegistryState(project="p", on_demand_feature_views={"odfv": odfv})
    assert RegistryState.from_proto(state.to_proto()).on_demand_feature_views == {"odfv": odfv}
    assert odfv[["out"]].view_name == "odfv"
    assert repr(odfv).startswith("OnDemandFeatureView(name='odfv', sources=['stats'], request_fields=['val']")


def test_decorator_names_the_view_after_the_function():
    source = RequestSource(name="r", schema=[Field(name="val", dtype=Int64)])
    view = on_demand_feature_view(sources=[source], schema=[Field(name="out", dtype=Int64)], mode="python")(plain)
    assert (view.name, view.mode, view.udf) == ("plain", "python", plain)


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "spark"}, r"mode must be 'python' \(dict of lists\) or 'pandas' \(DataFrame\), got 'spark'"),
    ({"udf": lambda inputs: inputs}, r"udf <lambda> must be a module-level `def`"),
    ({"sources": []}, r"sources must be a non-empty list"),
    ({"sources": ["stats"]}, r"source 'stats' is not a FeatureView, a view\[\[...\]\] selection or a RequestSource"),
    ({"schema": []}, r"schema must be a non-empty list of Field objects"),
    ({"sources": [RequestSource(name="a", schema=[Field(name="v", dtype=Int64)]),
                  RequestSource(name="b", schema=[Field(name="v", dtype=Int64)])]},
     r"function input \(source feature or request field\) 'v' is listed twice"),
])
def test_bad_definitions_are_one_line_errors(kwargs, message):
    arguments = {"name": "odfv", "sources": [RequestSource(name="r", schema=[Field(name="v", dtype=Int64)])],
                 "schema": [Field(name="out", dtype=Float64)], "udf": plain, "mode": "python", **kwargs}
    with pytest.raises(DefinitionError, match=message):
        OnDemandFeatureView(**arguments)


def test_a_function_outside_the_repo_is_refused_at_apply(repo_factory):
    store = FeatureStore(repo_factory(BAD.format(mode="python", body="    return inputs")))
    odfv = OnDemandFeatureView(name="outside", sources=[RequestSource(name="r", schema=[Field(name="v", dtype=Int64)])],
                               schema=[Field(name="out", dtype=Float64)], udf=plain, mode="python")
    with pytest.raises(DefinitionError, match=r"^OnDemandFeatureView 'outside': udf plain is defined in .*"
                                              r"test_on_demand_online.py, outside the feature repo .*; move it into "
                                              r"a .py file of the repo"):
        store.apply([odfv], validate=False)


def test_a_name_shared_with_a_feature_view_is_refused(repo_factory):
    store = FeatureStore(repo_factory(DEFINITIONS + '''
def clash(inputs):
    return inputs

stats_clash = OnDemandFeatureView(name="stats", sources=[vals], schema=[Field(name="x", dtype=Int64)], udf=clash,
                                  mode="python")
'''))
    with pytest.raises(DefinitionError, match=r"OnDemandFeatureView 'stats' has the name of a feature view"):
        store.apply(None, partial=False, validate=False)


def test_python_mode_online_reads_import_neither_pandas_nor_pyspark(store):
    if store.config.online_store.type != "sqlite":
        pytest.skip("one store is enough")
    code = (f"import sys; from featurestore.store import FeatureStore; s = FeatureStore({str(store.repo_path)!r}); "
            f"r = s.get_online_features(['transformed_conv_rate:conv_rate_plus_val'], "
            f"[{{'driver_id': 1001, 'val_to_add': 2}}]).to_dict(); "
            f"print(r['conv_rate_plus_val'], 'pandas' in sys.modules, 'pyspark' in sys.modules, "
            f"'pyarrow' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[2.5] False False False"


def test_online_overhead_per_entity_row_in_python_mode(store, capsys):
    """The on-demand step's cost per entity row for a trivial function (target: < 20 us in python mode)."""
    if store.config.online_store.type != "sqlite":
        pytest.skip("one store is enough")
    rows = [{"driver_id": 1001 + i % 2, "val_to_add": i} for i in range(2000)]

    def best(refs):
        times = []
        for _ in range(7):
            started = time.perf_counter()
            store.get_online_features(refs, rows)
            times.append(time.perf_counter() - started)
        return min(times)
    plain_read = best(["stats:conv_rate"])
    with_odfv = best(["stats:conv_rate", "transformed_conv_rate:conv_rate_plus_val"])
    overhead_us = (with_odfv - plain_read) / len(rows) * 1e6
    with capsys.disabled():
        print(f"\non-demand overhead (python mode, trivial udf): {overhead_us:.2f} us per entity row "
              f"(read alone {plain_read / len(rows) * 1e6:.2f} us per row)")
    assert overhead_us < 20


def test_cli_takes_request_fields_in_the_entity_rows(store, capsys):
    from featurestore.cli import main

    base = ["get-online-features", "--repo", str(store.repo_path), "-f", "transformed_conv_rate:conv_rate_plus_val"]
    assert main(base + ["-e", "driver_id=1001,val_to_add=2", "-e", "driver_id=1002,val_to_add=1"]) == 0
    assert json.loads(capsys.readouterr().out)["values"] == {"driver_id": [1001, 1002], "conv_rate_plus_val": [2.5, 1.25]}
    assert main(base + ["-e", "driver_id=1001"]) == 1
    assert capsys.readouterr().err == ("Error: entity row 0 {'driver_id': 1001} lacks request field 'val_to_add' of "
                                       "OnDemandFeatureView 'transformed_conv_rate'; add it to every entity row\n")


def test_a_deleted_function_file_or_no_repo_folder_is_refused(store):
    from featurestore.online.read import get_online_features

    refs, rows = ["transformed_conv_rate:conv_rate_plus_val"], [{"driver_id": 1001, "val_to_add": 2}]
    with pytest.raises(ValidationError, match=r"^OnDemandFeatureView 'transformed_conv_rate': udf "
                                              r"features.py:transformed_conv_rate lives in the feature repo, but no "
                                              r"repo folder was given; use FeatureStore\(repo_path=...\)"):
        get_online_features(store.registry, store.online_store, store.project, refs, rows)
    (store.repo_path / "features.py").unlink()
    with pytest.raises(ValidationError, match=r"udf features.py:transformed_conv_rate cannot be found: .*features.py "
                                              r"does not exist in the feature repo; restore it, or run `featurestore "
                                              r"plan`"):
        store.get_online_features(refs, rows)


def test_the_catalogs_snippets_run_as_pasted(store):
    """The service page's Python and curl snippets, for a service with an on-demand view, run
    against the store and a running server: they carry the view's request field."""
    import html
    import re
    import shlex

    from featurestore.catalog import pages
    from featurestore.serving.server import FeatureServer

    page = pages.feature_service(store.registry, "ranking")
    python, curl = (html.unescape(block) for block in re.findall(r"<pre>(.*?)</pre>", page, flags=re.S))
    assert '"val_to_add": [1001]' in curl
    scope = {}
    exec(python.replace("path/to/repo", str(store.repo_path)), scope)
    assert scope["features"] == {"driver_id": [1001], "acc_rate": [0.75], "conv_rate_plus_val": [1001.5]}
    server = FeatureServer(store, port=0).start()
    try:
        command = shlex.split(curl.replace("\\\n", " ").replace("http://127.0.0.1:6566", server.url))
        answer = json.loads(subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout)
        names = answer["metadata"]["feature_names"]
        assert {n: r["values"] for n, r in zip(names, answer["results"])} == {
            "driver_id": [1001], "acc_rate": [0.75], "conv_rate_plus_val": [1001.5]}
    finally:
        server.stop()
