"""The Redis online store, for serving from several machines and writing from Spark executors.

Layout: Feast's Redis online store's (issue #38), so that Feast's SDK and `feast serve` read
what featurestore materializes and the other way round. One hash per entity key, at the
entity key's bytes (Feast's serialization, online/codec.py) followed by the project's name.
A view's fields in it:
- per feature, Feast's murmur3 field of "<view>:<feature>" (online/murmur3.py), holding a
  serialized Value;
- "_ts:<view>", Feast's: the event time as a protobuf Timestamp;
- "<view>:#ts", featurestore's: event_ts and created_ts in microseconds as two big-endian
  int64, by which writes decide what is newer (a hash Feast wrote lacks it; its event
  time is then read from "_ts:<view>").
featurestore's bookkeeping keys begin with "fs:" or "fs#" (the generations, the mark), which
no entity key's bytes do (they begin with the join-key count as a 4-byte integer).

Writes go through a Lua script (featurestore.online.redis_scripts) that compares
timestamps and writes in one step, so the newer-wins rule holds even with several
executors writing the same key at once. The store holds only its config when pickled and
connects on first use, so it can be shipped to Spark executors. redis-py is imported on
first connect, with the install hint when it is missing.

Speed (issue #15). One entity read through get_online_features cost ~0.13 ms p50 beside a
raw HMGET's ~0.08 ms: the READ script makes Redis run Lua and the reply was parsed twice.
online_read_many now answers one entity (every request for the same key, as views sharing
an entity have: their fields live in the same hash) with one plain HMGET of all the views'
fields (_read_one_hash); several keys still go through READ, whose one-string reply is
cheaper to parse than many HMGET replies (100 x 10: ~0.75 ms beside ~0.75 ms of pipelined
HMGETs with hiredis, 1.7 ms without). online_read keeps to READ for any number of keys.
The rest of a one-entity read is redis-py (~15 us of pool, retry and packing around the
round trip) and the round trip itself; hiredis, in the `redis` extra, parses replies in C
(~8 us less per HMGET, ~1.3x faster pipelined writes). Writes: online_write_flat was
already faster than raw pipelined HSET (the script takes 100 rows per call); its time is
Redis running the script (~half) and redis-py packing ~12 arguments per row.
"""
from __future__ import annotations

import dataclasses
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice

from featurestore.config import setting
from featurestore.definitions import FeatureView
from featurestore.errors import OnlineStoreError
from featurestore.identity import changed_while
from featurestore.online import redis_scripts
from featurestore.online.base import OnlineStore, ReadRequest, StoredFeatures, stored_features
from featurestore.online.codec import entity_key_length
from featurestore.online.feast_time import timestamp_message
from featurestore.online.legacy import feast_key, feast_value, is_earlier_key
from featurestore.online.murmur3 import feature_field
from featurestore.online.redis_scripts import READ, RESET_DONE, WRITE_IF_NEWER, event_micros, parse_read_reply

ROWS_PER_PIPELINE = 10_000
# A script call blocks Redis while it runs, so big batches are split into calls of ~1 ms or less.
ROWS_PER_SCRIPT_CALL = 100
KEYS_PER_READ_CALL = 200
# From this many features of one view per key (and more than one key), a read fetches whole
# hashes (HGETALL) instead of running the READ script's HMGETs (_read_whole_hashes).
WIDE_READ_FEATURES = 16
_TIMESTAMPS = struct.Struct(">qq")  # event_ts, created_ts
_SCAN_BATCH = 500


def _single_key(requests: Sequence[ReadRequest]) -> bytes | None:
    """The one entity key of requests that each ask for that key or for none; else None."""
    single = None
    for _, entity_keys, _ in requests:
        if len(entity_keys) > 1:
            return None
        if entity_keys:
            if single is None:
                single = entity_keys[0]
            elif entity_keys[0] != single:
                return None
    return single


def key_prefix(project: str) -> bytes:
    """The beginning of the project's bookkeeping keys."""
    return b"fs:" + project.encode() + b":"


