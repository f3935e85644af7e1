"""Training equals serving while definitions change and jobs overlap (#36), on SQLite and Redis.

- an apply that lands while a materialization runs: the materialization writes nothing
  more, records nothing, says so in one line, and the next run serves the new definition;
- a ttl raised: the next materialize-incremental loads the values the longer ttl reaches;
- a saved training set rebuilds row for row after the registry changed, from the
  definitions saved with it.
"""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from featurestore.errors import DefinitionChangedError
from featurestore.store import FeatureStore

pytestmark = pytest.mark.spark
NOW = datetime.now(UTC).replace(microsecond=0)

VIEW = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.types import Float64, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days={ttl_days}),
    source=SparkSource(name="src", table="{table}", timestamp_field="event_ts"),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
"""


@pytest.fixture(scope="module")
def tables(spark):
    """Driver 1 at 2 hours ago and driver 2 at 30 hours ago; rates 1.0/2.0 in the first table, 100x in the second."""
    names = []
    for scale in (1.0, 100.0):
        name = f"tc_{uuid.uuid4().hex[:8]}"
        spark.createDataFrame([(1, NOW - timedelta(hours=2), 1.0 * scale), (2, NOW - timedelta(hours=30), 2.0 * scale)],
                              "driver_id bigint, event_ts timestamp, rate double").write.format("delta").saveAsTable(name)
        names.append(name)
    return names


@pytest.fixture
def make_store(online_config, repo_factory):
    project = f"p_{uuid.uuid4().hex[:6]}"

    def make(table, ttl_days=1):
        return FeatureStore(repo_factory(VIEW.format(table=table, ttl_days=ttl_days), project=project,
                                         online_store=online_config))
    return make


def online_and_offline(store, drivers=(1, 2), view="stats"):
    """[(online value, status, offline value)] per driver, now."""
    response = store.get_online_features([f"{view}:rate"], [{"driver_id": d} for d in drivers])
    entity = store.spark.createDataFrame([(d, datetime.now(UTC)) for d in drivers],
                                         "driver_id bigint, event_timestamp timestamp")
    offline = {r.driver_id: r.rate for r in
               store.get_historical_features(entity, [f"{view}:rate"]).to_spark_df().collect()}
    return [(v, s, offline[d]) for d, v, s in zip(drivers, response.to_dict()["rate"], response.statuses()["rate"])]


def test_an_apply_during_materialization_stops_it_and_nothing_old_is_served(make_store, tables):
    store = make_store(tables[0])
    store.apply(store.load_repo(), partial=False)
    changed = make_store(tables[1])

    def apply_meanwhile(line: str) -> None:  # the run has read the definition; the apply lands before it writes
        if line.startswith("stats: materializing"):
            changed.apply(changed.load_repo(), partial=False)

    with pytest.raises(DefinitionChangedError) as stopped:
        store.materialize_incremental(datetime.now(UTC), log=apply_meanwhile)
    assert str(stopped.value) == "stats changed while materializing; nothing recorded; run it again"
    assert changed.get_feature_view("stats").materialization_intervals == []
    assert online_and_offline(changed) == [(None, "NOT_FOUND", 100.0), (None, "NOT_FOUND", None)]
    results = changed.materialize_incremental(datetime.now(UTC), log=lambda _: None)
    assert [r.rows_written for r in results] == [1]
    assert online_and_offline(changed) == [(100.0, "PRESENT", 100.0), (None, "NOT_FOUND", None)]


def test_a_raised_ttl_makes_the_next_incremental_load_what_it_now_reaches(make_store, tables):
    store = make_store(tables[0], ttl_days=1)
    store.apply(store.load_repo(), partial=False)
    store.materialize_incremental(datetime.now(UTC), log=lambda _: None)
    assert online_and_offline(store) == [(1.0, "PRESENT", 1.0), (None, "NOT_FOUND", None)]

    store = make_store(tables[0], ttl_days=3)
    plan = store.plan(store.load_repo()).render()
    assert "    ttl 1d -> 3d: the next materialization reloads 2d (events older than what is online, now within the " \
           "ttl)" in plan.splitlines()
    store.apply(store.load_repo(), partial=False)
    assert online_and_offline(store)[1] == (None, "NOT_FOUND", 2.0)  # training reaches it, online not yet
    results = store.materialize_incremental(datetime.now(UTC), log=lambda _: None)
    assert [r.rows_written for r in results] == [1, 0]  # the reached span, then the usual one
    assert online_and_offline(store) == [(1.0, "PRESENT", 1.0), (2.0, "PRESENT", 2.0)]


def test_a_training_set_rebuilds_from_its_own_definitions_after_the_registry_changed(make_store, tables):
    store = make_store(tables[0], ttl_days=1)
    store.apply(store.load_repo(), partial=False)
    entity = store.spark.createDataFrame([(1, NOW), (2, NOW)], "driver_id bigint, event_timestamp timestamp")
    table = f"ts_{uuid.uuid4().hex[:8]}"
    store.get_historical_features(entity, ["stats:rate"]).save_as_table(table, profile=False)

    store = make_store(tables[0], ttl_days=3)  # reaches driver 2's row, which the saved set has as null
    store.apply(store.load_repo(), partial=False)
    rebuilt = store.rebuild_training_set(table)
    rows = lambda frame: sorted((r.driver_id, r.rate) for r in frame.collect())  # noqa: E731
    assert rows(rebuilt.to_spark_df()) == rows(store.spark.table(table)) == [(1, 1.0), (2, None)]
    assert rebuilt.rebuilt_with.startswith("the definitions saved with it (registry version 1 of project 'p_")


APPLIER = """
import random, sys, time
from datetime import timedelta
from featurestore import Entity, FeatureStore, FeatureView, Field, PushSource, SparkSource
from featurestore.errors import RegistryConflictError
from featurestore.types import Float64, Int64
repo, tables, pushed_tables, seed, rounds = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(","), \\
    int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(seed)
