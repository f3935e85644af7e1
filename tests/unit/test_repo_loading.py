"""Loading a feature repo's .py files: collected definitions, isolation, errors with file and line."""
import sys

import pytest

from featurestore.errors import DefinitionError, RepoError
from featurestore.repo import load_repo, repo_python_files

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


def test_the_repos_own_modules_leave_no_trace(repo_factory):
    repo = repo_factory(DEFINITIONS)
    (repo / "helpers.py").write_text("VALUE = 1\n")
    (repo / "features2.py").write_text("from helpers import VALUE\n")
    modules, path = set(sys.modules), list(sys.path)
    load_repo(repo)
    assert set(sys.modules) == modules and sys.path == path


def test_libraries_a_repo_imports_stay_imported(repo_factory, tmp_path):
    """numpy refuses to be imported twice in one process, so a library the repo imported is
    never removed (apply and plan failed with "cannot load module more than once")."""
    library = tmp_path / "site"
    (library / "team_lib").mkdir(parents=True)
    (library / "team_lib" / "__init__.py").write_text("LOADS = []\nLOADS.append(1)\n")
    sys.path.append(str(library))
    try:
        repo = repo_factory(DEFINITIONS + "\nimport team_lib\n")
        load_repo(repo)
        import team_lib
        load_repo(repo)
        assert team_lib.LOADS == [1] and sys.modules["team_lib"] is team_lib
    finally:
        sys.path.remove(str(library))
        sys.modules.pop("team_lib", None)


def test_siblings_subpackages_dataclasses_and_main_blocks_load_as_in_plain_python(repo_factory):
    repo = repo_factory(DEFINITIONS.replace('join_keys=["driver_id"]', 'join_keys=[KEY]').replace(
        "from featurestore import", "from helpers import KEY\nfrom team.settings import Settings\n"
                                    "from featurestore import") + "\nSETTINGS = Settings(ttl_hours=1)\n"
                                    "if __name__ == '__main__':\n    raise SystemExit('script code ran')\n")
    (repo / "helpers.py").write_text("KEY = 'driver_id'\n")
    (repo / "team").mkdir()
    (repo / "team" / "__init__.py").write_text("")
    (repo / "team" / "settings.py").write_text(
        "from __future__ import annotations\nfrom dataclasses import dataclass\nfrom .units import HOUR\n\n\n"
        "@dataclass\nclass Settings:\n    ttl_hours: int = HOUR\n")
    (repo / "team" / "units.py").write_text("HOUR = 1\n")
    contents = load_repo(repo)
    assert contents.entities["driver"].join_keys == ["driver_id"]


def test_a_repo_module_shadows_a_same_named_module_only_while_it_loads(repo_factory):
    """A notebook's own `features` module is back in place after the repo's `features` loaded."""
    import types

    mine = types.ModuleType("features")
    sys.modules["features"] = mine
    try:
        repo = repo_factory(DEFINITIONS)
        assert list(load_repo(repo).feature_views) == ["stats"]
        assert sys.modules["features"] is mine
    finally:
        sys.modules.pop("features", None)


def test_files_outside_python_names_load_under_a_private_name(repo_factory):
    repo = repo_factory(None)
    (repo / "my-defs").mkdir()
    (repo / "my-defs" / "views.py").write_text(DEFINITIONS)
    modules = set(sys.modules)
    assert list(load_repo(repo).feature_views) == ["stats"]
    assert set(sys.modules) == modules


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


RAISES = "raise RuntimeError('this file must not run')\n"


def test_ignore_file_keeps_a_script_from_running(repo_factory):
    repo = repo_factory(DEFINITIONS)
    (repo / "train_model.py").write_text(RAISES)
    with pytest.raises(RepoError, match=r"train_model.py:1: RuntimeError: this file must not run"):
        load_repo(repo)
    (repo / ".featurestoreignore").write_text("# scripts that are not definitions\ntrain_model.py  # trains\n")
    assert list(load_repo(repo).feature_views) == ["stats"]


def test_feast_ignore_patterns_files_folders_and_globs(repo_factory):
    repo = repo_factory(DEFINITIONS)
    for relative in ("scripts/a.py", "scripts/deep/b.py", "notebooks/x/test_one.py", "tools/run.py", "top_level.py",
                     "keep/ok.py"):
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / relative).write_text(RAISES if relative != "keep/ok.py" else "VALUE = 1\n")
    (repo / ".feastignore").write_text("scripts\n**/test_*.py\n\n   # a comment line\n/top_level.py\n")
    (repo / ".featurestoreignore").write_text("tools/\n")
    assert repo_python_files(repo) == [repo / "features.py", repo / "keep" / "ok.py"]
    assert list(load_repo(repo).feature_views) == ["stats"]


