"""feature_store.yaml: defaults, typed sections, and errors with the key's path and line."""
import re
from pathlib import Path

import pytest

from featurestore.config import RedisOnlineStoreConfig, SqliteOnlineStoreConfig, load_config
from featurestore.errors import ConfigError


def write(tmp_path, text):
    (tmp_path / "feature_store.yaml").write_text(text)
    return tmp_path


def test_defaults_resolve_under_the_repo(tmp_path):
    config = load_config(write(tmp_path, "project: demo\n"))
    assert config.online_store == SqliteOnlineStoreConfig()
    assert config.registry_path == tmp_path / "data" / "registry.db"
    assert config.warehouse_dir == tmp_path / "data" / "spark-warehouse"
    assert config.metastore_dir == tmp_path / "data" / "metastore_db"


def test_redis_section(tmp_path):
    config = load_config(write(tmp_path, "project: demo\nonline_store:\n  type: redis\n  host: 10.0.0.1\n  port: 6380\n"
                                         "  password_env: REDIS_PW\n  ssl: true\n"))
    assert config.online_store == RedisOnlineStoreConfig(host="10.0.0.1", port=6380, password_env="REDIS_PW", ssl=True)


@pytest.mark.parametrize("text, message", [
    ("project: demo\nonline_store:\n  type: sqlite\n  pth: x.db\n",
     "feature_store.yaml:4: unknown setting 'online_store.pth'. Did you mean 'path'?"),
    ("project: demo\nonlin_store:\n  type: sqlite\n", "feature_store.yaml:2: unknown setting 'onlin_store'. Did you mean "
                                                      "'online_store'?"),
    ("project: demo\nonline_store:\n  type: redis\n  port: '6379'\n",
     "feature_store.yaml:4: 'online_store.port' must be int, got str '6379'"),
    ("project: demo\nonline_store:\n  type: postgres\n",
     "feature_store.yaml:3: 'online_store.type' is 'postgres'; choose one of sqlite, redis"),
    ("project: demo\nonline_store: [1, 2\n", "feature_store.yaml:3: malformed YAML"),
    ("project: my project\n", "'project' must be a plain identifier"),
    ("registry: x.db\n", "'project' must be a plain identifier"),
    ("- a\n- b\n", "must be a mapping with at least 'project:'"),
    ("project: demo\noffline_store:\n  type: spark\n  spark_conf:\n    shuffle: 4\n",
     "spark_conf key 'shuffle' must be a Spark setting starting with 'spark.'"),
    ("project: demo\noffline_store:\n  type: spark\n  spark_conf: 4\n", "'offline_store.spark_conf' must be dict"),
])
def test_mistakes_name_the_key_and_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    assert message in str(error.value)


def test_missing_file_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match="not found; run `featurestore init NAME`"):
        load_config(tmp_path)


REDIS = "project: demo\nonline_store:\n  type: redis\n"


@pytest.mark.parametrize("text, message", [
    (REDIS + "  port: 99999\n", "feature_store.yaml:4: 'online_store.port' must be between 1 and 65535, got 99999"),
    (REDIS + "  port: 0\n", "feature_store.yaml:4: 'online_store.port' must be between 1 and 65535, got 0"),
    (REDIS + "  socket_timeout_seconds: 0\n",
     "feature_store.yaml:4: 'online_store.socket_timeout_seconds' must be greater than 0, got 0"),
    (REDIS + "  socket_timeout_seconds: -1.5\n",
     "feature_store.yaml:4: 'online_store.socket_timeout_seconds' must be greater than 0, got -1.5"),
    (REDIS + "  socket_timeout_seconds: .inf\n",
     "feature_store.yaml:4: 'online_store.socket_timeout_seconds' must be a finite number, got inf"),
    (REDIS + "  socket_timeout_seconds: .nan\n",
     "feature_store.yaml:4: 'online_store.socket_timeout_seconds' must be a finite number, got nan"),
    (REDIS + "  db: -1\n", "feature_store.yaml:4: 'online_store.db' must be at least 0, got -1"),
    (REDIS + "  key_ttl_seconds: -60\n", "feature_store.yaml:4: 'online_store.key_ttl_seconds' must be at least 0, "
                                         "got -60"),
    (REDIS + "  host: ''\n", "feature_store.yaml:4: 'online_store.host' must be a non-empty string, got ''"),
    ("project: demo\nonline_store:\n  type: sqlite\n  path: ' '\n",
     "feature_store.yaml:4: 'online_store.path' must be a non-empty string, got ' '"),
    ("project: demo\noffline_store:\n  warehouse_dir: ''\n",
     "feature_store.yaml:3: 'offline_store.warehouse_dir' must be a non-empty string, got ''"),
    ("project: demo\noffline_store:\n  spark_conf:\n    spark.sql.shuffle.partitions: {a: 1}\n",
     "feature_store.yaml:4: 'offline_store.spark_conf.spark.sql.shuffle.partitions' must be a string, number or "
     "boolean, got {'a': 1}"),
])
def test_values_out_of_range_name_the_key_and_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    assert str(error.value) == f"{tmp_path}/{message}"


