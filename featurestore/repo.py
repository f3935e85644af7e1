"""Loading a feature repo's definitions from its .py files, as `feast apply` does.

Every .py file inside the repo folder is imported, and its module-level definitions
(Entity, DataSource, FeatureView, ...: every kind of featurestore.definitions.kinds) are
collected (a transformation's or udf's file is recorded relative to the repo), except:

- files in `data/`, in hidden folders (`.git`, `.venv`, ...), in `__pycache__`,
  `node_modules`, `venv`, `site-packages` and in any folder holding a `pyvenv.cfg`
  (a virtualenv, whatever its name); symlinked folders are not followed and symlinked
  files only when they point inside the repo;
- files matched by `.featurestoreignore` or `.feastignore` in the repo root (both are
  read, with Feast's semantics): one glob pattern per line, relative to the repo root
  (`train_model.py`, `scripts/*.py`, `**/test_*.py`); `#` starts a comment; a pattern
  that matches a folder ignores everything under it.

Files are imported under their Python module names (`features`, `pkg.helpers`), so
sibling modules, subpackages and dataclasses work as in plain Python; afterwards the
repo's own modules are forgotten, so the same process can load another repo (or the same
one, changed), while libraries the repo imported (numpy, pandas) stay imported
(featurestore.repo_modules says why that matters).
"""
from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from featurestore.definitions.kinds import KINDS, kind_of, one_dict_per_kind
from featurestore.definitions.project import Project
from featurestore.errors import FeatureStoreError, RepoError
from featurestore.repo_modules import import_file, repo_imports

SKIPPED_DIRS = {"data", "__pycache__", ".venv", "venv", "node_modules", ".git", ".ipynb_checkpoints", "site-packages"}
IGNORE_FILES = (".featurestoreignore", ".feastignore")


@dataclass
@one_dict_per_kind
class RepoContents:
    """The definitions found in a repo: one dict per kind, name -> definition, named by the
    kind's field (`entities`, `feature_views`, ...), and the file each came from, by
    (field, name)."""
    origin: dict[tuple[str, str], Path] = field(default_factory=dict)
    projects: list[tuple[Project, Path]] = field(default_factory=list)  # Feast's Project objects, checked by apply

    def add(self, obj, file: Path) -> None:
        """Collect `obj` if it is a definition (anything else is ignored)."""
        if isinstance(obj, Project):
            self.projects.append((obj, file))
            return
        kind = kind_of(obj)
        if kind is None:
            return
        items = getattr(self, kind.field)
        existing = items.get(obj.name)
        if existing is not None and existing is not obj and existing != obj:
            raise RepoError(f"{file}: duplicate {kind.singular} name {obj.name!r}, also defined differently "
                            f"in {self.origin[(kind.field, obj.name)]}; rename one of them")
        items[obj.name] = obj
        self.origin.setdefault((kind.field, obj.name), file)

    def add_implicit_sources(self) -> None:
        """A view's source counts as defined even when it is not a module-level name."""
        for view in self.feature_views.values():
            self.add(view.source, self.origin[("feature_views", view.name)])

    def bind_code(self, repo_path) -> None:
        """Record every transformation's and udf's file relative to the repo (refused outside it)."""
        for kind in KINDS:
            if kind.code:
                for view in getattr(self, kind.field).values():
                    view.bind_code(repo_path)

    def objects(self) -> list:
        return [obj for kind in KINDS for obj in getattr(self, kind.field).values()]


def repo_python_files(repo_path: Path) -> list[Path]:
    """The .py files of a repo that load_repo runs, in a stable order, never outside the repo folder."""
    repo_path = repo_path.resolve()
    ignored_files, ignored_dirs = ignored_paths(repo_path)
    files = []
    for folder, dirs, names in os.walk(repo_path):  # symlinked folders are not followed
        here = Path(folder)
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".")
                   and here / d not in ignored_dirs and not (here / d / "pyvenv.cfg").exists()]
        for name in names:
            file = here / name
            if not name.endswith(".py") or file in ignored_files:
                continue
            if file.is_symlink() and repo_path not in file.resolve().parents:
                continue  # only code inside the repo folder runs
            files.append(file)
    return sorted(files)


def ignore_patterns(repo_path: Path) -> list[tuple[Path, int, str]]:
    """(ignore file, line number, pattern) for each pattern of the repo's ignore files."""
    patterns = []
    for name in IGNORE_FILES:
        file = repo_path / name
        if not file.is_file():
            continue
        try:
            text = file.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise RepoError(f"{file}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
                            f"{error.start}); save it as UTF-8") from None
        for number, line in enumerate(text.splitlines(), start=1):
            pattern = line.split("#", 1)[0].strip()
            if pattern:
                patterns.append((file, number, pattern))
    return patterns


def ignored_paths(repo_path: Path) -> tuple[set[Path], set[Path]]:
    """The files and the folders (everything under them) the ignore files exclude."""
    files: set[Path] = set()
    folders: set[Path] = set()
    for file, number, pattern in ignore_patterns(repo_path):
        relative = pattern.strip("/")  # patterns are relative to the root, with or without a leading '/'
        try:
            matches = list(repo_path.glob(relative))
        except (ValueError, NotImplementedError) as error:
            raise RepoError(f"{file}:{number}: pattern {pattern!r} is not a usable glob ({error}); write a path "
                            f"relative to the repo root such as train_model.py, scripts/*.py or "
                            f"**/test_*.py") from None
        for match in matches:
            (folders if match.is_dir() and not match.is_symlink() else files).add(match)
    return files, folders


def load_repo(repo_path: str | Path) -> RepoContents:
    """Import the repo's .py files in isolation and collect their definitions."""
    repo_path = Path(repo_path).resolve()
    contents = RepoContents()
    with repo_imports(repo_path):
        for file in repo_python_files(repo_path):
            module = _import_file(file, repo_path)
            for value in list(vars(module).values()):
                contents.add(value, file)
        contents.add_implicit_sources()
        contents.bind_code(repo_path)
    return contents


def _import_file(file: Path, repo_path: Path):
    try:
        module = import_file(file, repo_path)
    except KeyboardInterrupt:  # the user's Ctrl-C, not the file's failure
        raise
    except SystemExit as exit_:  # sys.exit() or exit() in a definitions file: never a silent success
        raise RepoError(f"{file}{_line_in(file, exit_)}: the file ended the interpreter while being imported "
                        f"(SystemExit({exit_.code!r})); definitions files must not call sys.exit() or exit(): put "
                        f"script code under `if __name__ == \"__main__\":` or list the file in "
                        f".featurestoreignore") from None
    except BaseException as error:
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
