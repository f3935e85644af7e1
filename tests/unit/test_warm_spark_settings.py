"""Which processes use the warm Spark, and which server a repo's settings name (no JVM here;
tests/spark/test_warm_spark.py starts real ones)."""
import pytest

from featurestore.config import load_config
from featurestore.errors import ConfigError
from featurestore.runtime import warm_spark
from featurestore.testing.repos import offline_store, write_repo


@pytest.mark.parametrize("mode, from_cli, metastore, used", [
    ("cli", True, "shared", True), ("cli", False, "shared", False), ("always", False, "shared", True),
    ("off", True, "shared", False), ("cli", True, "embedded", False),
])
def test_who_uses_it(tmp_path, monkeypatch, mode, from_cli, metastore, used):
    monkeypatch.delenv(warm_spark.MODE_ENV, raising=False)
    config = load_config(write_repo(tmp_path / "repo", offline=offline_store(warm_spark=mode, metastore=metastore)))
    assert warm_spark.wanted(config, from_cli) is used


def test_the_environment_wins_over_the_yaml(tmp_path, monkeypatch):
    config = load_config(write_repo(tmp_path / "repo", offline=offline_store(warm_spark="always")))
    monkeypatch.setenv(warm_spark.MODE_ENV, "off")
    assert warm_spark.wanted(config, True) is False


def test_a_team_catalog_keeps_it_with_an_embedded_mode_named(tmp_path, monkeypatch):
    monkeypatch.delenv(warm_spark.MODE_ENV, raising=False)
    config = load_config(write_repo(tmp_path / "repo", offline=offline_store(
        metastore="embedded", metastore_url="jdbc:postgresql://db:5432/metastore?user=hive")))
    assert warm_spark.wanted(config, True) is True


def test_a_bad_mode_is_refused_with_its_line(tmp_path):
    repo = write_repo(tmp_path / "repo", offline=offline_store(warm_spark="sometimes"))
    with pytest.raises(ConfigError) as error:
        load_config(repo)
    assert str(error.value) == (f"{repo / 'feature_store.yaml'}:8: 'offline_store.warm_spark' is 'sometimes'; "
                                f"choose 'cli' (the CLI's commands share a running Spark, the default), 'always' (the "
                                f"Python API too) or 'off' (a JVM in each process)")


def test_a_server_is_named_by_the_repo_as_it_is_now(tmp_path, monkeypatch):
    """The same repo and settings name the same server; an edited feature_store.yaml, another
    repo or the repo deleted and made again at the same path name another."""
    import shutil

    monkeypatch.setenv(warm_spark.DIR_ENV, str(tmp_path / "warm"))
    repo = write_repo(tmp_path / "repo")
    first = warm_spark.state_dir(load_config(repo))
    assert warm_spark.state_dir(load_config(repo)) == first
    assert first.parent == tmp_path / "warm"
    other = warm_spark.state_dir(load_config(write_repo(tmp_path / "other")))
    (repo / "feature_store.yaml").write_text((repo / "feature_store.yaml").read_text() + "# edited\n")
    edited = warm_spark.state_dir(load_config(repo))
    shutil.rmtree(repo)
    remade = warm_spark.state_dir(load_config(write_repo(tmp_path / "repo")))
    assert len({first, other, edited, remade}) == 4
