"""Online stores under concurrency, as a model server and materialization meet them in production:
readers during a write, two writers racing over the same keys, and a writer killed mid-write.

Every test runs against SQLite and a real redis-server, with spawned processes (they share
nothing but the store), and reads through FeatureStore.get_online_features as a model
server would. Every feature of a row holds the row's version number, so a torn row (a
key whose features come from different writes) shows up as mixed numbers.
No Spark: the repo is registered with RegistryFile directly.
"""
from __future__ import annotations

import multiprocessing
import queue
import signal
import sqlite3
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from featurestore import Entity, FeatureView, Field, SparkSource
from featurestore.config import load_config
from featurestore.online.base import OnlineStore
from featurestore.online.codec import decode_value, entity_key_serializer, value_encoder
from featurestore.online.redis_store import RedisOnlineStore, is_project_hash
from featurestore.online.sqlite import SqliteOnlineStore, table_name
from featurestore.registry import RegistryFile, RegistryState
from featurestore.store import FeatureStore
from featurestore.types import Int64

SPAWN = multiprocessing.get_context("spawn")  # no fork: a child must not inherit the parent's connections
PROJECT = "concurrency"
REFERENCE_PROJECT = "reference"
FEATURES = [f"f{i}" for i in range(5)]
DRIVER = Entity(name="driver", join_keys=["driver_id"])
SOURCE = SparkSource(name="stats_source", table="default.stats", timestamp_field="event_timestamp")
VIEW = FeatureView(name="stats", entities=[DRIVER], source=SOURCE, ttl=timedelta(0),  # 0: never expires
                   schema=[Field(name="driver_id", dtype=Int64),
                           *(Field(name=name, dtype=Int64) for name in FEATURES)])
REFS = [f"stats:{name}" for name in reversed(FEATURES)]  # read in another order than written
BASE_TS = 1_767_225_600_000_000  # 2026-01-01 UTC in microseconds
SECOND = 1_000_000
PROCESS_TIMEOUT = 120  # seconds; only reached when something hangs

_serialize_key = entity_key_serializer(["driver_id"], [Int64])
_encode = value_encoder(Int64)


# --- rows, repos and stores -------------------------------------------------------------------

def version_rows(keys: Iterable[int], version: int, event_ts: int | None = None,
                 created_ts: int = 0) -> Iterator[tuple]:
    """Lazily, one flat row per key (as materialization writes them) with every feature holding
    `version`; by default event_ts grows with it."""
    values = [_encode(version)] * len(FEATURES)
    event_ts = BASE_TS + version * SECOND if event_ts is None else event_ts
    for key in keys:
        yield (_serialize_key((key,)), event_ts, created_ts, *values)


def make_repo(path: Path, online_store_yaml: str, project: str = PROJECT) -> Path:
    """A feature repo with VIEW registered and its online storage created, as `featurestore apply` leaves it."""
    path.mkdir(parents=True)
    (path / "feature_store.yaml").write_text(
        f"project: {project}\nregistry: data/registry.db\n{online_store_yaml}")

    def register(state: RegistryState) -> None:
        state.entities[DRIVER.name] = DRIVER
        state.data_sources[SOURCE.name] = SOURCE
        state.feature_views[VIEW.name] = VIEW

    RegistryFile(path / "data" / "registry.db", project).update(register)
    store = FeatureStore(path)
    store.online_store.update(project, [VIEW], [])
    store.online_store.close()
    return path


def chunked_store(repo: Path, rows_per_chunk: int) -> OnlineStore:
    """The repo's online store, writing rows_per_chunk rows per transaction (SQLite) or pipeline (Redis).

    Small chunks put chunk boundaries inside a round of writes, so only per-key atomicity
    keeps a reader from seeing a torn row.
    """
    config = load_config(repo)
    if config.online_store.type == "sqlite":
        return SqliteOnlineStore(config.resolve(config.online_store.path), rows_per_transaction=rows_per_chunk)
    return RedisOnlineStore(config.online_store, rows_per_pipeline=rows_per_chunk)


def read_versions(store: FeatureStore, keys: list[int]) -> tuple[list[set], list[set]]:
    """Through get_online_features: per key, the set of versions its features hold and the set of statuses."""
    response = store.get_online_features(REFS, [{"driver_id": key} for key in keys])
    values, statuses = response.to_dict(), response.statuses()
    return ([{values[name][i] for name in FEATURES} for i in range(len(keys))],
            [{statuses[name][i] for name in FEATURES} for i in range(len(keys))])


