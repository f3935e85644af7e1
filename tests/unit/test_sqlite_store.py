"""The SQLite online store's own layout and failure modes (locks, permissions, deleted files).
The behaviour every store shares is in test_online_contract.py."""
from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from featurestore.config import RepoConfig
from featurestore.errors import OnlineStoreError
from featurestore.online import get_online_store
from featurestore.online.sqlite import SqliteOnlineStore, SqliteOnlineStoreConfig
from tests.online_helpers import PROFILE, PROJECT, STATS, key, read, stats_row, stats_value, write


@pytest.fixture
def sqlite_path(tmp_path) -> Path:
    return tmp_path / "data" / "online_store.db"


def test_sqlite_is_the_default_and_its_path_is_relative_to_the_repo(tmp_path):
    config = RepoConfig(project=PROJECT, repo_path=tmp_path)
    assert config.online_store == SqliteOnlineStoreConfig(path="data/online_store.db")
    store = get_online_store(config)
    assert isinstance(store, SqliteOnlineStore) and store.path == tmp_path / "data" / "online_store.db"
    absolute = RepoConfig(project=PROJECT, repo_path=tmp_path,
                          online_store=SqliteOnlineStoreConfig(path=str(tmp_path / "elsewhere.db")))
    assert get_online_store(absolute).path == tmp_path / "elsewhere.db"


def test_sqlite_creates_an_owner_only_wal_file_with_the_documented_layout(sqlite_path):
    store = SqliteOnlineStore(sqlite_path)
    store.update(PROJECT, [STATS], [])
    write(store, STATS, [stats_row(1, 0.5, 5, 100, 7)])
    assert stat.S_IMODE(sqlite_path.stat().st_mode) == 0o600
    for sidecar in (Path(f"{sqlite_path}-wal"), Path(f"{sqlite_path}-shm")):
        assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600
    other = sqlite3.connect(sqlite_path)
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert other.execute('PRAGMA table_info("proj_driver_stats")').fetchall() == [
        (0, "entity_key", "BLOB", 1, None, 1), (1, "feature_name", "TEXT", 1, None, 2),
        (2, "value", "BLOB", 0, None, 0), (3, "value_text", "TEXT", 0, None, 0),
        (4, "vector_value", "BLOB", 0, None, 0), (5, "event_ts", "timestamp", 0, None, 0),
        (6, "created_ts", "timestamp", 0, None, 0), (7, "event_micros", "INTEGER", 0, None, 0),
        (8, "created_micros", "INTEGER", 0, None, 0)]
    stored = other.execute('SELECT feature_name, event_ts, created_ts, event_micros, created_micros '
                           'FROM "proj_driver_stats" ORDER BY 1')
    assert stored.fetchall() == [("conv_rate", 0, 0, 100, 7), ("trips", 0, 0, 100, 7)]
    other.close()
    store.close()


def test_sqlite_commits_one_transaction_per_chunk(sqlite_path):
    """rows_per_transaction bounds a transaction: a reader sees the first chunk while the second is produced."""
    store = SqliteOnlineStore(sqlite_path, rows_per_transaction=2)
    store.update(PROJECT, [STATS], [])
    reader = SqliteOnlineStore(sqlite_path)
    seen = []

    def rows():
        yield from (stats_row(1, 0.1, 1, 100), stats_row(2, 0.2, 2, 100))
        seen.append(read(reader, STATS, 1, 2))  # the first chunk is committed before the next is collected
        yield stats_row(3, 0.3, 3, 100)

    assert write(store, STATS, rows()) == 3
    assert seen == [[stats_value(0.1, 1, 100), stats_value(0.2, 2, 100)]]
    reader.close()
    store.close()


def test_sqlite_write_while_another_process_holds_the_lock(sqlite_path):
    store = SqliteOnlineStore(sqlite_path, busy_timeout_seconds=0.1)
    store.update(PROJECT, [STATS], [])
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    holder = sqlite3.connect(sqlite_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(OnlineStoreError) as raised:
            write(store, STATS, [stats_row(1, 0.9, 9, 200)])
        assert str(raised.value) == (
            f"online store {sqlite_path} is locked: another process holds a lock on it (waited 0.1 s while "
            f"writing feature view 'driver_stats'); wait for it to finish, e.g. a running `featurestore "
            f"materialize`, or stop it, then retry")
        assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]  # WAL: readers are not blocked
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert write(store, STATS, [stats_row(1, 0.9, 9, 200)]) == 1
    store.close()


def _make_read_only(path: Path, request) -> None:
    """chmod a-w, plus the immutable flag when running as root (root ignores permissions)."""
    path.chmod(0o500 if path.is_dir() else 0o400)
    request.addfinalizer(lambda: path.chmod(0o700 if path.is_dir() else 0o600))
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode != 0:
            pytest.skip("running as root and chattr +i is unavailable, so nothing is read-only")
        request.addfinalizer(lambda: subprocess.run(["chattr", "-i", str(path)], check=True))


