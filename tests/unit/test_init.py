"""`featurestore init`: refuses what it must, reports each step, and leaves nothing behind when it fails.

The failure tests use real failures of the sample-data step, which needs no JVM: a path
longer than the file system allows, a file where the warehouse folder goes. The JVM start
in a folder whose path holds a space is exercised by the slow wheel test in
tests/spark/test_packaging.py (its work folder is "my work").
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from featurestore.config import load_config
from featurestore.errors import RepoError
from featurestore.runtime.session import session_conf
from featurestore.scaffold import init_repo

CHECKOUT = Path(__file__).resolve().parent.parent.parent


def cli(cwd, *argv, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FEATURESTORE_")}
    environment.update(PYTHONPATH=str(CHECKOUT), **env)
    return subprocess.run([sys.executable, "-m", "featurestore.cli", *argv], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", ["", "."])
def test_init_refuses_to_turn_the_current_folder_into_a_repo(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RepoError) as error:
        init_repo(name, with_data=False, log=lambda line: None)
    assert str(error.value) == (f"featurestore init needs the name of a new folder, got {name!r}; e.g. "
                                f"`featurestore init my_repo` (it will not turn an existing folder such as the "
                                f"current one into a repo)")
    assert list(tmp_path.iterdir()) == []


def test_cli_init_with_an_empty_name_is_one_line_and_writes_nothing(tmp_path):
    result = cli(tmp_path, "init", "--no-data", "")
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["Error: featurestore init needs the name of a new folder, got '.'; e.g. "
                                          "`featurestore init my_repo` (it will not turn an existing folder such as "
                                          "the current one into a repo)"]
    assert list(tmp_path.iterdir()) == []


def test_init_reports_each_step(tmp_path):
    lines = []
    repo = init_repo(tmp_path / "quiet_repo", with_data=False, log=lines.append)
    assert lines == [f"Creating {repo}: feature_store.yaml, features.py, data/"]
    assert sorted(p.name for p in repo.iterdir()) == ["data", "feature_store.yaml", "features.py"]


def deep_folder(tmp_path: Path, room: int) -> Path:
    """A folder whose absolute path leaves `room` characters below the system's limit (PATH_MAX):
    init can write feature_store.yaml and features.py there, but not its Delta tables' files."""
    limit = os.pathconf(tmp_path, "PC_PATH_MAX") - 1
    folder = tmp_path
    while len(str(folder)) + 201 < limit - room:
        folder = folder / ("d" * 200)
    folder = folder / ("e" * (limit - room - len(str(folder)) - 1))
    folder.mkdir(parents=True)
    return folder


def test_failed_init_removes_the_folder_it_created_so_init_can_run_again(tmp_path):
    """A real failure of the sample-data step: the Delta log's path is longer than the file
    system allows (ENAMETOOLONG), while the repo's own files fit."""
    parent = deep_folder(tmp_path, room=50)
    result = cli(parent, "init", "r")
    repo = parent / "r"
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"Creating {repo}: feature_store.yaml, features.py, data/",
                                          "Writing sample Delta tables driver_hourly_stats, trip_events and "
                                          "driver_entities (without Spark)",
                                          f"init failed; removed what it created in {repo}"]
    [error] = result.stderr.splitlines()
    assert error.startswith(f"Error: init could not write its sample tables under {repo}/data/spark-warehouse: "
                            f"OSError: Kernel error -> Generic LocalFileSystem error: ")
    assert error.endswith("File name too long (os error 36); fix the folder (a shorter path, free space, a folder "
                          "where a file is), or run `featurestore init --no-data NAME`")
    assert not repo.exists()

    again = cli(parent, "init", "--no-data", "r")
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in repo.iterdir()) == ["data", "feature_store.yaml", "features.py"]


def test_failed_init_in_an_existing_folder_removes_only_its_own_files(tmp_path):
    repo = tmp_path / "existing"
    (repo / "data").mkdir(parents=True)
    (repo / "notes.txt").write_text("mine")
    (repo / "data" / "spark-warehouse").write_text("a file where init puts its tables' folder")
    result = cli(tmp_path, "init", "existing")
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert sorted(p.name for p in repo.iterdir()) == ["data", "notes.txt"]
    assert (repo / "notes.txt").read_text() == "mine"
    assert [p.name for p in (repo / "data").iterdir()] == ["spark-warehouse"]


def test_paths_with_spaces_reach_the_jvm_quoted(tmp_path, monkeypatch):
    monkeypatch.delenv("FEATURESTORE_METASTORE_URL", raising=False)
    monkeypatch.setenv("FEATURESTORE_METASTORE", "embedded")
    repo = init_repo(tmp_path / "my work" / "spaced", with_data=False, log=lambda line: None)
    conf = session_conf(load_config(repo))
    assert conf["spark.driver.extraJavaOptions"] == (
        f'-Duser.timezone=UTC "-Dderby.system.home={repo}/data" '
        f"-Dlog4j.configurationFile={CHECKOUT}/spark_conf/log4j2.properties")
    assert conf["spark.hadoop.javax.jdo.option.ConnectionURL"] == \
        f"jdbc:derby:;databaseName={repo}/data/metastore_db;create=true"


def test_the_notebooks_repo_does_not_depend_on_the_current_folder(tmp_path, monkeypatch):
    from featurestore.scaffold.walkthrough import notebook_repo

    home, chosen = tmp_path / "home", tmp_path / "chosen"
    for repo in (chosen, home / "featurestore_notebooks" / "driver_repo"):
        repo.mkdir(parents=True)
        (repo / "feature_store.yaml").write_text("project: driver_repo\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEATURESTORE_REPO", str(chosen))
    assert notebook_repo() == chosen
    monkeypatch.delenv("FEATURESTORE_REPO")
    assert notebook_repo() == home / "featurestore_notebooks" / "driver_repo"
