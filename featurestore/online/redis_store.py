"""The Redis online store, for serving from several machines and writing from Spark executors.

Layout: one hash per entity key, at b"fs:<project>:" + entity key bytes. A feature view
owns the hash fields that start with "<view>:": one per feature ("<view>:<feature>", a
serialized Value) and its timestamp field "<view>:#ts" (event_ts and created_ts as two
big-endian int64). View and feature names are plain identifiers, so no view's fields
can be mistaken for another's, and '#' never starts a feature name.

Writes go through a Lua script that compares timestamps and writes in one step, so the
newer-wins rule holds even with several executors writing the same key at once. The
store holds only its config when pickled and connects on first use, so it can be
shipped to Spark executors.
"""
from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice

from featurestore.config import RedisOnlineStoreConfig
from featurestore.definitions import FeatureView
from featurestore.errors import OnlineStoreError
from featurestore.online.base import OnlineRow, OnlineStore, ReadRequest, StoredFeatures

ROWS_PER_PIPELINE = 10_000
# A script call blocks Redis while it runs, so big batches are split into calls of ~1 ms or less.
ROWS_PER_SCRIPT_CALL = 100
KEYS_PER_READ_CALL = 200
_TIMESTAMPS = struct.Struct(">qq")  # event_ts, created_ts
_EVENT_TS = struct.Struct(">q")
_SCAN_BATCH = 500

# KEYS: the rows' hash keys. ARGV: ttl seconds, timestamp field, n = number of feature fields,
# the n field names, then per row: its packed timestamps and its n values.
_WRITE_IF_NEWER = """
local ttl = tonumber(ARGV[1])
local ts_field = ARGV[2]
local n = tonumber(ARGV[3])
local changed = 0
local at = 4 + n
for _, key in ipairs(KEYS) do
  local new_ts = ARGV[at]
  local stored_ts = redis.call('HGET', key, ts_field)
  local newer = true
  if stored_ts then
    -- int64s split into a signed high and unsigned low half: exact, unlike Lua's doubles
    local a1, a2, a3, a4 = struct.unpack('>i4I4i4I4', new_ts)
    local b1, b2, b3, b4 = struct.unpack('>i4I4i4I4', stored_ts)
    if a1 ~= b1 then newer = a1 > b1
    elseif a2 ~= b2 then newer = a2 > b2
    elseif a3 ~= b3 then newer = a3 > b3
    else newer = a4 > b4 end
  end
  if newer then
    local hset_args = {ts_field, new_ts}
    for i = 1, n do
      hset_args[2 * i + 1] = ARGV[3 + i]
      hset_args[2 * i + 2] = ARGV[at + i]
    end
    redis.call('HSET', key, unpack(hset_args))
    if ttl > 0 then redis.call('EXPIRE', key, ttl) end
    changed = changed + 1
  end
  at = at + 1 + n
end
return changed
"""

# KEYS: hash keys. ARGV: field prefixes ("<view>:") whose fields to delete. Redis removes a
# hash once its last field is gone.
_DELETE_FIELDS = """
for _, key in ipairs(KEYS) do
  local doomed = {}
  for _, field in ipairs(redis.call('HKEYS', key)) do
    for _, prefix in ipairs(ARGV) do
      if string.sub(field, 1, #prefix) == prefix then
        doomed[#doomed + 1] = field
        break
      end
    end
  end
  if #doomed > 0 then redis.call('HDEL', key, unpack(doomed)) end
end
return 0
"""