def test_sqlite_write_to_a_read_only_file(sqlite_path, request):
    store = SqliteOnlineStore(sqlite_path)
    store.update(PROJECT, [STATS], [])
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    store.close()  # checkpoints the WAL into the file
    _make_read_only(sqlite_path, request)
    with pytest.raises(OnlineStoreError) as raised:
        write(SqliteOnlineStore(sqlite_path), STATS, [stats_row(1, 0.9, 9, 200)])
    assert str(raised.value).startswith(
        f"online store {sqlite_path} is read-only (attempt to write a readonly database) while ")
    assert str(raised.value).endswith("; make the file and its folder writable by this user, or set "
                                      "online_store.path in feature_store.yaml to a writable location")


def test_sqlite_in_a_read_only_folder(tmp_path, request):
    folder = tmp_path / "locked"
    folder.mkdir()
    _make_read_only(folder, request)
    path = folder / "data" / "online_store.db"
    with pytest.raises(OnlineStoreError) as raised:
        SqliteOnlineStore(path).update(PROJECT, [STATS], [])
    message = str(raised.value)
    assert message.startswith(f"cannot create online store {path}: ")
    assert message.endswith(f"({folder / 'data'}); make its folder writable or set online_store.path in "
                            f"feature_store.yaml to a writable location")


def test_sqlite_read_of_a_missing_or_deleted_file_says_to_apply_and_does_not_create_it(sqlite_path):
    expected = (f"online store {sqlite_path} does not exist; run `featurestore apply` to create it and "
                f"`featurestore materialize` to fill it (or check online_store.path in feature_store.yaml)")
    store = SqliteOnlineStore(sqlite_path)
    with pytest.raises(OnlineStoreError) as raised:
        store.online_read(PROJECT, STATS, [key(STATS, 1)], ["trips"])
    assert str(raised.value) == expected
    assert not sqlite_path.parent.exists()

    store.update(PROJECT, [STATS], [])
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
    with pytest.raises(OnlineStoreError) as raised:  # not the deleted file's data through the open connection
        store.online_read(PROJECT, STATS, [key(STATS, 1)], ["trips"])
    assert str(raised.value) == expected
    assert not sqlite_path.exists()


def test_sqlite_read_of_a_view_without_a_table_says_to_apply(sqlite_path):
    store = SqliteOnlineStore(sqlite_path)
    store.update(PROJECT, [STATS], [])
    with pytest.raises(OnlineStoreError) as raised:
        store.online_read(PROJECT, PROFILE, [key(PROFILE, 1)], ["name"])
    assert str(raised.value) == (
        f"online store {sqlite_path} has no table for feature view 'driver_profile' of project 'proj'; run "
        f"`featurestore apply` to create it and `featurestore materialize` to fill it")
    store.close()


def test_sqlite_teardown_deletes_the_file_once_no_table_is_left(sqlite_path):
    store = SqliteOnlineStore(sqlite_path)
    store.update(PROJECT, [STATS, PROFILE], [])
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    store.teardown(PROJECT, [STATS])
    assert sqlite_path.exists()
    store.teardown(PROJECT, [PROFILE])
    assert sorted(sqlite_path.parent.iterdir()) == []
    store.teardown(PROJECT, [PROFILE])  # nothing left to remove is fine


def test_sqlite_reader_sees_a_recreated_file_not_the_deleted_one(sqlite_path):
    reader = SqliteOnlineStore(sqlite_path)
    writer = SqliteOnlineStore(sqlite_path)
    writer.update(PROJECT, [STATS], [])
    write(writer, STATS, [stats_row(1, 0.5, 5, 100)])
    assert read(reader, STATS, 1) == [stats_value(0.5, 5, 100)]
    writer.teardown(PROJECT, [STATS])  # e.g. `featurestore teardown` and `apply` while a server runs
    writer.update(PROJECT, [STATS], [])
    assert read(reader, STATS, 1) == [None]
    reader.close()
    writer.close()


def test_sqlite_reads_in_another_thread_survive_close(sqlite_path):
    store = SqliteOnlineStore(sqlite_path)
    store.update(PROJECT, [STATS], [])
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    results = []
    close_done = threading.Event()

    def reader():
        results.append(read(store, STATS, 1))
        close_done.wait(5)
        results.append(read(store, STATS, 1))

    thread = threading.Thread(target=reader)
    thread.start()
    while not results:
        thread.join(0.01)
    store.close()
    close_done.set()
    thread.join()
    assert results == [[stats_value(0.5, 5, 100)]] * 2
