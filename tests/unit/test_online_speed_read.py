"""get_online_features keeps its behaviour with the speed-ups of issue #15: the cached request
plan sees every registry change, the batch key path raises the row-by-row path's errors, the
one-entity Redis HMGET answers as the READ script does. Both stores, no Spark (the registry is
written with RegistryFile directly)."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest

from featurestore import Entity, FeatureService, FeatureView, Field
from featurestore.errors import NotFoundError, RetrievalError
from featurestore.online.read import get_online_features
from featurestore.registry import RegistryFile, RegistryState
from featurestore.store import FeatureStore
from featurestore.testing.repos import write_repo
from featurestore.types import Float64, Int64, String
from tests.online_helpers import DRIVER, PROJECT, SOURCE, row
from tests.repo_helpers import online_store_section

CITY = Entity(name="city", join_keys=["city"])
NOW_US = int(time.time() * 1_000_000)


def _view(name: str, ttl=timedelta(days=1), features=("rate", "trips"), online=True, entity=DRIVER,
          key_type=Int64) -> FeatureView:
    key_name = entity.join_keys[0]
    schema = [Field(name=key_name, dtype=key_type)]
    schema += [Field(name=f, dtype=Float64 if f == "rate" else Int64) for f in features]
    return FeatureView(name=name, entities=[entity], source=SOURCE, ttl=ttl, schema=schema, online=online)


STATS = _view("stats")
MORE = _view("more", features=("rate",))
CITIES = _view("cities", features=("trips",), entity=CITY, key_type=String)


@pytest.fixture(params=["sqlite", "redis"])
def feature_store(request, tmp_path):
    write_repo(tmp_path / "repo", project=PROJECT, online_store=online_store_section(request, request.param))
    store = FeatureStore(tmp_path / "repo")
    register(store, STATS, MORE, CITIES)
    store.online_store.update(PROJECT, [STATS, MORE, CITIES], [])
    store.online_store.online_write_flat(PROJECT, STATS, [row(STATS, d, {"rate": d / 10, "trips": d}, NOW_US)
                                                          for d in (1, 2, 3)])
    store.online_store.online_write_flat(PROJECT, MORE, [row(MORE, 2, {"rate": 0.25}, NOW_US)])
    store.online_store.online_write_flat(PROJECT, CITIES, [row(CITIES, "Oslo", {"trips": 7}, NOW_US)])
    yield store
    store.online_store.close()


def register(store: FeatureStore, *views: FeatureView) -> None:
    def put(state: RegistryState) -> None:
        state.entities[DRIVER.name] = DRIVER
        state.entities[CITY.name] = CITY
        state.data_sources[SOURCE.name] = SOURCE
        for view in views:
            state.feature_views[view.name] = view

    store.registry_store.update(put)


def test_values_and_statuses_of_one_and_many_entities(feature_store):
    response = feature_store.get_online_features(["stats:rate", "stats:trips"], [{"driver_id": 2}])
    assert response.to_dict() == {"driver_id": [2], "rate": [0.2], "trips": [2]}
    assert response.statuses() == {"driver_id": ["PRESENT"], "rate": ["PRESENT"], "trips": ["PRESENT"]}
    rows = [{"driver_id": 3}, {"driver_id": 9}, {"driver_id": None}, {"driver_id": 3}, {"driver_id": 1}]
    response = feature_store.get_online_features(["stats:trips", "more:rate"], rows)
    assert response.to_dict() == {"driver_id": [3, 9, None, 3, 1], "trips": [3, None, None, 3, 1],
                                  "rate": [None, None, None, None, None]}
    assert response.statuses()["trips"] == ["PRESENT", "NOT_FOUND", "NOT_FOUND", "PRESENT", "PRESENT"]
    assert response.statuses()["rate"] == ["NOT_FOUND"] * 5


def test_one_entity_across_views_of_one_and_of_two_entities(feature_store):
    """One entity of two views shares a Redis hash (one HMGET); a second entity's view does not."""
    refs = ["stats:trips", "more:rate"]
    assert feature_store.get_online_features(refs, [{"driver_id": 2}]).to_dict() == \
        {"driver_id": [2], "trips": [2], "rate": [0.25]}
    response = feature_store.get_online_features(refs, [{"driver_id": 1}])
    assert response.to_dict() == {"driver_id": [1], "trips": [1], "rate": [None]}
    assert response.statuses()["rate"] == ["NOT_FOUND"]
    response = feature_store.get_online_features(["stats:trips", "cities:trips"], [{"driver_id": 2, "city": "Oslo"}],
                                                 full_feature_names=True)
    assert response.to_dict() == {"driver_id": [2], "city": ["Oslo"], "stats__trips": [2], "cities__trips": [7]}