# KEYS: hash keys. ARGV: the view's timestamp field, then the feature fields. Returns one
# string holding, per key, the lengths of all the fields (big-endian int32, -1 for a
# missing field) followed by the fields' bytes; a key without the timestamp field (nothing
# stored for the view) is a single -1. One string instead of a reply per value, because
# parsing many small replies is what costs most in a Python client.
_READ = """
local n = #ARGV
local lengths_format = '>' .. string.rep('i4', n)
local nothing = struct.pack('>i4', -1)
local out = {}
for k, key in ipairs(KEYS) do
  local values = redis.call('HMGET', key, unpack(ARGV))
  if values[1] then
    local lengths = {}
    for i = 1, n do
      if values[i] then
        lengths[i] = #values[i]
      else
        lengths[i] = -1
        values[i] = ''
      end
    end
    out[k] = struct.pack(lengths_format, unpack(lengths)) .. table.concat(values)
  else
    out[k] = nothing
  end
end
return table.concat(out)
"""
_READ_SHA = hashlib.sha1(_READ.encode()).hexdigest()
_LENGTH = struct.Struct(">i")


def key_prefix(project: str) -> bytes:
    return b"fs:" + project.encode() + b":"


def _view_prefix(view_name: str) -> bytes:
    return view_name.encode() + b":"


def _timestamp_field(view_name: str) -> bytes:
    return _view_prefix(view_name) + b"#ts"