def _glob_escaped(text: bytes) -> bytes:
    """text matched literally by a SCAN pattern."""
    return b"".join(b"\\" + bytes([c]) if c in b"*?[]\\" else bytes([c]) for c in text)


def _mark_key(project: str) -> bytes:
    """The mark that the project's values are here (OnlineStore.mark_holding); '#' begins no entity key."""
    return key_prefix(project) + b"#materialized"


def _generations_key(project: str) -> bytes:
    """The hash of the project's views' online generations (featurestore.identity), field = view name."""
    return key_prefix(project) + b"#generations"


def _resetting_key(project: str, view_name: str) -> bytes:
    """How many resets of the view are under way (writes are refused meanwhile); outside the
    project's key space, which resets scan. Expires, so a reset killed midway blocks no writer
    for longer than RESET_SECONDS."""
    return b"fs#resetting:" + project.encode() + b":" + view_name.encode()


RESET_SECONDS = 600


def hash_key(project: str, entity_key: bytes) -> bytes:
    """The hash holding an entity's values: its key's bytes, then the project's name (Feast's)."""
    return entity_key + project.encode()


def timestamp_field(view_name: str) -> bytes:
    """featurestore's field of a view's event and created times."""
    return view_name.encode() + b":#ts"


def feast_timestamp_field(view_name: str) -> bytes:
    """Feast's field of a view's event time."""
    return b"_ts:" + view_name.encode()


def _view_fields(view: FeatureView) -> list[bytes]:
    """Every field a view owns in a hash: its two timestamp fields and its features'."""
    return [timestamp_field(view.name), feast_timestamp_field(view.name),
            *(feature_field(view.name, f.name) for f in view.features)]