def read_stored(store: OnlineStore, project: str, keys: Iterable[int]) -> list[tuple[set, int] | None]:
    """Through online_read: per key, (the set of versions its features hold, its event_ts) or None."""
    stored = store.online_read(project, VIEW, [_serialize_key((key,)) for key in keys], FEATURES)
    return [None if found is None else ({decode_value(v) for v in found.values.values()}, found.event_ts)
            for found in stored]


def dump(store: OnlineStore, project: str) -> list:
    """Everything the store holds for VIEW in project, timestamps included, in a comparable order."""
    if isinstance(store, SqliteOnlineStore):
        with closing(sqlite3.connect(store.path)) as connection:
            return connection.execute(
                f'SELECT entity_key, feature_name, value, event_ts, created_ts '
                f'FROM "{table_name(project, VIEW.name)}" ORDER BY entity_key, feature_name').fetchall()
    import redis

    suffix = project.encode()
    with closing(redis.Redis(host=store.config.host, port=store.config.port)) as client:
        keys = sorted(key for key in client.scan_iter(count=1000) if is_project_hash(key, suffix))
        pipeline = client.pipeline(transaction=False)
        for key in keys:
            pipeline.hgetall(key)
        return [(key[:-len(suffix)], sorted(fields.items())) for key, fields in zip(keys, pipeline.execute())]


@pytest.fixture(params=["sqlite", "redis"])
def new_repo(request, tmp_path) -> Callable[..., Path]:
    """Makes repos on the parametrized store; Redis repos share the (emptied) test server, one project each."""
    if request.param == "sqlite":
        yaml = "online_store:\n  type: sqlite\n  path: data/online_store.db\n"
    else:
        server = request.getfixturevalue("clean_redis")
        yaml = f"online_store:\n  type: redis\n  host: {server.host}\n  port: {server.port}\n"

    def make(name: str = "repo", project: str = PROJECT) -> Path:
        return make_repo(tmp_path / name, yaml, project)

    make.kind = request.param
    return make


@pytest.fixture
def start_process():
    """Starts spawned processes; any still running when the test ends is killed, so a failure leaves none."""
    started = []

    def start(target: Callable, *args) -> multiprocessing.Process:
        process = SPAWN.Process(target=target, args=args, daemon=True)
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.is_alive():
            process.kill()
        process.join(timeout=10)


def collect(results: multiprocessing.Queue, processes: list, what: str) -> list[dict]:
    """One report per process from the queue, then each process's clean exit.

    A process that raised exits with code 1 before reporting; its traceback is in the
    test's captured stderr.
    """
    reports = []
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while len(reports) < len(processes):
        try:
            reports.append(results.get(timeout=0.5))
        except queue.Empty:
            failed = {p.pid: p.exitcode for p in processes if p.exitcode not in (None, 0)}
            assert not failed, f"{what}: process(es) failed {failed} (exit codes); see the captured stderr"
            assert time.monotonic() < deadline, f"{what}: no report after {PROCESS_TIMEOUT} s"
    for process in processes:
        process.join(timeout=PROCESS_TIMEOUT)
        assert process.exitcode == 0, f"{what}: process {process.pid} exited with {process.exitcode}"
    return reports


# --- readers during writes --------------------------------------------------------------------

READ_KEYS = 200
WRITE_SECONDS = 3.0
EXAMPLES = 5  # examples of each kind of bad read kept in a reader's report


def read_until_stopped(repo: Path, ready, stop, results) -> None:
    """A model server: read every key until told to stop, checking each answer against the last.

    A failed read is recorded with its traceback rather than raised, so the test can
    report every reader's counts; any recorded error fails the test.
    """
    store = FeatureStore(repo)
    keys = list(range(READ_KEYS))
    last_seen = [-1] * READ_KEYS
    report = {"reads": 0, "newest_rounds": set(), "errors": [], "torn": [], "backwards": [], "not_present": []}
    ready.put("ready")
    while not stop.is_set() and len(report["errors"]) < EXAMPLES:
        try:
            versions, statuses = read_versions(store, keys)
        except Exception:
            report["errors"].append(traceback.format_exc())
            continue
        report["reads"] += 1
        for key, (key_versions, key_statuses) in enumerate(zip(versions, statuses)):
            if key_statuses != {"PRESENT"}:
                report["not_present"].append((report["reads"], key, sorted(key_statuses)))
                continue
            if len(key_versions) > 1:
                report["torn"].append((report["reads"], key, sorted(key_versions)))
                continue
            (version,) = key_versions
            if version < last_seen[key]:
                report["backwards"].append((report["reads"], key, last_seen[key], version))
            last_seen[key] = max(last_seen[key], version)
        report["newest_rounds"].add(max(last_seen))
    for kind in ("torn", "backwards", "not_present"):
        report[f"{kind}_count"] = len(report[kind])
        report[kind] = report[kind][:EXAMPLES]
    results.put(report)


