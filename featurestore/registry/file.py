"""A registry in one local file (registry.db, the default): the newest version only.

Writes are read-modify-write under an exclusive file lock: the change is applied to the
registry as it is on disk at that moment, written to a temporary file, fsynced and renamed
into place. Two concurrent writers therefore never lose each other's changes, and a crash
leaves either the old or the new file, never a torn one. A file keeps no history; a SQL
registry (featurestore/registry/sql.py) keeps every version.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from featurestore.errors import RegistryError
from featurestore.registry import feast_format
from featurestore.registry.state import RegistryState, parse_registry, stamp_write

NO_HISTORY = ("a file registry keeps only its newest version; for every version with its time, user and diff "
              "use a SQL registry (registry: {registry_type: sql, path: sqlite:///data/registry.sqlite}, or a "
              "postgresql:// URL) and move this one there with `featurestore registry migrate --to URL`")


class RegistryFile:
    """registry.db on disk: load, locked atomic update, delete."""

    keeps_history = False

    def __init__(self, path: Path, project: str):
        self.path = Path(path)
        self.project = project
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._cached: tuple | None = None

    @property
    def location(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> RegistryState:
        """The registry as stored; an empty one when the file does not exist yet.

        Parsed states are cached by the file's identity (inode, size, mtime): online reads
        call this on every request, and a stat is ~100x cheaper than a parse. Writers
        replace the file by rename, which always changes the identity. Treat the result
        as read-only; `update` works on a fresh copy.
        """
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return RegistryState(project=self.project)
        except OSError as error:
            raise self._unreadable(error) from None
        identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if self._cached is not None and self._cached[0] == identity:
            return self._cached[1]
        state = self._load_fresh()
        self._cached = (identity, state)
        return state

    def load_bytes(self) -> bytes | None:
        """The stored message as it is on disk (None when there is no registry yet)."""
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self._unreadable(error) from None

    def _load_fresh(self) -> RegistryState:
        return self._state_of(self.load_bytes())

    def _state_of(self, data: bytes | None) -> RegistryState:
        """The state in `data` (the file's bytes, None when there is no file yet)."""
        return RegistryState(project=self.project) if data is None else parse_registry(data, str(self.path),
                                                                                         self.project)

    def _unreadable(self, error: OSError) -> RegistryError:
        if isinstance(error, IsADirectoryError):
            return RegistryError(f"registry {self.path} is a folder, not a file; point feature_store.yaml's "
                                 f"registry: at a file such as data/registry.db")
        return RegistryError(f"cannot read registry {self.path}: {error.strerror}; check the file's permissions")

    def history(self, limit: int | None = None) -> list:
        raise RegistryError(f"registry {self.path}: {NO_HISTORY}")

    def load_version(self, version: int) -> RegistryState:
        current = self.load()
        if version == current.version:
            return current
        raise RegistryError(f"registry {self.path} is at version {current.version} and cannot show version "
                            f"{version}: {NO_HISTORY}")

    @contextlib.contextmanager
    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def update(self, mutate: Callable[[RegistryState], None], command: str = "", summary: str = "") -> RegistryState:
        """Apply `mutate` to the registry as it is now on disk and write the result atomically.

        `mutate` may raise to abort: nothing is written then. command and summary (what a SQL
        registry records in its history) are not kept in a file.
        """
        with self._locked():
            self._remove_crash_leftovers()
            data = self.load_bytes()
            state = self._state_of(data)
            mutate(state)
            stamp_write(state, state.version + 1)
            self._write(state.to_bytes(previous=data))  # another project's objects in a shared file are kept
            return state

    def _remove_crash_leftovers(self) -> None:
        """Temporary files of writers killed mid-write; safe to delete while we hold the lock."""
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()

    def _write(self, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def delete(self) -> None:
        """Remove the project's registry: the file, or only the project's objects from a file that
        holds other projects' too (Feast shares one registry between projects)."""
        with self._locked():
            data = self.load_bytes()
            left = None if data is None else feast_format.without_project(data, self.project)
            if left is not None:
                self._write(left)
                return
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()