def test_a_feature_service_and_a_list_of_its_references_answer_alike(feature_store):
    service = FeatureService(name="svc", features=[STATS[["trips"]], MORE])
    rows = [{"driver_id": 2}, {"driver_id": 1}]
    by_service = feature_store.get_online_features(service, rows)
    by_refs = feature_store.get_online_features(["stats:trips", "more:rate"], rows)
    assert by_service.to_dict() == by_refs.to_dict() == {"driver_id": [2, 1], "trips": [2, 1], "rate": [0.25, None]}


def test_each_registry_change_is_seen_on_the_next_call(feature_store):
    refs = ["stats:rate", "stats:trips"]
    assert feature_store.get_online_features(refs, [{"driver_id": 1}]).statuses()["rate"] == ["PRESENT"]
    register(feature_store, _view("stats", ttl=timedelta(microseconds=1)))  # ttl only: values are kept
    response = feature_store.get_online_features(refs, [{"driver_id": 1}])
    assert response.statuses()["rate"] == ["OUTSIDE_MAX_AGE"] and response.to_dict()["rate"] == [None]
    register(feature_store, _view("stats", online=False))
    with pytest.raises(RetrievalError, match="feature view 'stats' is offline only"):
        feature_store.get_online_features(refs, [{"driver_id": 1}])
    register(feature_store, _view("stats", features=("rate",)))
    with pytest.raises(NotFoundError, match="feature view 'stats' has no feature 'trips'"):
        feature_store.get_online_features(refs, [{"driver_id": 1}])
    register(feature_store, STATS)
    assert feature_store.get_online_features(refs, [{"driver_id": 1}]).to_dict() == \
        {"driver_id": [1], "rate": [0.1], "trips": [1]}


def test_a_registry_object_changed_in_place_is_seen(feature_store):
    registry = RegistryFile(feature_store.registry_store.path, PROJECT).load()
    store = feature_store.online_store
    read = lambda: get_online_features(registry, store, PROJECT, ["stats:rate"], [{"driver_id": 1}])  # noqa: E731
    assert read().statuses()["rate"] == ["PRESENT"]
    registry.feature_views["stats"] = _view("stats", ttl=timedelta(microseconds=1))
    assert read().statuses()["rate"] == ["OUTSIDE_MAX_AGE"]
    del registry.feature_views["stats"]
    with pytest.raises(NotFoundError, match="no feature view 'stats'"):
        read()


@pytest.mark.parametrize("rows, message", [
    ([{"driver_id": 1}, {"driver_id": "2"}, {}], r"^join key 'driver_id' must be Int64: '2' \(str\) is not an integer"),
    ([{"driver_id": 1}, {}, {"driver_id": "2"}], r"^entity row 1 \{\} lacks join key 'driver_id' of feature view 'stats'$"),
    ([{"driver_id": 1}, [2]], r"^entity row 1 must be a dict of join keys, got \[2\]$"),
    ([{"driver_id": float("nan")}], r"^join key 'driver_id' is null"),
    ([{"driver_id": True}], r"^join key 'driver_id' must be Int64: True \(bool\) is a boolean, not an integer"),
])
def test_bad_entity_rows_are_refused_naming_the_first_bad_row(feature_store, rows, message):
    with pytest.raises(RetrievalError, match=message):
        feature_store.get_online_features(["stats:rate"], rows)


def test_numpy_keys_and_a_stored_null_read_as_before(feature_store):
    import numpy as np

    feature_store.online_store.online_write_flat(PROJECT, STATS, [row(STATS, 5, {"rate": None, "trips": 4}, NOW_US)])
    response = feature_store.get_online_features(["stats:rate", "stats:trips"],
                                                 [{"driver_id": np.int64(5)}, {"driver_id": 2}])
    assert response.to_dict()["rate"] == [None, 0.2] and response.to_dict()["trips"] == [4, 2]
    assert response.statuses()["rate"] == ["NULL_VALUE", "PRESENT"]  # a stored null, as over HTTP