def _feast_fields(earlier: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """An earlier hash's fields ("<view>:<feature>" and "<view>:#ts") in Feast's layout."""
    fields = {}
    for name, value in earlier.items():
        view, _, feature = name.decode().partition(":")
        if feature == "#ts":
            fields[name] = value  # featurestore's timestamps field keeps its name and bytes
            fields[feast_timestamp_field(view)] = timestamp_message(struct.unpack_from(">q", value)[0])
        else:
            fields[feature_field(view, feature)] = feast_value(value)
    return fields


def is_project_hash(key: bytes, suffix: bytes) -> bool:
    """Whether a key is an entity's hash of the project whose name is `suffix`: an entity key
    followed by exactly the name."""
    length = entity_key_length(key)
    return length is not None and key[length:] == suffix


@dataclasses.dataclass(frozen=True)
class RedisOnlineStoreConfig:
    """A Redis server; the password is read from the environment variable named here."""
    type: str = "redis"
    host: str = setting("localhost", nonempty=True)
    port: int = setting(6379, low=1, high=65535)
    db: int = setting(0, low=0)
    ssl: bool = False
    password_env: str = ""
    key_ttl_seconds: int = setting(0, low=0)  # 0: keys never expire
    socket_timeout_seconds: float = setting(5.0, above=0)


class RedisOnlineStore(OnlineStore):
    """Feature values in a Redis server described by a RedisOnlineStoreConfig."""

    config_class = RedisOnlineStoreConfig
    writes_from_executors = True  # it pickles to its config, so each Spark task connects on its own

    def __init__(self, config: RedisOnlineStoreConfig, *, rows_per_pipeline: int = ROWS_PER_PIPELINE):
        if not isinstance(config, RedisOnlineStoreConfig):
            raise TypeError(f"RedisOnlineStore takes a RedisOnlineStoreConfig, got {config!r}")
        self.config = config
        self.rows_per_pipeline = rows_per_pipeline
        self._client = None
        self._redis_errors = None  # the redis.exceptions module, once imported
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

    @classmethod
    def from_config(cls, config: RedisOnlineStoreConfig, repo_config) -> RedisOnlineStore:
        return cls(config)

    def update(self, project: str, views_to_keep: Sequence[FeatureView],
               views_to_delete: Sequence[FeatureView]) -> None:
        """Nothing to create (hashes appear on write); deleted views lose their fields and generations."""
        self.teardown(project, views_to_delete)

    def claim_generation(self, project: str, view: FeatureView, generation: str) -> str:
        client = self._connect()
        key = _generations_key(project)
        with self._errors(f"recording the generation of feature view {view.name!r}"):
            client.hsetnx(key, view.name, generation)
            return (client.hget(key, view.name) or b"").decode()

    def reset_view(self, project: str, view: FeatureView, generation: str, expected: str) -> bool:
        """The new generation is recorded first (writers of the old one are refused from then),
        with the resetting counter up (so are the new one's, until the old values are gone); then
        the view's fields are deleted from every key of the project (SCAN: Redis is never blocked
        long), and the counter goes down."""
        client = self._connect()
        key, resetting = _generations_key(project), _resetting_key(project, view.name)
        with self._errors(f"removing the values of feature view {view.name!r}"):
            pipeline = client.pipeline(transaction=True)
            pipeline.watch(key)
            if (pipeline.hget(key, view.name) or b"").decode() != expected:
                pipeline.reset()
                return False
            pipeline.multi()
            pipeline.incr(resetting)
            pipeline.expire(resetting, RESET_SECONDS)
            pipeline.hset(key, view.name, generation)
            try:
                pipeline.execute()
            except self._redis_errors.WatchError:
                return False
        try:
            self._delete_views(project, [view])
        finally:
            with self._errors(f"removing the values of feature view {view.name!r}"):
                redis_scripts.run(client, RESET_DONE, [(1, resetting)])
        return True

    def online_write_flat(self, project: str, view: FeatureView, rows: Iterable[tuple],
                          generation: str | None = None) -> int:
        """Write rows, one pipeline per rows_per_pipeline rows; returns how many rows were newer.

        Each script call writes ROWS_PER_SCRIPT_CALL rows (Redis is blocked while a script runs);
        at most one pipeline's rows are held at once.
        """
        client = self._connect()
        suffix = project.encode()
        fields = [feature_field(view.name, f.name) for f in view.features]
        fence = [b"", b"", b"", b""] if generation is None else \
            [_generations_key(project), view.name, generation, _resetting_key(project, view.name)]
        header = [*fence, self.config.key_ttl_seconds, timestamp_field(view.name), feast_timestamp_field(view.name),
                  len(fields), *fields]
        pack_timestamps = _TIMESTAMPS.pack
        rows = iter(rows)
        changed = 0
        while chunk := list(islice(rows, self.rows_per_pipeline)):
            calls = []
            for start in range(0, len(chunk), ROWS_PER_SCRIPT_CALL):
                part = chunk[start:start + ROWS_PER_SCRIPT_CALL]
                args = list(header)
                for row in part:
                    args += (pack_timestamps(row[1], row[2]), timestamp_message(row[1]))
                    args += row[3:]
                calls.append((len(part), *[row[0] + suffix for row in part], *args))
            with self._errors(f"writing feature view {view.name!r}"):
                counts = redis_scripts.run(client, WRITE_IF_NEWER, calls)
            if -1 in counts:
                raise changed_while(view.name, "this write ran")
            changed += sum(counts)
        return changed

    def online_read(self, project: str, view: FeatureView, entity_keys: Sequence[bytes],
                    feature_names: Sequence[str]) -> list[StoredFeatures | None]:
        """Through the READ script, for any number of keys (online_read_many has the fast paths)."""
        return self._read_scripted(project, [(view, entity_keys, feature_names)])[0]

    def online_read_many(self, project: str,
                         requests: Sequence[ReadRequest]) -> list[list[StoredFeatures | None]]:
        """Several views' reads in one round trip; get_online_features reads through here.

        For each (view, entity_keys, feature_names) request, a list of the same length as
        its entity_keys, as online_read returns. One entity (every request asks for the same
        key, or none): one plain HMGET of all the views' fields, which live in that key's
        hash. Otherwise each view's keys are read by one READ script call per
        KEYS_PER_READ_CALL keys, and all calls go in one pipeline.
        """
        single = _single_key(requests)
        if single is not None:
            return self._read_one_hash(self._connect(), hash_key(project, single), requests)
        return self._read_scripted(project, requests)

    def _read_scripted(self, project: str,
                       requests: Sequence[ReadRequest]) -> list[list[StoredFeatures | None]]:
        client = self._connect()
        suffix = project.encode()
        calls = []  # (request index, key count, EVALSHA arguments)
        results: list[list[StoredFeatures | None]] = [[] for _ in requests]
        wide = [index for index, (_, entity_keys, names) in enumerate(requests)
                if len(names) >= WIDE_READ_FEATURES and len(entity_keys) > 1]
        if wide:
            self._read_whole_hashes(client, suffix, requests, wide, results)
        for index, (view, entity_keys, feature_names) in enumerate(requests):
            if index in wide:
                continue
            fields = self._read_fields(view.name, feature_names)
            for start in range(0, len(entity_keys), KEYS_PER_READ_CALL):
                keys = [key + suffix for key in entity_keys[start:start + KEYS_PER_READ_CALL]]
                calls.append((index, len(keys), (len(keys), *keys, *fields)))
        if not calls:
            return results
        try:  # not self._errors(): a context manager costs a few microseconds of a ~50 us read
            blobs = redis_scripts.run(client, READ, [arguments for _, _, arguments in calls])
        except self._redis_errors.RedisError as error:
            raise self._error(error, "reading features") from error
        for (index, key_count, _), blob in zip(calls, blobs):
            results[index].extend(parse_read_reply(blob, key_count, requests[index][2]))
        return results

    def _read_whole_hashes(self, client, suffix: bytes, requests: Sequence[ReadRequest], wide: list[int],
                           results: list[list[StoredFeatures | None]]) -> None:
        """Many features of many keys: one HGETALL per key, all in one pipeline, the wanted
        fields picked here. Redis keeps a small hash as a listpack, where HMGET finds each field
        by a scan: 50 fields cost it ~19 us a key against HGETALL's ~7 us (docs/performance.md)."""
        pipeline = client.pipeline(transaction=False)
        for index in wide:
            for key in requests[index][1]:
                pipeline.execute_command("HGETALL", key + suffix)
        try:
            hashes = iter(pipeline.execute())
        except self._redis_errors.RedisError as error:
            raise self._error(error, "reading features") from error
        for index in wide:
            view, entity_keys, feature_names = requests[index]
            timestamp_field, feast_timestamp_field, *fields = self._read_fields(view.name, feature_names)
            pairs = list(zip(feature_names, fields))
            out = results[index]
            for _ in entity_keys:
                stored = next(hashes)
                timestamps, feasts = stored.get(timestamp_field), stored.get(feast_timestamp_field)
                if timestamps is None and feasts is None:
                    out.append(None)
                    continue
                values = {}
                for name, field in pairs:
                    value = stored.get(field)
                    if value is not None:
                        values[name] = value
                out.append(stored_features(values, event_micros(timestamps, feasts)))

    def _read_one_hash(self, client, hash_key: bytes,
                       requests: Sequence[ReadRequest]) -> list[list[StoredFeatures | None]]:
        """One entity's reads, each request for the same key or none: one HMGET of every
        view's timestamp and feature fields, since they all live in that key's hash. Redis
        does no Lua work and the reply is a handful of values, so this is the cheapest read."""
        fields = []
        for view, entity_keys, feature_names in requests:
            if entity_keys:
                fields += self._read_fields(view.name, feature_names)
        try:
            reply = client.execute_command("HMGET", hash_key, *fields)
        except self._redis_errors.RedisError as error:
            raise self._error(error, "reading features") from error
        results: list[list[StoredFeatures | None]] = []
        position = 0
        for _, entity_keys, feature_names in requests:
            if not entity_keys:
                results.append([])
                continue
            timestamps, feasts = reply[position], reply[position + 1]
            if timestamps is None and feasts is None:  # nothing stored for the view (as READ's -2)
                results.append([None])
            else:
                values = {name: value for name, value in zip(feature_names, reply[position + 2:])
                          if value is not None}
                results.append([stored_features(values, event_micros(timestamps, feasts))])
            position += 2 + len(feature_names)
        return results

    def _read_fields(self, view_name: str, feature_names: Sequence[str]) -> list[bytes]:
        """The hash fields a read asks for: the view's two timestamp fields, then its features'."""
        cache_key = (view_name, tuple(feature_names))
        fields = self._fields.get(cache_key)
        if fields is None:
            fields = [timestamp_field(view_name), feast_timestamp_field(view_name),
                      *(feature_field(view_name, name) for name in feature_names)]
            if len(self._fields) < 1_000:  # bounded: callers may ask for ever-changing feature lists
                self._fields[cache_key] = fields
        return fields

    def teardown(self, project: str, views: Sequence[FeatureView]) -> None:
        if views:
            self._delete_views(project, views)
            with self._errors("forgetting the views' generations"):
                self._connect().hdel(_generations_key(project), *[view.name for view in views])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- helpers ---

    def _delete_views(self, project: str, views: Sequence[FeatureView]) -> None:
        """Delete the views' fields from every hash of the project (SCAN, so Redis is never blocked
        long). A hash Redis removes once its last field is gone. Fields of features a view no
        longer has stay behind, unread: a feature added again under an old name is reset too."""
        client = self._connect()
        fields = [field for view in views for field in _view_fields(view)]
        suffix = project.encode()
        with self._errors("deleting feature views"):
            keys = client.scan_iter(match=b"*" + _glob_escaped(suffix), count=1000)
            while batch := list(islice(keys, _SCAN_BATCH)):
                pipeline = client.pipeline(transaction=False)
                for key in batch:
                    if is_project_hash(key, suffix):  # not another project's whose name ends in this one
                        pipeline.hdel(key, *fields)
                pipeline.execute()

    def convert_earlier_layout(self, project: str) -> str:
        """Rewrite the project's hashes of the earlier layout (at "fs:<project>:" + an EntityKey
        message, fields "<view>:<feature>") in Feast's (online/legacy.py): each batch of hashes
        written anew and the old ones deleted in one MULTI, so a conversion killed midway loses
        nothing and the next one finishes it."""
        client = self._connect()
        prefix = key_prefix(project)
        suffix = project.encode()
        converted = 0
        with self._errors("converting hashes of featurestore's earlier layout"):
            keys = (key for key in client.scan_iter(match=_glob_escaped(prefix) + b"*", count=1000)
                    if is_earlier_key(key[len(prefix):]))
            while batch := list(islice(keys, _SCAN_BATCH)):
                reader = client.pipeline(transaction=False)
                for key in batch:
                    reader.hgetall(key)
                    reader.pttl(key)
                replies = reader.execute()
                writer = client.pipeline(transaction=True)
                for key, fields, ttl in zip(batch, replies[0::2], replies[1::2]):
                    new_key = feast_key(key[len(prefix):]) + suffix
                    writer.hset(new_key, mapping=_feast_fields(fields))
                    if ttl > 0:
                        writer.pexpire(new_key, ttl)
                    writer.delete(key)
                writer.execute()
                converted += len(batch)
        return "" if not converted else f"{converted} hash{'es' if converted > 1 else ''}"

    def mark_holding(self, project: str) -> None:
        """A hash without expiry beside the project's hashes (key_ttl_seconds never applies to it; a
        hash, so that deleting a view's fields from every project key passes over it)."""
        client = self._connect()
        with self._errors("marking the store as holding the project's values"):
            client.hset(_mark_key(project), b"materialized", b"1")

    def holds_mark(self, project: str) -> bool:
        client = self._connect()
        with self._errors("checking the store's mark"):
            return bool(client.exists(_mark_key(project)))

    def ping(self) -> None:
        """Redis answers PING."""
        client = self._connect()
        with self._errors("answering a readiness check"):
            client.ping()

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
