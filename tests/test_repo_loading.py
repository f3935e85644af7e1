"""Loading a feature repo's .py files: collected definitions, isolation, errors with file and line."""
import sys

import pytest

from featurestore.errors import DefinitionError, RepoError
from featurestore.repo import load_repo

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, FeatureService, FeatureView, Field, SparkSource
from featurestore.types import Float32, Int64
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(name="stats", entities=[driver], ttl=timedelta(hours=1),
    schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float32)],
    source=SparkSource(name="src", table="t", timestamp_field="ts"))
svc = FeatureService(name="svc", features=[stats])
"""


def test_collects_module_level_definitions_and_implicit_sources(repo_factory):
    repo = repo_factory(DEFINITIONS)
    contents = load_repo(repo)
    assert list(contents.entities) == ["driver"] and list(contents.feature_views) == ["stats"]
    assert list(contents.data_sources) == ["src"] and list(contents.feature_services) == ["svc"]
    assert contents.origin[("feature_views", "stats")] == repo / "features.py"


def test_imports_leave_no_trace(repo_factory):
    repo = repo_factory(DEFINITIONS)
    (repo / "helpers.py").write_text("VALUE = 1\n")
    (repo / "features2.py").write_text("from helpers import VALUE\n")
    modules, path = set(sys.modules), list(sys.path)
    load_repo(repo)
    assert set(sys.modules) == modules and sys.path == path


def test_skips_data_hidden_and_venv_folders(repo_factory):
    repo = repo_factory(DEFINITIONS)
    for folder in ("data", ".hidden", ".venv"):
        (repo / folder).mkdir(exist_ok=True)
        (repo / folder / "bad.py").write_text("raise RuntimeError('must not run')\n")
    assert list(load_repo(repo).feature_views) == ["stats"]


def test_duplicate_names_name_both_files(repo_factory):
    repo = repo_factory(DEFINITIONS)
    (repo / "more.py").write_text("from featurestore import Entity\ndriver = Entity(name='driver', join_keys=['other'])\n")
    with pytest.raises(RepoError, match=r"more.py: duplicate entity name 'driver', also defined differently in .*features.py"):
        load_repo(repo)


def test_errors_in_a_file_give_its_line(repo_factory):
    repo = repo_factory("from featurestore import Entity\n\nx = Entity(name='bad name')\n")
    with pytest.raises(DefinitionError, match=r"features.py:3: Entity name 'bad name' is not a plain identifier"):
        load_repo(repo)
    (repo / "features.py").write_text("import nonexistent_module_xyz\n")
    with pytest.raises(RepoError, match=r"features.py:1: ModuleNotFoundError"):
        load_repo(repo)
    (repo / "features.py").write_text("x = (\n")
    with pytest.raises(RepoError, match=r"features.py:1: SyntaxError"):
        load_repo(repo)
