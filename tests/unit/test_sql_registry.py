"""A registry in SQLite or PostgreSQL: versions with their history, optimistic concurrency
(8 processes at once, nothing lost), kill -9 mid-write, conflicts named in one line, migrate
byte for byte, and the no-JVM read path. PostgreSQL is a real server (tests/postgres_server.py)."""
import getpass
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from featurestore import Entity, FeatureStore, FeatureView, Field, FileSource
from featurestore.cli import main as cli
from featurestore.errors import NotFoundError, RegistryConflictError, RegistryError
from featurestore.registry import RegistryFile, SqlRegistry, open_registry
from featurestore.registry.migrate import migrate
from featurestore.testing.repos import write_repo
from featurestore.types import Float64, Int64

DRIVER = Entity(name="driver", join_keys=["driver_id"])


def view(name: str, description: str = "", features=("rate",)) -> FeatureView:
    return FeatureView(name=name, entities=[DRIVER], ttl=timedelta(hours=1), description=description,
                       source=FileSource(name=f"{name}_src", path="data/stats.parquet", timestamp_field="event_ts"),
                       schema=[Field(name="driver_id", dtype=Int64)] + [Field(name=f, dtype=Float64) for f in features])


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def repo(tmp_path, registry_url):
    return write_repo(tmp_path / "repo", project="shared", registry=registry_url)


def test_each_apply_is_a_version_with_time_user_host_and_diff(repo, registry_url):
    store = FeatureStore(repo)
    assert store.registry_store.keeps_history and not store.registry_store.exists()
    store.apply([DRIVER, view("stats")], validate=False)
    store.apply([view("stats", description="hourly stats")], validate=False)
    store.apply([view("more")], validate=False)
    history = store.registry_store.history()
    assert [(h.version, h.command) for h in history] == [(3, "apply"), (2, "apply"), (1, "apply")]
    assert {h.user for h in history} == {getpass.getuser()} and {h.host for h in history} == {socket.gethostname()}
    assert history[1].summary.splitlines() == ["~ change FeatureView         stats",
                                               "0 to add, 1 to change, 0 to delete."]
    assert history[0].committed_at >= history[2].committed_at
    assert store.registry.version == 3 and sorted(store.registry.feature_views) == ["more", "stats"]
    first = store.registry_store.load_version(1)
    assert sorted(first.feature_views) == ["stats"] and first.feature_views["stats"].description == ""
    assert store.registry_store.load_version(2).feature_views["stats"].description == "hourly stats"
    with pytest.raises(NotFoundError, match="has no version 7 of project 'shared'; it has versions 1 to 3"):
        store.registry_store.load_version(7)
    # plan against an older version: what apply would change had the registry stayed there
    desired = [DRIVER, view("stats", description="hourly stats"), view("more")]
    assert store.plan(desired, validate=False).is_empty()
    against_1 = store.plan(desired, validate=False, against=1)
    assert [(c.action, c.name) for c in against_1.changes] == [("add", "more_src"), ("add", "more"),
                                                                ("change", "stats")]


