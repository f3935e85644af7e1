"""feature_store.yaml: defaults, typed sections, and errors with the key's path and line."""
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
