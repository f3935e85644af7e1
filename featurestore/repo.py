"""Loading a feature repo's definitions from its .py files, as `feast apply` does.

Every .py file inside the repo folder (not in data/, hidden or virtualenv folders) is
imported, and its module-level Entity, DataSource, FeatureView and FeatureService objects
are collected. Imports are isolated: sys.path and sys.modules are restored afterwards, so
the same process can load another repo (or the same one, changed) without leftovers.
"""
from __future__ import annotations

import importlib.util
import sys
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from featurestore.definitions import DataSource, Entity, FeatureService, FeatureView
from featurestore.errors import FeatureStoreError, RepoError
from featurestore.registry import SINGULAR

SKIPPED_DIRS = {"data", "__pycache__", ".venv", "venv", "node_modules", ".git", ".ipynb_checkpoints"}
KINDS = (("entities", Entity), ("data_sources", DataSource), ("feature_views", FeatureView),
         ("feature_services", FeatureService))


@dataclass
class RepoContents:
    """The definitions found in a repo, by kind and name, with the file each came from."""
    entities: dict[str, Entity] = field(default_factory=dict)
    data_sources: dict[str, DataSource] = field(default_factory=dict)
    feature_views: dict[str, FeatureView] = field(default_factory=dict)
    feature_services: dict[str, FeatureService] = field(default_factory=dict)
    origin: dict[tuple[str, str], Path] = field(default_factory=dict)

    def add(self, obj, file: Path) -> None:
        for kind, cls in KINDS:
            if isinstance(obj, cls):
                items = getattr(self, kind)
                existing = items.get(obj.name)
                if existing is not None and existing is not obj and existing != obj:
                    label = SINGULAR[kind]
                    raise RepoError(f"{file}: duplicate {label} name {obj.name!r}, also defined differently "
                                    f"in {self.origin[(kind, obj.name)]}; rename one of them")
                items[obj.name] = obj
                self.origin.setdefault((kind, obj.name), file)
                return

    def add_implicit_sources(self) -> None:
        """A view's source counts as defined even when it is not a module-level name."""
        for view in self.feature_views.values():
            self.add(view.source, self.origin[("feature_views", view.name)])

    def objects(self) -> list:
        return [obj for kind, _ in KINDS for obj in getattr(self, kind).values()]


def repo_python_files(repo_path: Path) -> list[Path]:
    """The .py files of a repo, in a stable order, never outside the repo folder."""
    repo_path = repo_path.resolve()
    files = []
    for file in sorted(repo_path.rglob("*.py")):
        relative = file.relative_to(repo_path)
        if any(part in SKIPPED_DIRS or part.startswith(".") for part in relative.parts[:-1]):
            continue
        if file.is_symlink() and repo_path not in file.resolve().parents:
            continue  # only code inside the repo folder runs
        files.append(file)
    return files


def load_repo(repo_path: str | Path) -> RepoContents:
    """Import the repo's .py files in isolation and collect their definitions."""
    repo_path = Path(repo_path).resolve()
    contents = RepoContents()
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    sys.path.insert(0, str(repo_path))
    try:
        for file in repo_python_files(repo_path):
            module = _import_file(file, repo_path)
            for value in list(vars(module).values()):
                contents.add(value, file)
        contents.add_implicit_sources()
    finally:
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            del sys.modules[name]
    return contents


def _import_file(file: Path, repo_path: Path):
    name = f"_featurestore_repo_{uuid.uuid4().hex}_{file.stem}"
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        where = f"{file}{_line_in(file, error)}"
        if isinstance(error, FeatureStoreError):  # keep the type callers catch, add the place
            raise type(error)(f"{where}: {error}") from None
        raise RepoError(f"{where}: {type(error).__name__}: {error}") from error
    return module


def _line_in(file: Path, error: BaseException) -> str:
    """':LINE' of the deepest frame of the traceback that lies in `file`."""
    if isinstance(error, SyntaxError) and error.lineno:
        return f":{error.lineno}"
    line = ""
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename) == file:
            line = f":{frame.lineno}"
    return line