def test_virtualenv_folders_are_skipped_whatever_their_name(repo_factory):
    repo = repo_factory(DEFINITIONS)
    venv = repo / "myenv"
    (venv / "lib" / "site-packages" / "pkg").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "lib" / "site-packages" / "pkg" / "mod.py").write_text(RAISES)
    (venv / "activate_this.py").write_text(RAISES)
    (repo / "venv").mkdir()
    (repo / "venv" / "x.py").write_text(RAISES)
    (repo / "sub" / "data").mkdir(parents=True)
    (repo / "sub" / "data" / "gen.py").write_text(RAISES)
    assert repo_python_files(repo) == [repo / "features.py"]


def test_a_bad_ignore_pattern_names_the_file_and_line(repo_factory):
    repo = repo_factory(DEFINITIONS)
    (repo / ".featurestoreignore").write_text("ok.py\n**foo\n")
    with pytest.raises(RepoError, match=r"\.featurestoreignore:2: pattern '\*\*foo' is not a usable glob .*; write a "
                                        r"path relative to the repo root"):
        load_repo(repo)


def test_symlinks_out_of_the_repo_do_not_run(repo_factory, tmp_path):
    repo = repo_factory(DEFINITIONS)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.py").write_text(RAISES)
    (repo / "linked.py").symlink_to(outside / "evil.py")
    (repo / "linked_folder").symlink_to(outside, target_is_directory=True)
    (repo / "alias.py").symlink_to(repo / "features.py")
    assert repo_python_files(repo) == [repo / "alias.py", repo / "features.py"]
    assert list(load_repo(repo).feature_views) == ["stats"]


def test_an_ignore_file_that_is_not_utf8_is_named(repo_factory):
    repo = repo_factory(DEFINITIONS)
    (repo / ".feastignore").write_bytes(b"train\xff.py\n")
    with pytest.raises(RepoError, match=r"\.feastignore: not UTF-8 text \(byte 0xff at offset 5\); save it as UTF-8"):
        load_repo(repo)


@pytest.mark.parametrize("ending", ["import sys\nsys.exit(0)\n", "import sys\nsys.exit()\n", "import sys\nsys.exit(3)\n",
                                    "exit()\n", "raise SystemExit('done')\n", "quit(0)\n"])
def test_a_file_that_ends_the_interpreter_is_an_error_never_a_silent_success(repo_factory, ending):
    """Every way a file can stop its own import, whatever the exit code, is a one-line error
    naming the file and line (`featurestore apply` exited 0 with nothing applied before)."""
    repo = repo_factory(DEFINITIONS + "\n" + ending)
    with pytest.raises(RepoError) as error:
        load_repo(repo)
    message = str(error.value)
    line = DEFINITIONS.count("\n") + 1 + ending.count("\n")
    assert message.startswith(f"{repo / 'features.py'}:{line}: the file ended the interpreter while being imported")
    assert "must not call sys.exit()" in message and "\n" not in message




def test_any_base_exception_from_a_file_is_named(repo_factory):
    repo = repo_factory("class Stop(BaseException):\n    pass\n\nraise Stop('halt')\n")
    with pytest.raises(RepoError, match=r"features.py:4: Stop: halt"):
        load_repo(repo)


def test_apply_exits_1_when_a_file_calls_sys_exit_0(repo_factory):
    import subprocess

    repo = repo_factory(DEFINITIONS + "\nimport sys\nsys.exit(0)\n")
    result = subprocess.run([sys.executable, "-m", "featurestore.cli", "--repo", str(repo), "apply"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert "the file ended the interpreter while being imported (SystemExit(0))" in result.stderr
    assert not (repo / "data" / "registry.db").exists()


def test_feasts_module_path_does_not_replace_the_decorator_of_the_same_name():
    """A repo importing `featurestore.on_demand_feature_view` (Feast's 0.67 template does) made
    every later `from featurestore import on_demand_feature_view` give the module, so the init
    template failed with "'module' object is not callable" in the same process."""
    import subprocess

    code = ("from featurestore.on_demand_feature_view import on_demand_feature_view as a\n"
            "import featurestore.on_demand_feature_view\n"
            "from featurestore import on_demand_feature_view as b\n"
            "print(callable(a), callable(b), a is b)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout == "True True True\n", result.stderr