def write_rounds(repo: Path, seconds: float, results) -> None:
    """Materialization in a loop: every key, every round, with a newer event_ts each round."""
    store = chunked_store(repo, rows_per_chunk=7)
    rounds = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rounds += 1
        store.online_write_flat(PROJECT, VIEW, version_rows(range(READ_KEYS), rounds))
    results.put({"rounds": rounds})


def test_readers_during_writes_never_see_a_torn_or_older_row(new_repo, start_process):
    repo = new_repo()
    store = FeatureStore(repo)
    store.online_store.online_write_flat(PROJECT, VIEW, version_rows(range(READ_KEYS), 0))
    ready, stop, reader_results, writer_results = SPAWN.Queue(), SPAWN.Event(), SPAWN.Queue(), SPAWN.Queue()
    readers = [start_process(read_until_stopped, repo, ready, stop, reader_results) for _ in range(3)]
    for _ in readers:
        ready.get(timeout=PROCESS_TIMEOUT)
    writer = start_process(write_rounds, repo, WRITE_SECONDS, writer_results)
    (written,) = collect(writer_results, [writer], "writer")
    stop.set()
    reports = collect(reader_results, readers, "readers")

    counts = [{"reads": r["reads"], "rounds seen": len(r["newest_rounds"]), "errors": len(r["errors"]),
               "torn": r["torn_count"], "backwards": r["backwards_count"],
               "not present": r["not_present_count"]} for r in reports]
    summary = f"writer wrote {written['rounds']} rounds of {READ_KEYS} keys; readers: {counts}"
    assert written["rounds"] >= 2, summary
    for report in reports:
        assert report["errors"] == [], f"{summary}\nfirst error:\n{report['errors'][0]}"
        assert report["torn_count"] == 0, f"{summary}\ntorn rows (read, key, versions): {report['torn']}"
        assert report["backwards_count"] == 0, \
            f"{summary}\nolder after newer (read, key, seen, now): {report['backwards']}"
        assert report["not_present_count"] == 0, f"{summary}\nnot present: {report['not_present']}"
        assert len(report["newest_rounds"]) >= 2, f"{summary}\na reader saw no write progress: no overlap"
    versions, _ = read_versions(store, list(range(READ_KEYS)))
    assert versions == [{written["rounds"]}] * READ_KEYS, summary


# --- two writers at once ----------------------------------------------------------------------

RACE_KEYS = 500
# Two materializations of overlapping intervals, each going forward: they leapfrog, so each often
# writes a version older than the one the other has just written. Versions 2m (A) and 2m + 1 (B)
# share an event_ts and differ only in created_ts, so the tie-break is raced as well.
VERSIONS_A = range(0, 200, 2)
VERSIONS_B = range(41, 200, 2)


def newest_version(key: int) -> int:
    """Keys stop at different versions, so a writer finishing last cannot pass by writing its last batch."""
    return 199 - key % 10