class RedisOnlineStore(OnlineStore):
    """Feature values in a Redis server described by a RedisOnlineStoreConfig."""

    writes_from_executors = True  # it pickles to its config, so each Spark task connects on its own

    def __init__(self, config: RedisOnlineStoreConfig, *, rows_per_pipeline: int = ROWS_PER_PIPELINE):
        if not isinstance(config, RedisOnlineStoreConfig):
            raise TypeError(f"RedisOnlineStore takes a RedisOnlineStoreConfig, got {config!r}")
        self.config = config
        self.rows_per_pipeline = rows_per_pipeline
        self._client = None
        self._redis_errors = None  # the redis.exceptions module, once imported
        self._write_script = None
        self._delete_script = None
        self._fields: dict[tuple[str, tuple[str, ...]], list[bytes]] = {}  # (view, features) -> hash fields

    # --- pickling: ship the config, never a connection ---

    def __getstate__(self) -> dict:
        return {"config": self.config, "rows_per_pipeline": self.rows_per_pipeline}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["config"], rows_per_pipeline=state["rows_per_pipeline"])

    def __repr__(self) -> str:
        return f"RedisOnlineStore({self._address})"

    @property
    def _address(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    # --- the OnlineStore interface ---

    def update(self, project: str, views_to_keep: Sequence[FeatureView],
               views_to_delete: Sequence[FeatureView]) -> None:
        """Nothing to create (hashes appear on write); deleted views lose their fields."""
        if views_to_delete:
            self._delete_views(project, views_to_delete)

    def online_write_batch(self, project: str, view: FeatureView, rows: Iterable[OnlineRow]) -> int:
        """Write rows, one pipeline per rows_per_pipeline rows; returns how many rows were newer.

        rows may be a generator of any length; at most one pipeline's rows are held at once.
        """
        client = self._connect()
        prefix = key_prefix(project)
        ttl = self.config.key_ttl_seconds
        ts_field = _timestamp_field(view.name)
        view_prefix = _view_prefix(view.name)
        rows = iter(rows)
        changed = 0
        while chunk := list(islice(rows, self.rows_per_pipeline)):
            with self._errors(f"writing feature view {view.name!r}"):
                pipeline = client.pipeline(transaction=False)
                for names, group in _group_by_feature_names(chunk):
                    fields = [view_prefix + name.encode() for name in names]
                    for start in range(0, len(group), ROWS_PER_SCRIPT_CALL):
                        part = group[start:start + ROWS_PER_SCRIPT_CALL]
                        args = [ttl, ts_field, len(fields), *fields]
                        for row in part:
                            args.append(_TIMESTAMPS.pack(row.event_ts, row.created_ts))
                            args.extend(row.values.values())
                        self._write_script(keys=[prefix + row.entity_key for row in part], args=args,
                                           client=pipeline)
                changed += sum(pipeline.execute())
        return changed

    def online_read(self, project: str, view: FeatureView, entity_keys: Sequence[bytes],
                    feature_names: Sequence[str]) -> list[StoredFeatures | None]:
        return self.online_read_many(project, [(view, entity_keys, feature_names)])[0]

    def online_read_many(self, project: str,
                         requests: Sequence[ReadRequest]) -> list[list[StoredFeatures | None]]:
        """Several views' reads in one round trip.

        For each (view, entity_keys, feature_names) request, a list of the same length as
        its entity_keys, as online_read returns. Each view's keys are read by one script
        call per KEYS_PER_READ_CALL keys, and all calls go in one pipeline.
        """
        client = self._connect()
        prefix = key_prefix(project)
        calls = []  # (request index, key count, EVALSHA arguments)
        for index, (view, entity_keys, feature_names) in enumerate(requests):
            fields = self._read_fields(view.name, feature_names)
            for start in range(0, len(entity_keys), KEYS_PER_READ_CALL):
                keys = [prefix + key for key in entity_keys[start:start + KEYS_PER_READ_CALL]]
                calls.append((index, len(keys), (len(keys), *keys, *fields)))
        results: list[list[StoredFeatures | None]] = [[] for _ in requests]
        if not calls:
            return results
        try:  # not self._errors(): a context manager costs a few microseconds of a ~50 us read
            blobs = self._run_read_script(client, [arguments for _, _, arguments in calls])
        except self._redis_errors.RedisError as error:
            raise self._error(error, "reading features") from error
        for (index, key_count, _), blob in zip(calls, blobs):
            results[index].extend(_parse_read_reply(blob, key_count, requests[index][2]))
        return results

    def _run_read_script(self, client, calls: list[tuple]) -> list[bytes]:
        """EVALSHA the read script once per call, in one round trip; loads the script if Redis lacks it.

        (redis-py's Script objects ask SCRIPT EXISTS before every pipeline: one more round trip.)
        """
        try:
            return _evalsha_all(client, _READ_SHA, calls)
        except self._redis_errors.NoScriptError:  # first use, a restarted server or SCRIPT FLUSH
            client.script_load(_READ)
            return _evalsha_all(client, _READ_SHA, calls)

    def _read_fields(self, view_name: str, feature_names: Sequence[str]) -> list[bytes]:
        """The hash fields a read asks for: the view's timestamp field, then its features'."""
        cache_key = (view_name, tuple(feature_names))
        fields = self._fields.get(cache_key)
        if fields is None:
            view_prefix = _view_prefix(view_name)
            fields = [_timestamp_field(view_name), *(view_prefix + name.encode() for name in feature_names)]
            if len(self._fields) < 1_000:  # bounded: callers may ask for ever-changing feature lists
                self._fields[cache_key] = fields
        return fields

    def teardown(self, project: str, views: Sequence[FeatureView]) -> None:
        if views:
            self._delete_views(project, views)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- helpers ---

    def _delete_views(self, project: str, views: Sequence[FeatureView]) -> None:
        """Delete the views' fields from every hash of the project (SCAN, so Redis is never blocked long)."""
        client = self._connect()
        prefixes = [_view_prefix(view.name) for view in views]
        pattern = key_prefix(project) + b"*"
        with self._errors("deleting feature views"):
            keys = client.scan_iter(match=pattern, count=1000)
            while batch := list(islice(keys, _SCAN_BATCH)):
                self._delete_script(keys=batch, args=prefixes)

    def _connect(self):
        """The Redis client, created on first use (redis-py connects on the first command)."""
        if self._client is not None:
            return self._client
        try:
            import redis
            import redis.exceptions
            from redis.backoff import ExponentialWithJitterBackoff
            from redis.retry import Retry
        except ImportError:
            raise OnlineStoreError("the Redis online store needs the redis package: "
                                   "pip install 'featurestore[redis]'") from None
        config = self.config
        password = None
        if config.password_env:
            password = os.environ.get(config.password_env)
            if password is None:
                raise OnlineStoreError(
                    f"online_store.password_env names the environment variable {config.password_env!r}, "
                    f"which is not set; export {config.password_env}=<the password of Redis at "
                    f"{self._address}>")
        # One quick retry covers a pooled connection the server closed; redis-py's default nests
        # retries of connect and command and stalls a request for seconds when Redis is down.
        retry = Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=1)
        client = redis.Redis(host=config.host, port=config.port, db=config.db, password=password,
                             ssl=config.ssl, socket_timeout=config.socket_timeout_seconds,
                             socket_connect_timeout=config.socket_timeout_seconds, retry=retry)
        self._write_script = client.register_script(_WRITE_IF_NEWER)
        self._delete_script = client.register_script(_DELETE_FIELDS)
        self._redis_errors = redis.exceptions
        self._client = client
        return client

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """`with self._errors("doing X"):` turns redis-py's errors into OnlineStoreErrors."""
        try:
            yield
        except self._redis_errors.RedisError as error:
            raise self._error(error, action) from error

    def _error(self, error: Exception, action: str) -> OnlineStoreError:
        """An OnlineStoreError naming the server, the cause and a fix."""
        errors = self._redis_errors
        address = self._address
        if isinstance(error, errors.AuthenticationError):
            hint = (f"the password comes from the environment variable {self.config.password_env!r}; "
                    f"set it to the server's password" if self.config.password_env else
                    "set online_store.password_env in feature_store.yaml to the name of an environment "
                    "variable holding the password")
            return OnlineStoreError(
                f"Redis at {address} refused the credentials while {action} ({error}); {hint}")
        if isinstance(error, errors.TimeoutError):
            return OnlineStoreError(
                f"Redis at {address} did not answer within {self.config.socket_timeout_seconds:g} s while "
                f"{action} ({error}); check the server's load and the network, or raise "
                f"online_store.socket_timeout_seconds")
        if isinstance(error, errors.ConnectionError):
            return OnlineStoreError(
                f"cannot connect to Redis at {address} while {action} ({error}); check that the server is "
                f"running and that online_store.host, port and ssl in feature_store.yaml point at it")
        return OnlineStoreError(f"Redis at {address} failed while {action}: {error}")