store = FeatureStore(repo)
driver = Entity(name="driver", join_keys=["driver_id"])
schema = [Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)]
for _ in range(rounds):
    stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(days=rng.choice([1, 3])), schema=schema,
                        source=SparkSource(name="src", table=rng.choice(tables), timestamp_field="event_ts"))
    batch = SparkSource(name="pushed_src", table=rng.choice(pushed_tables), timestamp_field="event_ts")
    pushed = FeatureView(name="pushed", entities=[driver], ttl=timedelta(days=1), schema=schema,
                         source=PushSource(name="pushed_push", batch_source=batch))
    try:
        store.apply([driver, stats, pushed], validate=False)
    except RegistryConflictError:
        pass
    time.sleep(rng.uniform(0, 0.4))
"""
RANDOM_REPO = VIEW + """
from featurestore import PushSource
pushed = FeatureView(name="pushed", entities=[driver], ttl=timedelta(days=1),
    source=PushSource(name="pushed_push", batch_source=SparkSource(name="pushed_src", table="{pushed_table}",
                                                                   timestamp_field="event_ts")),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
"""


@pytest.mark.parametrize("seed", [36])
def test_random_applies_pushes_kills_and_materializations_end_with_online_equal_to_training(
        spark, online_config, repo_factory, tables, seed):
    """Two processes apply random definitions (source tables, ttl) while this one materializes and
    pushes again and again; one applier is killed at a random moment (mid-apply, possibly between
    the registry write and the online reset). After the appliers stop, one materialize-incremental
    makes every online value equal the training set under the registered definitions."""
    import random
    import subprocess
    import sys
    import time

    import pandas as pd

    rng = random.Random(seed)
    pushed_tables = [f"tp_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in pushed_tables:
        spark.createDataFrame([], "driver_id bigint, event_ts timestamp, rate double").write.format("delta") \
            .saveAsTable(name)
    store = FeatureStore(repo_factory(RANDOM_REPO.format(table=tables[0], ttl_days=1, pushed_table=pushed_tables[0]),
                                      project=f"p_{uuid.uuid4().hex[:6]}", online_store=online_config))
    store.apply(store.load_repo(), partial=False)
    appliers = [subprocess.Popen([sys.executable, "-c", APPLIER, str(store.repo_path), ",".join(tables),
                                  ",".join(pushed_tables), str(seed + n), rounds], stderr=subprocess.PIPE, text=True)
                for n, rounds in enumerate(["1000000", "40"])]  # the first applies until it is killed
    kill_at = time.monotonic() + rng.uniform(2, 6)
    stopped = {"materialize": 0, "push": 0}
    while any(p.poll() is None for p in appliers):
        if appliers[0].poll() is None and time.monotonic() > kill_at:
            appliers[0].kill()
        try:
            store.materialize_incremental(datetime.now(UTC), log=lambda _: None)
        except DefinitionChangedError:
            stopped["materialize"] += 1
        row = {"driver_id": [rng.randint(1, 3)], "rate": [rng.randint(0, 99) / 4],
               "event_ts": [pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=rng.randint(1, 600))]}
        try:
            store.push("pushed_push", pd.DataFrame(row), to="online_and_offline")
        except DefinitionChangedError:
            stopped["push"] += 1
        values = store.get_online_features(["stats:rate"], [{"driver_id": 1}]).to_dict()["rate"]
        assert values[0] in (None, 1.0, 100.0)  # never anything no definition gives
    assert appliers[0].returncode == -9 and appliers[1].returncode == 0, appliers[1].stderr.read()
    store.materialize_incremental(datetime.now(UTC), log=lambda _: None)
    for view, drivers in (("stats", (1, 2)), ("pushed", (1, 2, 3))):
        found = online_and_offline(store, drivers, view)
        assert [(value, offline) for value, _, offline in found] == [(offline, offline) for _, _, offline in found]
    assert online_and_offline(store, (1,))[0][2] in (1.0, 100.0)
    print(f"stopped by an apply: {stopped}")