def test_values_at_the_edges_of_their_range_are_accepted(tmp_path):
    config = load_config(write(tmp_path, REDIS + "  port: 65535\n  db: 0\n  key_ttl_seconds: 0\n"
                                                 "  socket_timeout_seconds: 0.01\n"))
    assert config.online_store == RedisOnlineStoreConfig(port=65535, socket_timeout_seconds=0.01)
    assert load_config(write(tmp_path, REDIS + "  port: 1\n")).online_store.port == 1


@pytest.mark.parametrize("registry, message", [
    ("s3://bucket/registry.pb", "feature_store.yaml:2: 'registry' is 's3://bucket/registry.pb', a s3:// URL; "
                                "featurestore keeps the registry in a local file"),
    ("gs://bucket/registry.pb", "feature_store.yaml:2: 'registry' is 'gs://bucket/registry.pb', a gs:// URL"),
    ("mysql://user@db:3306/feast", "a mysql:// URL; featurestore keeps the registry in a local file"),
    ("\n  registry_type: file\n  path: postgresql://user@db:5432/feast\n",
     "feature_store.yaml:4: 'registry.path' is a postgresql:// URL but registry.registry_type is 'file'"),
    ("\n  registry_type: sql\n  path: data/registry.db\n",
     "feature_store.yaml:4: registry.registry_type is 'sql' but 'registry.path' is 'data/registry.db', not a URL"),
    ("\n  registry_type: snowflake\n  path: x\n",
     "feature_store.yaml:3: 'registry.registry_type' is 'snowflake'; choose 'file'"),
    ("\n  registry_type: sql\n  path: postgresql://u:${FEATURESTORE_TEST_UNSET_PASSWORD}@db/feast\n",
     "uses the environment variable FEATURESTORE_TEST_UNSET_PASSWORD, which is not set"),
    ("\n  path: s3://bucket/registry.pb\n",
     "feature_store.yaml:3: 'registry.path' is 's3://bucket/registry.pb', a s3:// URL"),
    ("\n  path: data/registry.db\n  registry_store_type: S3RegistryStore\n",
     "feature_store.yaml:4: 'registry.registry_store_type' is 'S3RegistryStore'; featurestore keeps the registry "
     "in a local file or a SQL database"),
    ("\n  path: data/registry.db\n  cache_ttl: 5\n",
     "feature_store.yaml:4: unknown setting 'registry.cache_ttl'. Did you mean 'cache_ttl_seconds'? Allowed: path, "
     "registry_type, cache_ttl_seconds"),
    ("\n  registry_type: file\n", "'registry.path' must be a file path such as data/registry.db or a SQL URL"),
    ("\n  path: data/registry.db\n  cache_ttl_seconds: -1\n",
     "feature_store.yaml:4: 'registry.cache_ttl_seconds' must be an int of at least 0, got -1"),
    ("''", "feature_store.yaml:2: 'registry' must be a file path such as data/registry.db"),
])
def test_remote_registries_are_refused(tmp_path, registry, message):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, f"project: demo\nregistry: {registry}\n"))
    assert message in str(error.value)
    assert not (tmp_path / "s3:").exists() and not (tmp_path / "postgresql:").exists()


@pytest.mark.parametrize("registry, url", [
    ("\n  registry_type: sql\n  path: postgresql://feast@db:5432/feast\n", "postgresql://feast@db:5432/feast"),
    ("postgresql+psycopg://feast@db:5432/feast", "postgresql+psycopg://feast@db:5432/feast"),
    ("sqlite:///data/registry.sqlite", "sqlite:///data/registry.sqlite"),
    ("\n  registry_type: sql\n  path: postgresql://feast:${FEATURESTORE_TEST_PG_PASSWORD}@db/feast\n",
     "postgresql://feast:s3cret@db/feast"),
])
def test_sql_registries_are_accepted(tmp_path, monkeypatch, registry, url):
    monkeypatch.setenv("FEATURESTORE_TEST_PG_PASSWORD", "s3cret")
    config = load_config(write(tmp_path, f"project: demo\nregistry: {registry}\n"))
    assert (config.registry_type, config.registry) == ("sql", url)


def test_feast_style_local_registry_mapping(tmp_path):
    config = load_config(write(tmp_path, "project: demo\nregistry:\n  registry_type: file\n  path: reg/r.db\n"
                                         "  cache_ttl_seconds: 60\n"))
    assert config.registry_path == tmp_path / "reg" / "r.db"
    assert load_config(write(tmp_path, "project: demo\nregistry: /abs/registry.db\n")).registry_path == \
        Path("/abs/registry.db")