def race_rows(version: int) -> Iterator[tuple]:
    """Version v of every key that has it (up to its newest_version), event_ts and created_ts as above."""
    keys = (key for key in range(RACE_KEYS) if version <= newest_version(key))
    return version_rows(keys, version, event_ts=BASE_TS + version // 2 * SECOND, created_ts=1 + version % 2)


def write_versions(repo: Path, name: str, versions: range, ready, start, results) -> None:
    """One writer: its versions in order, each as one batch of every key."""
    store = chunked_store(repo, rows_per_chunk=50)
    ready.put("ready")
    start.wait()
    began = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes on one machine
    changed = sum(store.online_write_flat(PROJECT, VIEW, race_rows(version)) for version in versions)
    results.put({"name": name, "began": began, "ended": time.monotonic(), "changed": changed})


def test_two_writers_with_overlapping_intervals_leave_the_newest_value(new_repo, start_process):
    repo = new_repo()
    ready, start, results = SPAWN.Queue(), SPAWN.Event(), SPAWN.Queue()
    writers = [start_process(write_versions, repo, name, versions, ready, start, results)
               for name, versions in (("A", VERSIONS_A), ("B", VERSIONS_B))]
    for _ in writers:
        ready.get(timeout=PROCESS_TIMEOUT)
    start.set()
    reports = collect(results, writers, "writers")

    summary = "; ".join(f"writer {r['name']}: {r['ended'] - r['began']:.2f} s, {r['changed']} rows changed"
                        for r in reports)
    assert max(r["began"] for r in reports) < min(r["ended"] for r in reports), f"no overlap: {summary}"
    keys = list(range(RACE_KEYS))
    store = FeatureStore(repo)
    versions, statuses = read_versions(store, keys)
    wrong = [(key, sorted(found), newest_version(key)) for key, found in zip(keys, versions)
             if found != {newest_version(key)}]
    assert wrong == [], f"{summary}; {len(wrong)} keys (key, held, newest) e.g. {wrong[:EXAMPLES]}"
    assert all(found == {"PRESENT"} for found in statuses), summary
    stored = read_stored(store.online_store, PROJECT, keys)
    expected = [({newest_version(key)}, BASE_TS + newest_version(key) // 2 * SECOND) for key in keys]
    assert stored == expected, summary


# --- a writer killed mid-write ----------------------------------------------------------------

CRASH_KEYS = 60_000  # about 1.5 s of writing on a busy 2-core machine; the kill follows progress, not time
OLD, NEW = 1, 2


def write_new_version_slowly_signalling(repo: Path, signal_after: int, signalled) -> None:
    """The interrupted materialization: a lazy batch that signals once signal_after rows were handed over."""
    store = FeatureStore(repo).online_store

    def rows() -> Iterator[tuple]:
        for count, row in enumerate(version_rows(range(CRASH_KEYS), NEW), start=1):
            if count == signal_after:
                signalled.set()
            yield row

    store.online_write_flat(PROJECT, VIEW, rows())


def test_a_writer_killed_mid_write_leaves_whole_rows_and_a_rerun_completes(new_repo, start_process):
    repo = new_repo()
    keys = range(CRASH_KEYS)
    FeatureStore(repo).online_store.online_write_flat(PROJECT, VIEW, version_rows(keys, OLD))

    signalled = SPAWN.Event()
    writer = start_process(write_new_version_slowly_signalling, repo, CRASH_KEYS // 3, signalled)
    assert signalled.wait(timeout=PROCESS_TIMEOUT), f"writer exited with {writer.exitcode} before a third"
    time.sleep(0.05)  # let it get into the middle of a transaction or pipeline
    writer.kill()  # SIGKILL: no cleanup, no rollback, no atexit
    writer.join(timeout=PROCESS_TIMEOUT)
    assert writer.exitcode == -signal.SIGKILL, "the writer finished before it was killed; raise CRASH_KEYS"

    store = FeatureStore(repo)  # a fresh process-level view of the store, as a restarted server has
    if new_repo.kind == "sqlite":
        with closing(sqlite3.connect(store.online_store.path)) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    stored = read_stored(store.online_store, PROJECT, keys)
    timestamps = {OLD: BASE_TS + OLD * SECOND, NEW: BASE_TS + NEW * SECOND}
    bad = [(key, found) for key, found in zip(keys, stored)
           if found is None or len(found[0]) != 1 or timestamps.get(min(found[0])) != found[1]]
    assert bad == [], f"{len(bad)} keys torn or lost (key, (versions, event_ts)), e.g. {bad[:EXAMPLES]}"
    new_after_crash = sum(found[0] == {NEW} for found in stored)
    assert 0 < new_after_crash < CRASH_KEYS, f"{new_after_crash} of {CRASH_KEYS} new: the kill was not mid-write"
    sample = list(range(0, CRASH_KEYS, 97))
    versions, statuses = read_versions(store, sample)
    assert all(found in ({OLD}, {NEW}) for found in versions) and all(s == {"PRESENT"} for s in statuses)

    changed = store.online_store.online_write_flat(PROJECT, VIEW, version_rows(keys, NEW))
    assert changed == CRASH_KEYS - new_after_crash, f"{new_after_crash} keys were new after the crash"
    reference = FeatureStore(new_repo("reference", project=REFERENCE_PROJECT)).online_store
    reference.online_write_flat(REFERENCE_PROJECT, VIEW, version_rows(keys, OLD))
    reference.online_write_flat(REFERENCE_PROJECT, VIEW, version_rows(keys, NEW))
    rerun_state, uninterrupted_state = dump(store.online_store, PROJECT), dump(reference, REFERENCE_PROJECT)
    assert len(rerun_state) == len(uninterrupted_state) > 0
    assert rerun_state == uninterrupted_state, "the rerun's final state differs from an uninterrupted write"
