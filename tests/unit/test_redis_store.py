"""The Redis online store's own layout, scripts and failure modes (a missing server, passwords),
against a real redis-server. The behaviour every store shares is in test_online_contract.py."""
from __future__ import annotations

import pickle
import subprocess
import sys

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from featurestore.config import RepoConfig
from featurestore.errors import OnlineStoreError
from featurestore.online import get_online_store, redis_scripts
from featurestore.online.base import StoredFeatures
from featurestore.online.codec import encode_value
from featurestore.online.murmur3 import feature_field, murmur3_32
from featurestore.online.redis_store import ROWS_PER_SCRIPT_CALL, RedisOnlineStore, RedisOnlineStoreConfig
from featurestore.runtime.processes import free_port
from featurestore.testing.redis import PASSWORD_ENV, TEST_PASSWORD
from featurestore.types import Float64, Int64
from tests.online_helpers import PROFILE, PROJECT, STATS, key, read, row, stats_row, stats_value, write


def test_redis_store_from_the_repo_config(tmp_path):
    config = RedisOnlineStoreConfig(host="10.0.0.1", port=6380)
    store = get_online_store(RepoConfig(project=PROJECT, repo_path=tmp_path, online_store=config))
    assert isinstance(store, RedisOnlineStore) and store.config == config
    assert store._client is None  # connects on first use


def test_redis_layout_is_feasts_one_hash_per_entity_with_murmur3_fields(clean_redis):
    import redis

    store = RedisOnlineStore(clean_redis.config())
    write(store, STATS, [stats_row(1, 0.5, 5, 100, 7)])
    write(store, PROFILE, [row(PROFILE, 1, {"name": "Ann", "vip": True}, 100)])
    client = redis.Redis(host=clean_redis.host, port=clean_redis.port)
    assert client.keys() == [key(STATS, 1) + b"proj"]  # Feast's: the entity key, then the project
    stored = client.hgetall(key(STATS, 1) + b"proj")
    assert sorted(stored) == sorted([b"_ts:driver_profile", b"driver_profile:#ts", feature_field("driver_profile", "name"),
                                     feature_field("driver_profile", "vip"), b"_ts:driver_stats", b"driver_stats:#ts",
                                     feature_field("driver_stats", "conv_rate"), feature_field("driver_stats", "trips")])
    assert feature_field("driver_stats", "conv_rate") == (murmur3_32(b"driver_stats:conv_rate")).to_bytes(4, "little")
    assert stored[b"driver_stats:#ts"] == (100).to_bytes(8, "big") + (7).to_bytes(8, "big")
    assert stored[b"_ts:driver_stats"] == Timestamp(nanos=100_000).SerializeToString()  # 100 us
    assert stored[feature_field("driver_stats", "conv_rate")] == encode_value(0.5, Float64)
    assert client.ttl(key(STATS, 1) + b"proj") == -1
    client.close()
    store.close()


def test_murmur3_matches_the_reference_values():
    assert [murmur3_32(data) for data in (b"", b"a", b"ab", b"abc", b"abcd", b"hello")] == [
        0, 0x3C2569B2, 0x9BBFD75F, 0xB3DD93FA, 0x43ED676A, 0x248BFA47]


def test_redis_teardown_deletes_fields_and_emptied_hashes(clean_redis):
    store = RedisOnlineStore(clean_redis.config())
    write(store, STATS, [stats_row(i, 0.5, i, 100) for i in range(3)])
    write(store, PROFILE, [row(PROFILE, 0, {"name": "Ann", "vip": True}, 100)])
    store.teardown(PROJECT, [STATS])
    assert clean_redis.command("DBSIZE") == b":1\r\n"
    assert read(store, PROFILE, 0) == [({"name": "Ann", "vip": True}, 100)]
    store.update(PROJECT, [], [PROFILE])
    assert clean_redis.command("DBSIZE") == b":0\r\n"


def test_redis_key_ttl(clean_redis):
    store = RedisOnlineStore(clean_redis.config(key_ttl_seconds=3600))
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    ttl = int(clean_redis.command("TTL", key(STATS, 1) + b"proj")[1:])
    assert 3590 < ttl <= 3600


def test_redis_scripts_are_loaded_on_first_use_then_run_by_sha_alone(clean_redis):
    import redis

    client = redis.Redis(host=clean_redis.host, port=clean_redis.port)
    client.script_flush()
    store = RedisOnlineStore(clean_redis.config())
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    read(store, STATS, 1)
    scripts = (redis_scripts.WRITE_IF_NEWER, redis_scripts.READ, redis_scripts.RESET_DONE)
    assert client.script_exists(*(script.sha for script in scripts)) == [True, True, False]
    client.config_resetstat()
    write(store, STATS, [stats_row(i, 0.5, 5, 200) for i in range(2 * ROWS_PER_SCRIPT_CALL)])  # 2 calls
    read(store, STATS, 1)
    stats = client.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 3
    assert not [name for name in stats if name.startswith("cmdstat_script")]  # no SCRIPT EXISTS or LOAD
    client.close()
    store.close()