def _evalsha_all(client, sha: str, calls: list[tuple]) -> list[bytes]:
    if len(calls) == 1:  # the common single-view read skips the pipeline's bookkeeping
        return [client.execute_command("EVALSHA", sha, *calls[0])]
    pipeline = client.pipeline(transaction=False)
    for call in calls:
        pipeline.execute_command("EVALSHA", sha, *call)
    return pipeline.execute()


def _parse_read_reply(blob: bytes, key_count: int,
                      feature_names: Sequence[str]) -> list[StoredFeatures | None]:
    """The read script's string -> one StoredFeatures (or None) per key; see _READ for the format."""
    lengths_struct = struct.Struct(f">{1 + len(feature_names)}i")
    unpack_lengths = lengths_struct.unpack_from
    unpack_first = _LENGTH.unpack_from
    results: list[StoredFeatures | None] = []
    position = 0
    for _ in range(key_count):
        if unpack_first(blob, position)[0] < 0:
            results.append(None)
            position += 4
            continue
        timestamp_length, *lengths = unpack_lengths(blob, position)
        position += lengths_struct.size
        (event_ts,) = _EVENT_TS.unpack_from(blob, position)
        position += timestamp_length
        values = {}
        for name, length in zip(feature_names, lengths):
            if length >= 0:
                values[name] = blob[position:position + length]
                position += length
        results.append(StoredFeatures(values, event_ts))
    return results


def _group_by_feature_names(rows: list[OnlineRow]) -> list[tuple[tuple[str, ...], list[OnlineRow]]]:
    """Rows grouped by their feature names, so a script call sends the field names once.

    Rows of one view normally all carry the same features, giving a single group.
    """
    groups: dict[tuple[str, ...], list[OnlineRow]] = {}
    for row in rows:
        if row.values:
            groups.setdefault(tuple(row.values), []).append(row)
    return list(groups.items())
