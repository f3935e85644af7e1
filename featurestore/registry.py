"""The protobuf registry: what a project has applied, stored as one message in registry.db.

Writes are read-modify-write under an exclusive file lock: the change is applied to the
registry as it is on disk at that moment, written to a temporary file, fsynced and renamed
into place. Two concurrent writers therefore never lose each other's changes, and a crash
leaves either the old or the new file, never a torn one.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from featurestore.definitions import FeatureView, OnDemandFeatureView
from featurestore.definitions.kinds import BY_FIELD, KINDS, one_dict_per_kind
from featurestore.errors import NotFoundError, RegistryError, did_you_mean
from featurestore.protos import registry_pb2

FORMAT_VERSION = 1


@dataclass
@one_dict_per_kind
class RegistryState:
    """The registry's content as definition objects: besides the fields below, one dict per
    definition kind, name -> definition, named by the kind's field (`entities`,
    `feature_views`, ...: see featurestore.definitions.kinds.KINDS)."""
    project: str
    version: int = 0
    last_updated: datetime | None = None

    def collection(self, kind: str) -> dict:
        """The dict of a kind, named by its field ('entities', 'feature_views', ...)."""
        return getattr(self, kind)

    def get(self, kind: str, name: str):
        items = self.collection(kind)
        if name not in items:
            raise NotFoundError(f"no {BY_FIELD[kind].singular} named {name!r} in project {self.project!r}."
                                f"{did_you_mean(name, items)}")
        return items[name]

    def feature_view(self, name: str) -> FeatureView:
        return self.get("feature_views", name)

    def on_demand_feature_view(self, name: str) -> OnDemandFeatureView:
        return self.get("on_demand_feature_views", name)

    def to_proto(self) -> registry_pb2.Registry:
        proto = registry_pb2.Registry(
            format_version=FORMAT_VERSION, project=self.project, version=self.version, complete=True,
            **{kind.field: [obj.to_proto() for _, obj in sorted(self.collection(kind.field).items())]
               for kind in KINDS})
        if self.last_updated:
            proto.last_updated.FromDatetime(self.last_updated)
        return proto

    @classmethod
    def from_proto(cls, proto: registry_pb2.Registry) -> RegistryState:
        return cls(
            project=proto.project, version=proto.version,
            last_updated=proto.last_updated.ToDatetime(tzinfo=UTC) if proto.HasField("last_updated")
            else None,
            **{kind.field: {p.name: kind.cls.from_proto(p) for p in getattr(proto, kind.field)} for kind in KINDS})

    def to_json(self) -> str:
        return json_format.MessageToJson(self.to_proto(), preserving_proto_field_name=True, indent=2)


class RegistryFile:
    """registry.db on disk: load, locked atomic update, delete."""

    def __init__(self, path: Path, project: str):
        self.path = Path(path)
        self.project = project
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._cached: tuple | None = None

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

    def _load_fresh(self) -> RegistryState:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return RegistryState(project=self.project)
        except OSError as error:
            raise self._unreadable(error) from None
        return self._parse(data)

    def _unreadable(self, error: OSError) -> RegistryError:
        return RegistryError(f"cannot read registry {self.path}: {error.strerror}; check the file's permissions")

    def _parse(self, data: bytes) -> RegistryState:
        proto = registry_pb2.Registry()
        how_to_fix = ("restore it from a backup, or delete it and run `featurestore apply` to rebuild it "
                      "(materialization history is then lost)")
        try:
            proto.ParseFromString(data)
        except DecodeError as error:
            raise RegistryError(f"registry {self.path} is corrupt ({error}); {how_to_fix}") from None
        if proto.format_version > FORMAT_VERSION:
            raise RegistryError(f"registry {self.path} has format version {proto.format_version}, newer than "
                                f"this featurestore understands ({FORMAT_VERSION}); upgrade featurestore")
        if not proto.complete or proto.format_version < 1:
            raise RegistryError(f"registry {self.path} is truncated or not a featurestore registry; {how_to_fix}")
        if proto.project != self.project:
            raise RegistryError(f"registry {self.path} belongs to project {proto.project!r}, but "
                                f"feature_store.yaml says project {self.project!r}; point 'registry' at "
                                f"another file or fix 'project'")
        try:
            return RegistryState.from_proto(proto)
        except Exception as error:  # a definition in the file no longer constructs
            raise RegistryError(f"registry {self.path} holds an invalid definition: {error}") from None

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

    def update(self, mutate: Callable[[RegistryState], None]) -> RegistryState:
        """Apply `mutate` to the registry as it is now on disk and write the result atomically.

        `mutate` may raise to abort: nothing is written then.
        """
        with self._locked():
            self._remove_crash_leftovers()
            state = self._load_fresh()
            mutate(state)
            state.version += 1
            state.last_updated = datetime.now(UTC)
            self._write(state.to_proto().SerializeToString())
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
        with self._locked():
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()