def test_redis_recovers_when_the_server_forgot_its_scripts(clean_redis):
    store = RedisOnlineStore(clean_redis.config())
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]
    clean_redis.command("SCRIPT", "FLUSH")
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]  # one script call
    clean_redis.command("SCRIPT", "FLUSH")
    rows = [stats_row(i, 0.9, i, 200) for i in range(2 * ROWS_PER_SCRIPT_CALL + 1)]  # a pipeline of 3 calls
    assert write(store, STATS, rows) == len(rows)
    clean_redis.command("SCRIPT", "FLUSH")
    assert store.online_read_many(PROJECT, [(STATS, [key(STATS, 1)], ["trips"]),
                                            (PROFILE, [key(PROFILE, 1)], ["name"])]) == [
        [StoredFeatures({"trips": encode_value(1, Int64)}, 200)], [None]]
    clean_redis.command("SCRIPT", "FLUSH")
    store.teardown(PROJECT, [STATS])
    assert clean_redis.command("DBSIZE") == b":0\r\n"


def test_redis_script_errors_are_raised_not_swallowed(clean_redis):
    import redis

    client = redis.Redis(host=clean_redis.host, port=clean_redis.port)
    broken = redis_scripts.LuaScript("return redis.call('NO_SUCH_COMMAND')")
    for calls in ([(0,)], [(0,), (0,)]):  # alone and in a pipeline
        with pytest.raises(redis.exceptions.ResponseError, match="Unknown Redis command called from script"):
            redis_scripts.run(client, broken, calls)
    client.close()


def test_redis_unreachable():
    port = free_port()  # nothing listens there
    store = RedisOnlineStore(RedisOnlineStoreConfig(host="127.0.0.1", port=port, socket_timeout_seconds=1))
    with pytest.raises(OnlineStoreError) as raised:
        store.online_read(PROJECT, STATS, [key(STATS, 1)], ["trips"])
    message = str(raised.value)
    assert message.startswith(f"cannot connect to Redis at 127.0.0.1:{port} while reading features (")
    assert message.endswith("); check that the server is running and that online_store.host, port and ssl in "
                            "feature_store.yaml point at it")
    expected = f"^cannot connect to Redis at 127.0.0.1:{port} while writing feature view 'driver_stats'"
    with pytest.raises(OnlineStoreError, match=expected):
        write(store, STATS, [stats_row(1, 0.5, 5, 100)])


def test_redis_without_the_redis_package_says_what_to_install():
    code = ("import sys; sys.modules['redis'] = None  # as if not installed\n"
            "from featurestore.errors import OnlineStoreError\n"
            "from featurestore.online.redis_store import RedisOnlineStore, RedisOnlineStoreConfig\n"
            "try:\n"
            "    RedisOnlineStore(RedisOnlineStoreConfig()).online_read('p', None, [b'k'], ['f'])\n"
            "except OnlineStoreError as error:\n"
            "    print(error)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "the Redis online store needs the redis package: pip install 'featurestore[redis]'\n"


def test_redis_with_the_right_password(password_redis_server, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, TEST_PASSWORD)
    password_redis_server.flushall()
    store = RedisOnlineStore(password_redis_server.config())
    assert write(store, STATS, [stats_row(1, 0.5, 5, 100)]) == 1
    assert read(store, STATS, 1) == [stats_value(0.5, 5, 100)]


def test_redis_with_a_wrong_password(password_redis_server, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    store = RedisOnlineStore(password_redis_server.config())
    with pytest.raises(OnlineStoreError) as raised:
        store.online_read(PROJECT, STATS, [key(STATS, 1)], ["trips"])
    message = str(raised.value)
    assert message.startswith(
        f"Redis at 127.0.0.1:{password_redis_server.port} refused the credentials while reading features (")
    assert message.endswith(
        f"); the password comes from the environment variable '{PASSWORD_ENV}'; set it to the server's "
        f"password")


def test_redis_without_a_password_where_one_is_required(password_redis_server):
    store = RedisOnlineStore(password_redis_server.config(password_env=""))
    with pytest.raises(OnlineStoreError) as raised:
        store.online_read(PROJECT, STATS, [key(STATS, 1)], ["trips"])
    assert str(raised.value).endswith(
        "; set online_store.password_env in feature_store.yaml to the name of an environment variable "
        "holding the password")


def test_redis_password_variable_not_set(monkeypatch):
    monkeypatch.delenv("FEATURESTORE_UNSET_PASSWORD", raising=False)
    store = RedisOnlineStore(RedisOnlineStoreConfig(port=6390, password_env="FEATURESTORE_UNSET_PASSWORD"))
    with pytest.raises(OnlineStoreError) as raised:
        store.online_read(PROJECT, STATS, [key(STATS, 1)], ["trips"])
    assert str(raised.value) == (
        "online_store.password_env names the environment variable 'FEATURESTORE_UNSET_PASSWORD', which is "
        "not set; export FEATURESTORE_UNSET_PASSWORD=<the password of Redis at localhost:6390>")


def test_redis_store_pickles_only_its_config(clean_redis):
    store = RedisOnlineStore(clean_redis.config())
    write(store, STATS, [stats_row(1, 0.5, 5, 100)])
    assert store.__getstate__() == {"config": clean_redis.config(), "rows_per_pipeline": 10_000}
    copy = pickle.loads(pickle.dumps(store))
    assert copy._client is None
    assert copy.writes_from_executors is True
    assert read(copy, STATS, 1) == [stats_value(0.5, 5, 100)]