def test_history_show_and_plan_against_from_the_command_line(repo, capsys):
    store = FeatureStore(repo)
    store.apply([DRIVER, view("stats")], validate=False)
    store.apply([view("stats", description="v2")], validate=False)
    capsys.readouterr()
    assert cli(["registry", "history", "--repo", str(repo)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["2", "1"]
    assert f"{getpass.getuser()}@{socket.gethostname()}" in lines[0] and "apply" in lines[0]
    assert lines[0].endswith("0 to add, 1 to change, 0 to delete.")
    assert cli(["registry", "show", "--version", "1", "--repo", str(repo)]) == 0
    shown = capsys.readouterr().out
    assert '"version": "1"' in shown and '"description": "v2"' not in shown
    assert cli(["registry", "show", "--version", "9", "--repo", str(repo)]) == 1
    assert "has no version 9" in capsys.readouterr().err


def test_file_registries_say_how_to_get_history(tmp_path, capsys):
    repo = write_repo(tmp_path / "repo", project="shared")
    FeatureStore(repo).apply([DRIVER], validate=False)
    assert cli(["registry", "history", "--repo", str(repo)]) == 1
    assert "a file registry keeps only its newest version" in capsys.readouterr().err
    with pytest.raises(RegistryError, match="is at version 1 and cannot show version 0"):
        FeatureStore(repo).registry_store.load_version(0)


def test_a_concurrent_change_to_the_same_object_is_refused_and_writes_nothing(repo):
    mine, theirs = FeatureStore(repo), FeatureStore(repo)
    mine.apply([DRIVER, view("stats"), view("other")], validate=False)
    base = mine.registry
    theirs.apply([view("stats", description="theirs")], validate=False)  # lands while mine is validating
    from featurestore.apply import applied_onto
    from featurestore.plan import compute_diff

    diff = compute_diff(base, _contents([view("stats", description="mine")]), False)
    with pytest.raises(RegistryConflictError, match=r"the registry changed while this apply ran \(version 1 -> 2\): "
                                                    r"another process changed feature view stats, which this apply "
                                                    r"changes too; nothing was written"):
        mine.registry_store.update(applied_onto(base, diff))
    assert mine.registry.version == 2 and mine.registry.feature_views["stats"].description == "theirs"
    # a change to another object goes through, keeping theirs
    diff = compute_diff(base, _contents([view("other", description="mine")]), False)
    mine.registry_store.update(applied_onto(base, diff))
    state = mine.registry
    assert state.version == 3 and state.feature_views["stats"].description == "theirs"
    assert state.feature_views["other"].description == "mine"


def _contents(objects):
    from featurestore.apply import as_contents

    return as_contents(objects)


APPLY_MANY = textwrap.dedent("""
    import sys
    from datetime import timedelta
    from featurestore import Entity, FeatureStore, FeatureView, Field, FileSource
    from featurestore.types import Float64, Int64
    repo, team = sys.argv[1:3]
    store = FeatureStore(repo)
    driver = Entity(name="driver", join_keys=["driver_id"])
    for i in range(3):
        view = FeatureView(name=f"{team}_{i}", entities=[driver], ttl=timedelta(hours=1),
                           source=FileSource(name=f"{team}_src_{i}", path="data/x.parquet", timestamp_field="ts"),
                           schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
        store.apply([driver, view], validate=False)
""")


def test_eight_processes_applying_at_once_lose_nothing(repo):
    teams = [f"team_{n}" for n in range(8)]
    processes = [subprocess.Popen([sys.executable, "-c", APPLY_MANY, str(repo), team], stderr=subprocess.PIPE,
                                  text=True) for team in teams]
    for process in processes:
        _out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-1500:]
    store = FeatureStore(repo)
    state = store.registry
    assert sorted(state.feature_views) == sorted(f"{team}_{i}" for team in teams for i in range(3))
    assert list(state.entities) == ["driver"]
    history = store.registry_store.history()
    assert [h.version for h in history] == list(range(state.version, 0, -1))  # no gap, no duplicate
    assert state.version == 24


def test_eight_first_connections_at_once_all_find_the_table(postgres_server):
    """Each connection creates the table if missing; PostgreSQL does not serialize two CREATE TABLE IF
    NOT EXISTS, so without a lock one of them failed with 'type ... already exists' (seen in CI)."""
    for round_ in range(4):
        name = f"race_{uuid.uuid4().hex[:12]}"
        url = postgres_server.create_database(name)
        try:
            registries = [SqlRegistry(url, "shared") for _ in range(8)]
            start = threading.Barrier(len(registries))

            def first_read(registry, start=start):
                start.wait()
                return registry.exists()

            with ThreadPoolExecutor(len(registries)) as pool:
                assert list(pool.map(first_read, registries)) == [False] * 8, f"round {round_}"
        finally:
            postgres_server.drop_database(name)


WRITE_FOREVER = textwrap.dedent("""
    import sys
    from featurestore import Entity
    from featurestore.registry import SqlRegistry
    registry = SqlRegistry(sys.argv[1], "shared")
    n = 0
    while True:
        n += 1
        def put(state, n=n):
            for i in range(50):  # a registry of some size: each write is a few kB
                state.entities[f"e{i}"] = Entity(name=f"e{i}", join_keys=["k"], description=f"write {n}")
        registry.update(put, command="test")
        print(n, flush=True)
""")


def test_kill_9_mid_write_leaves_the_old_or_the_new_version(registry_url, tmp_path):
    for delay in (0.3, 0.45, 0.6, 0.75, 0.9):
        process = subprocess.Popen([sys.executable, "-c", WRITE_FOREVER, registry_url], stdout=subprocess.PIPE,
                                   text=True)
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    registry = SqlRegistry(registry_url, "shared", tmp_path)
    state = registry.load()
    assert state.version > 0
    descriptions = {entity.description for entity in state.entities.values()}
    assert len(descriptions) == 1 and len(state.entities) == 50  # all of one write, never a mix
    for entry in registry.history():  # every version that exists is whole
        assert len(registry.load_version(entry.version).entities) == 50
    assert [h.version for h in registry.history()] == list(range(state.version, 0, -1))


def test_migrate_copies_a_file_registry_byte_for_byte(tmp_path, registry_url, capsys):
    repo = write_repo(tmp_path / "file_repo", project="shared")
    store = FeatureStore(repo)
    store.apply([DRIVER, view("stats"), view("more", features=("rate", "trips"))], validate=False)
    store.apply([view("stats", description="second")], validate=False)
    file_bytes = (repo / "data" / "registry.db").read_bytes()
    assert cli(["registry", "migrate", "--to", registry_url, "--repo", str(repo)]) == 0
    assert "Copied registry" in capsys.readouterr().out
    target = SqlRegistry(registry_url, "shared", repo)
    assert target.load_bytes() == file_bytes
    moved, original = target.load(), store.registry
    assert moved.version == original.version == 2
    for field in ("entities", "data_sources", "feature_views", "feature_services", "on_demand_feature_views"):
        assert moved.collection(field) == original.collection(field)
    assert [h.command for h in target.history()] == ["migrate"]
    assert (repo / "data" / "registry.db").read_bytes() == file_bytes  # the source is left as it was
    with pytest.raises(RegistryError, match="already holds project 'shared' \\(version 2\\)"):
        migrate(store.registry_store, registry_url, repo)


def test_online_reads_through_a_sql_registry_start_no_jvm(repo):
    code = textwrap.dedent(f"""
        import sys
        from datetime import timedelta
        from featurestore import Entity, FeatureStore, FeatureView, Field, FileSource
        from featurestore.types import Float64, Int64
        store = FeatureStore({str(repo)!r})
        driver = Entity(name="driver", join_keys=["driver_id"])
        stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(0),
                            source=FileSource(name="src", path="data/x.parquet", timestamp_field="ts"),
                            schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
        store.apply([driver, stats], validate=False)
        response = store.get_online_features(["stats:rate"], [{{"driver_id": 1}}]).to_dict()
        assert response == {{"driver_id": [1], "rate": [None]}}, response
        assert "pyspark" not in sys.modules and "py4j" not in sys.modules
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr[-1500:]


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path):
    url = "postgresql://featurestore:hunter2@127.0.0.1:1/registry?connect_timeout=2"
    registry = SqlRegistry(url, "shared", tmp_path)
    with pytest.raises(RegistryError) as error:
        registry.load()
    message = str(error.value)
    assert message.startswith("registry postgresql://featurestore:***@127.0.0.1:1/registry")
    assert "cannot be reached" in message and "hunter2" not in message and "\n" not in message


def test_registry_cache_ttl_limits_how_often_the_database_is_asked(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    writer, cached = SqlRegistry(url, "shared"), SqlRegistry(url, "shared", cache_ttl_seconds=3600)
    writer.update(lambda state: state.entities.update(driver=DRIVER))
    assert cached.load().version == 1
    writer.update(lambda state: state.entities.update(other=Entity(name="other", join_keys=["o"])))
    assert cached.load().version == 1 and SqlRegistry(url, "shared").load().version == 2


def test_open_registry_follows_the_config(tmp_path):
    from featurestore.config import load_config

    file_repo = write_repo(tmp_path / "a", project="p")
    sql_repo = write_repo(tmp_path / "b", project="p", registry="sqlite:///data/registry.sqlite")
    assert isinstance(open_registry(load_config(file_repo)), RegistryFile)
    sql = open_registry(load_config(sql_repo))
    assert isinstance(sql, SqlRegistry) and sql.path == (tmp_path / "b" / "data" / "registry.sqlite")




def test_teardown_removes_every_version_of_the_project_only(registry_url, tmp_path):
    mine = FeatureStore(write_repo(tmp_path / "mine", project="shared", registry=registry_url))
    other = FeatureStore(write_repo(tmp_path / "other", project="other_project", registry=registry_url))
    mine.apply([DRIVER, view("stats")], validate=False)
    other.apply([DRIVER], validate=False)
    mine.teardown()
    assert not mine.registry_store.exists() and mine.registry.version == 0
    assert other.registry.version == 1 and list(other.registry.entities) == ["driver"]