def test_a_file_that_is_not_utf8_names_the_line(tmp_path):
    (tmp_path / "feature_store.yaml").write_bytes(b"project: demo\nregistry: d\xe9.db\n")
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path)
    assert str(error.value) == f"{tmp_path}/feature_store.yaml:2: not UTF-8 text (byte 0xe9); save the file as UTF-8"


@pytest.mark.parametrize("text", [
    "provider: local\n", "entity_key_serialization_version: 3\n",
    "auth:\n  type: no_auth\n"])
def test_feast_top_level_keys_load_with_the_values_that_mean_what_featurestore_does(tmp_path, text):
    assert load_config(write(tmp_path, "project: demo\n" + text)).project == "demo"


@pytest.mark.parametrize("text, message", [
    ("provider: gcp\n", "feature_store.yaml:2: 'provider' is 'gcp'; featurestore accepts 'local'"),
    ("entity_key_serialization_version: 2\n", "'entity_key_serialization_version' is 2; featurestore accepts 3 "
                                                "(Feast's setting for what featurestore does: Feast's version-3 entity "
                                                "keys in the online store)"),
    ("auth:\n  type: oidc\n", "'auth' is {'type': 'oidc'}; featurestore accepts {'type': 'no_auth'}"),
])
def test_feast_top_level_keys_asking_for_something_else_are_refused_in_one_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, "project: demo\n" + text))
    assert message in str(error.value) and "remove the line" in str(error.value)


def test_the_serve_section_sets_the_feature_servers_defaults(tmp_path):
    from featurestore.config import ServeConfig

    assert load_config(write(tmp_path, "project: demo\n")).serve == ServeConfig()
    config = load_config(write(tmp_path, "project: demo\nserve:\n  workers: 2\n  api_key_env: FEATURE_KEY\n"
                                         "  port: 0\n  max_rows: 100\n"))
    assert config.serve == ServeConfig(workers=2, api_key_env="FEATURE_KEY", port=0, max_rows=100)


@pytest.mark.parametrize("text, message", [
    ("serve:\n  workers: 0\n", "feature_store.yaml:3: 'serve.workers' must be between 1 and 256, got 0"),
    ("serve:\n  api_key: s3cret\n", "feature_store.yaml:3: unknown setting 'serve.api_key'. Did you mean "
                                    "'api_key_env'?"),
    ("serve:\n  port: 70000\n", "feature_store.yaml:3: 'serve.port' must be between 0 and 65535, got 70000"),
    ("serve: 8080\n", "feature_store.yaml:2: 'serve' must be a mapping of settings, got 8080"),
])
def test_serve_section_mistakes_name_the_key_and_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, "project: demo\n" + text))
    assert str(error.value).startswith(f"{tmp_path}/{message}")


def test_feast_online_and_offline_spellings(tmp_path):
    """Feast's `offline_store: file` is the Spark store reading the same files; Redis's
    `connection_string` and `redis_type: redis` are its host, port, ssl and db."""
    write(tmp_path, "project: p\noffline_store:\n    type: file\nonline_store:\n    type: redis\n    redis_type: redis\n"
                    "    connection_string: \"redis.internal:6380,ssl=true,db=3\"\n")
    config = load_config(tmp_path)
    assert config.offline_store.type == "spark"
    assert config.online_store == RedisOnlineStoreConfig(host="redis.internal", port=6380, ssl=True, db=3)
    write(tmp_path, "project: p\noffline_store: file\n")
    assert load_config(tmp_path).offline_store.type == "spark"


@pytest.mark.parametrize("setting, message", [
    ("connection_string: \"localhost:6379,password=hunter2\"",
     "feature_store.yaml:5: the connection string holds a password; remove it and set password_env: REDIS_PASSWORD"),
    ("connection_string: localhost", "'online_store.connection_string' 'localhost' must start with host:port"),
    ("connection_string: \"localhost:6379,retries=3\"", "connection string option 'retries=3' is not understood"),
    ("redis_type: redis_cluster", "'online_store.redis_type' is 'redis_cluster'; featurestore talks to one Redis"),
    ("connection_string: \"h:1\"\n    port: 2", "'online_store.port' is given twice, by itself and in connection_string"),
])
def test_feast_redis_settings_that_cannot_be_honoured_are_refused(tmp_path, setting, message):
    write(tmp_path, f"project: p\nregistry: data/registry.db\nonline_store:\n    type: redis\n    {setting}\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(tmp_path)


def test_a_yaml_alias_bomb_is_refused_in_one_line(tmp_path):
    """840 bytes of nested anchors stand for 9^9 values: refused before anything walks them."""
    lines = ['project: p', 'a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"feature_store.yaml: expands to more than 100,000 values \(YAML aliases"):
        load_config(tmp_path)


def test_a_project_name_with_a_trailing_newline_is_no_name(tmp_path):
    write(tmp_path, 'project: "stats\\n"\n')
    with pytest.raises(ConfigError, match=r"'project' must be a plain identifier"):
        load_config(tmp_path)
