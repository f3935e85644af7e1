"""kill -9 in the middle of apply and of materialization (SQLite and Redis), then recover.

After each kill: the registry loads, the online store serves for every key either all
old or all new values (never a mix), no interval is recorded for the killed run, and
rerunning gives the same final state as an uninterrupted run. A materialization kill
must land mid-write: some keys already hold the new version, others still the old.
"""
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from featurestore.registry import RegistryFile
from featurestore.runtime.session import spark_submit_command
from featurestore.store import FeatureStore
from featurestore.testing.repos import redis_online_store, write_repo

pytestmark = [pytest.mark.spark, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent.parent
UTC = UTC
T0, T1, T2, T3 = (datetime(2026, 1, 1, h, tzinfo=UTC) for h in (0, 1, 2, 3))
ENTITIES = 200_000
FEATURES = [f"f{i}" for i in range(5)]

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureView, Field, FileSource
from featurestore.types import Int64
item = Entity(name="item", join_keys=["item_id"])
versions = FeatureView(name="versions", entities=[item], ttl=timedelta(0),
    source=FileSource(name="versions_src", path="{path}", timestamp_field="event_ts"),
    schema=[Field(name="item_id", dtype=Int64)] + [Field(name=f"f{{i}}", dtype=Int64) for i in range(5)])
"""


@pytest.fixture(scope="module")
def source(spark, tmp_path_factory):
    """Every item at version 1 (01:00) and version 2 (02:00); each feature equals the version."""
    path = tmp_path_factory.mktemp("crash") / "versions.parquet"
    frame = spark.range(ENTITIES).selectExpr("id AS item_id", "explode(array(1, 2)) AS v")
    frame = frame.selectExpr("item_id", "timestamp_seconds(1767225600 + v * 3600) AS event_ts",
                             *[f"CAST(v AS BIGINT) AS {f}" for f in FEATURES])
    frame.repartition(4).write.parquet(str(path))
    return path


def make_repo(tmp_path, source, online_store=""):
    repo = write_repo(tmp_path / "repo", DEFINITIONS.format(path=source), project="crash", online_store=online_store)
    store = FeatureStore(repo)
    store.apply(store.load_repo(), partial=False)
    return store


def versions_of(store, ids):
    """{item: set of feature values}: one element per item unless a row is torn."""
    response = store.get_online_features([f"versions:{f}" for f in FEATURES], [{"item_id": i} for i in ids]).to_dict()
    return {i: {response[f][n] for f in FEATURES} for n, i in enumerate(ids)}


def start_materialize_job(repo: Path, start: datetime, end: datetime) -> subprocess.Popen:
    command = spark_submit_command(ROOT / "jobs" / "materialize.py",
                                   ["materialize", start.isoformat(), end.isoformat(), "--repo", str(repo)])
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def kill_when(process: subprocess.Popen, ready, timeout: float = 240.0) -> str:
    """SIGKILL the job's process group as soon as ready() is true; returns what the job printed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the job ended before it could be killed:\n{process.stdout.read()[-3000:]}"
        if ready():
            os.killpg(process.pid, signal.SIGKILL)
            output = process.communicate()[0]
            return output
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError("the job never reached the point to kill it at")


def check_after_kill_and_rerun(store, job_output: str):
    """Every key, after the kill: one version per key, and both versions present, which
    proves the kill came mid-write (before the write, all keys would hold 1; after it, 2)."""
    seen = versions_of(store, range(ENTITIES))
    assert all(len(values) == 1 for values in seen.values()), "a key holds values of two versions"
    held = Counter(value for values in seen.values() for value in values)
    assert set(held) == {1, 2}, f"the kill did not come mid-write: keys per version {dict(held)}"
    assert "rows selected" not in job_output, job_output[-2000:]  # the job never reported the view done
    assert store.get_feature_view("versions").materialization_intervals == [(T0, T1 + (T2 - T1) / 2)]
    store.materialize(T0, T3, log=lambda m: None)  # rerun the killed interval
    final = versions_of(store, range(ENTITIES))
    assert all(values == {2} for values in final.values())
    assert store.get_feature_view("versions").materialization_intervals == [(T0, T3)]


def test_kill_during_sqlite_materialization(spark, source, tmp_path):
    store = make_repo(tmp_path, source)
    store.materialize(T0, T1 + (T2 - T1) / 2, log=lambda m: None)  # everything at version 1
    store.online_store.close()
    job = start_materialize_job(store.repo_path, T0, T3)
    probe = FeatureStore(store.repo_path)
    output = kill_when(job, lambda: 2 in {v for values in versions_of(probe, range(0, ENTITIES, 4999)).values()
                                           for v in values})
    check_after_kill_and_rerun(FeatureStore(store.repo_path), output)


def test_kill_during_redis_materialization(spark, source, tmp_path, clean_redis):
    store = make_repo(tmp_path, source, redis_online_store(clean_redis.host, clean_redis.port))
    store.materialize(T0, T1 + (T2 - T1) / 2, log=lambda m: None)
    job = start_materialize_job(store.repo_path, T0, T3)
    probe = FeatureStore(store.repo_path)
    output = kill_when(job, lambda: 2 in {v for values in versions_of(probe, range(0, ENTITIES, 4999)).values()
                                           for v in values})
    check_after_kill_and_rerun(FeatureStore(store.repo_path), output)


def test_kill_during_apply_leaves_the_registry_loadable(spark, source, tmp_path):
    store = make_repo(tmp_path, source)
    before = (store.repo_path / "data" / "registry.db").read_bytes()
    (store.repo_path / "features.py").write_text(DEFINITIONS.format(path=source).replace('"versions"', '"renamed"'))
    for delay in (0.5, 3.0, 6.0):
        apply = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "--repo", str(store.repo_path), "apply"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        time.sleep(delay)
        if apply.poll() is None:
            os.killpg(apply.pid, signal.SIGKILL)
        apply.wait()
        state = store.registry  # always loads
        assert set(state.feature_views) in ({"versions"}, {"renamed"})
    result = subprocess.run([sys.executable, "-m", "featurestore.cli", "--repo", str(store.repo_path), "apply"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert set(store.registry.feature_views) == {"renamed"} and before != (store.repo_path / "data" /
                                                                           "registry.db").read_bytes()


def _write_registry_forever(path: str) -> None:
    from featurestore import Entity

    registry = RegistryFile(Path(path), "crash")
    i = 0
    while True:
        i += 1
        registry.update(lambda s, i=i: s.entities.__setitem__(f"e{i % 500}", Entity(name=f"e{i % 500}",
                                                                                      join_keys=[f"k{i}"])))


def test_kill_during_registry_writes_never_tears_the_file(tmp_path):
    import multiprocessing

    path = tmp_path / "registry.db"
    context = multiprocessing.get_context("spawn")
    versions = []
    for delay in (0.3, 0.5, 0.7, 0.9, 1.1):
        writer = context.Process(target=_write_registry_forever, args=(str(path),))
        writer.start()
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)
        writer.join()
        versions.append(RegistryFile(path, "crash").load().version)  # loads: never torn
    assert versions == sorted(versions) and versions[-1] > 0
    leftovers = list(tmp_path.glob(".registry.db.*.tmp"))
    RegistryFile(path, "crash").update(lambda s: None)
    assert not list(tmp_path.glob(".registry.db.*.tmp")), leftovers
