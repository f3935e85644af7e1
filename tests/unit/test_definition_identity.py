"""Definitions have an identity (featurestore.identity), and online state follows it (#36).

Fingerprints, registry ids, fenced writes, apply's order (registry first, then the online
store), a crash between the two, collisions of SQLite table names, the SQL registry's
cache after teardown, and the one status vocabulary. No JVM: apply runs with
validate=False, values are written as materialization writes them.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from featurestore import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource
from featurestore.errors import DefinitionChangedError, OnlineStoreError, RegistryConflictError
from featurestore.identity import online_generation, service_fingerprint, view_fingerprint
from featurestore.online.codec import encode_value, serialize_entity_key
from featurestore.testing.repos import sqlite_online_store, write_repo
from featurestore.types import Float64, Int64, String
from tests.online_helpers import make_store

DRIVER = Entity(name="driver", join_keys=["driver_id"])
HOUR_US = 3_600_000_000


def view(name="stats", description="", features=("rate",), path="data/stats.parquet", ttl=timedelta(days=1),
         dtype=Float64, tags=None, owner="") -> FeatureView:
    return FeatureView(name=name, entities=[DRIVER], ttl=ttl, description=description, tags=tags or {}, owner=owner,
                       source=FileSource(name=f"{name}_src", path=path, timestamp_field="event_ts"),
                       schema=[Field(name="driver_id", dtype=Int64)] + [Field(name=f, dtype=dtype) for f in features])


def key(driver_id: int) -> bytes:
    return serialize_entity_key(["driver_id"], [driver_id], [Int64])


def flat(driver_id: int, rate, event_us: int) -> tuple:
    return (key(driver_id), event_us, 0, encode_value(rate, Float64))


def now_us() -> int:
    import time

    return int(time.time() * 1_000_000)


def online(store, driver_id=1, feature="rate"):
    response = store.get_online_features([f"stats:{feature}"], [{"driver_id": driver_id}])
    return response.to_dict()[feature][0], response.statuses()[feature][0]


def generation(store, name="stats") -> str:
    state = store.registry
    return online_generation(state, state.feature_views[name])


# --- fingerprints and registry ids ---------------------------------------------------------------

def test_a_fingerprint_changes_with_what_decides_values_and_only_with_that():
    base = view_fingerprint(view())
    kept = [view(description="new words"), view(ttl=timedelta(days=30)), view(tags={"team": "x"}), view(owner="a@b")]
    assert [view_fingerprint(v) for v in kept] == [base] * len(kept)
    changed = [view(features=("rate", "city")), view(path="data/other.parquet"), view(dtype=String)]
    fingerprints = [view_fingerprint(v) for v in changed]
    assert base not in fingerprints and len(set(fingerprints)) == len(changed)


def test_a_service_fingerprint_follows_the_views_it_serves(tmp_path):
    store = FeatureStore(write_repo(tmp_path / "repo"))
    service = FeatureService(name="svc", features=[view()])
    store.apply([DRIVER, view(), service], validate=False)
    before = service_fingerprint(store.registry, service)
    store.apply([view(description="words")], validate=False)
    assert service_fingerprint(store.registry, service) == before
    store.apply([view(path="data/other.parquet")], validate=False)
    assert service_fingerprint(store.registry, service) != before
    narrower = FeatureService(name="svc", features=[view()[["rate"]].with_name("renamed")])
    assert service_fingerprint(store.registry, narrower) != service_fingerprint(store.registry, service)


def test_a_registry_keeps_its_id_and_a_registry_made_again_gets_another(tmp_path):
    store = FeatureStore(write_repo(tmp_path / "repo"))
    store.apply([DRIVER, view()], validate=False)
    first = store.registry.registry_id
    store.apply([view(description="v2")], validate=False)
    assert len(first) == 32 and store.registry.registry_id == first and store.registry.version == 2
    store.teardown()
    store.apply([DRIVER, view(description="v2")], validate=False)
    assert store.registry.version == 1 and store.registry.registry_id != first
    assert generation(store).split(":") == [store.registry.registry_id, view_fingerprint(view())]


# --- fenced writes -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_writer_of_a_replaced_generation_writes_nothing_more(kind, request, tmp_path):
    store = make_store(kind, request, tmp_path)
    stats = view()
    assert store.claim_generation("proj", stats, "r:old") == "r:old"
    assert store.claim_generation("proj", stats, "r:other") == "r:old"  # a claim never replaces one
    assert store.online_write_flat("proj", stats, [flat(1, 1.0, HOUR_US)], "r:old") == 1
    assert store.reset_view("proj", stats, "r:new", expected="r:stale") is False  # not the one recorded: nothing
    assert store.online_read("proj", stats, [key(1)], ["rate"])[0].values == {"rate": encode_value(1.0, Float64)}
    assert store.reset_view("proj", stats, "r:new", expected="r:old") is True
    assert store.online_read("proj", stats, [key(1)], ["rate"]) == [None]  # the old values are gone
    with pytest.raises(DefinitionChangedError, match=r"^stats changed while this write ran; nothing recorded; "
                                                     r"run it again$"):
        store.online_write_flat("proj", stats, [flat(2, 2.0, HOUR_US)], "r:old")
    assert store.online_read("proj", stats, [key(2)], ["rate"]) == [None]
    assert store.online_write_flat("proj", stats, [flat(2, 2.0, HOUR_US)], "r:new") == 1
    store.close()


# --- apply: the registry first, then the online store ---------------------------------------------

def test_apply_of_a_changed_view_removes_its_values_after_the_registry_write(tmp_path):
    store = FeatureStore(write_repo(tmp_path / "repo"))
    store.apply([DRIVER, view()], validate=False)
    old = generation(store)
    store.online_store.online_write_flat(store.project, view(), [flat(1, 1.0, now_us())], old)
    assert online(store) == (1.0, "PRESENT")
    diff = store.apply([view(path="data/other.parquet")], validate=False)
    assert [c.restart for c in diff.restarted()] == ["its source changed"]
    assert online(store) == (None, "NOT_FOUND")
    state = store.registry
    assert state.feature_views["stats"].online_reset_pending is False and generation(store) != old
    with pytest.raises(DefinitionChangedError):  # a materialization that read the old definition
        store.online_store.online_write_flat(store.project, view(), [flat(1, 1.0, now_us())], old)


def test_an_apply_that_loses_a_conflict_leaves_the_online_store_untouched(tmp_path, monkeypatch):
    repo = write_repo(tmp_path / "repo")
    mine, theirs = FeatureStore(repo), FeatureStore(repo)
    mine.apply([DRIVER, view()], validate=False)
    mine.online_store.online_write_flat(mine.project, view(), [flat(1, 1.0, now_us())], generation(mine))
    base = mine.registry
    theirs.apply([view(description="theirs")], validate=False)  # lands while mine is validating
    loads = iter([base])
    monkeypatch.setattr(mine.registry_store, "load", lambda real=mine.registry_store.load: next(loads, None) or real())
    with pytest.raises(RegistryConflictError, match="another process changed feature view stats"):
        mine.apply([view(path="data/other.parquet")], validate=False)  # would restart stats
    monkeypatch.undo()
    assert online(mine) == (1.0, "PRESENT")  # nothing was written, so nothing was removed
    assert mine.registry.version == 2 and mine.registry.feature_views["stats"].description == "theirs"


def test_a_crash_between_the_registry_write_and_the_reset_serves_nothing_old_and_the_next_apply_repairs(tmp_path):
    from featurestore.apply import applied_onto, as_contents
    from featurestore.plan import compute_diff

    store = FeatureStore(write_repo(tmp_path / "repo"))
    store.apply([DRIVER, view()], validate=False)
    old = generation(store)
    store.online_store.online_write_flat(store.project, view(), [flat(1, 1.0, now_us())], old)
    base = store.registry
    diff = compute_diff(base, as_contents([view(path="data/other.parquet")]), False)
    store.registry_store.update(applied_onto(base, diff), command="apply")  # step 2 of apply; then killed
    assert store.registry.feature_views["stats"].online_reset_pending is True
    assert online(store) == (None, "NOT_FOUND")  # the old value is still stored, never served
    assert store.online_store.online_read(store.project, view(), [key(1)], ["rate"])[0] is not None
    store.apply([view(path="data/other.parquet")], validate=False)  # nothing to change: repairs only
    assert store.registry.feature_views["stats"].online_reset_pending is False
    assert store.online_store.online_read(store.project, view(), [key(1)], ["rate"]) == [None]
    assert store.online_store.claim_generation(store.project, view(), "x") == generation(store) != old


def test_push_after_an_apply_writes_under_the_new_definition_only(tmp_path):
    import pandas as pd

    from featurestore import PushSource

    pushed = PushSource(name="stats_push", batch_source=FileSource(name="stats_src", path="data/stats.parquet",
                                                                   timestamp_field="event_ts"))
    pushed_view = FeatureView(name="stats", entities=[DRIVER], ttl=timedelta(days=1), source=pushed,
                              schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
    store = FeatureStore(write_repo(tmp_path / "repo"))
    store.apply([DRIVER, pushed_view], validate=False)
    rows = pd.DataFrame({"driver_id": [1], "rate": [0.5], "event_ts": [pd.Timestamp.now(tz="UTC")]})
    assert store.push("stats_push", rows) == {"stats": 1}
    assert online(store) == (0.5, "PRESENT")
    assert store.online_store.claim_generation(store.project, pushed_view, "x") == generation(store)


# --- table names, statuses, registries -------------------------------------------------------------

def test_two_projects_whose_table_names_coincide_cannot_share_a_table(tmp_path):
    shared = sqlite_online_store(str(tmp_path / "online.db"))
    team = FeatureStore(write_repo(tmp_path / "team", project="team", online_store=shared))
    team_a = FeatureStore(write_repo(tmp_path / "team_a", project="team_a", online_store=shared))
    team.apply([DRIVER, view("a_stats")], validate=False)
    team.online_store.online_write_flat("team", view("a_stats"), [flat(1, 1.0, now_us())], generation(team, "a_stats"))
    with pytest.raises(OnlineStoreError) as refused:
        team_a.apply([DRIVER, view("stats")], validate=False)
    assert str(refused.value) == (
        f"online store {tmp_path / 'online.db'}: feature view 'stats' of project 'team_a' would be stored in table "
        f"'team_a_stats', which holds feature view 'a_stats' of project 'team'; rename the view, or give one of the "
        f"projects its own online_store.path")
    assert not team_a.registry_store.exists()  # refused before anything was written
    team_a.online_store.teardown("team_a", [view("stats")])  # the other project's teardown drops nothing of team's
    response = team.get_online_features(["a_stats:rate"], [{"driver_id": 1}])
    assert (response.to_dict()["rate"], response.statuses()["rate"]) == ([1.0], ["PRESENT"])


def test_a_stored_null_is_null_value_from_python_as_over_http(tmp_path):
    store = FeatureStore(write_repo(tmp_path / "repo"))
    store.apply([DRIVER, view()], validate=False)
    store.online_store.online_write_flat(store.project, view(), [(key(1), now_us(), 0, b"")], generation(store))
    assert online(store) == (None, "NULL_VALUE")
    assert online(store, driver_id=2) == (None, "NOT_FOUND")


@pytest.mark.parametrize("registry_kind", ["sqlite", "postgresql"])
def test_a_running_reader_of_a_sql_registry_sees_a_registry_made_again(registry_kind, request, tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.sqlite'}" if registry_kind == "sqlite" else \
        request.getfixturevalue("postgres_database")
    writer = FeatureStore(write_repo(tmp_path / "repo", registry=url))
    writer.apply([DRIVER, view(), FeatureService(name="svc", features=[view()])], validate=False)
    reader = FeatureStore(write_repo(tmp_path / "repo", registry=url))  # as `featurestore serve` holds it
    assert sorted(reader.registry.feature_services) == ["svc"]
    writer.teardown()
    writer.apply([DRIVER, view(ttl=timedelta(hours=2))], validate=False)  # version 1 again, another registry
    state = reader.registry
    assert state.version == 1 and state.feature_services == {}
    assert state.feature_views["stats"].ttl == timedelta(hours=2)


def test_plan_says_what_a_ttl_change_does_to_online(tmp_path):
    store = FeatureStore(write_repo(tmp_path / "repo"))
    store.apply([DRIVER, view(ttl=timedelta(days=10))], validate=False)
    raised = store.plan([DRIVER, view(ttl=timedelta(days=30))], validate=False).render()
    assert raised.splitlines()[:2] == [
        "~ change FeatureView         stats",
        "    ttl 10d -> 30d: the next materialization reloads 20d (events older than what is online, now within "
        "the ttl)"]
    lowered = store.plan([DRIVER, view(ttl=timedelta(hours=36))], validate=False).render()
    assert lowered.splitlines()[1] == ("    ttl 10d -> 36h: values older than 36h are no longer served (reads say "
                                       "OUTSIDE_MAX_AGE)")
