"""Importing a feature repo's own modules without disturbing anything else the process imported.

A repo's files are imported under the names Python itself would give them when run from
the repo folder (`features.py` -> `features`, `pkg/helpers.py` -> `pkg.helpers`), so
sibling imports (`from helpers import x`), subpackages with relative imports and
dataclasses (which look their module up in sys.modules) work as in plain Python, and
each file is one module object however often it is imported. A file whose path is not
a dotted name (`my-defs/x.py`) gets a unique private name instead.

While a repo is imported, its top-level names shadow any module of the same name the
process had already (a notebook's own `features`); afterwards:

    sys.modules before   numpy, pandas, features (the notebook's)
    during the import    numpy, pandas, features (the repo's), helpers, pyarrow (new)
    after                numpy, pandas, features (the notebook's), pyarrow

Only modules loaded from the repo folder are removed, so the next load sees edited files
and Spark's cloudpickle sends repo functions by value (executors need not have the repo
on their path). Everything else stays imported, as Python leaves it: removing numpy,
pandas or pyarrow and importing them again breaks them ("cannot load module more than
once per process").
"""
from __future__ import annotations

import importlib
import importlib.util
import keyword
import sys
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

PRIVATE_PREFIX = "_featurestore_repo_"
_lock = threading.RLock()  # sys.path and sys.modules are process-wide


@contextmanager
def repo_imports(repo_path: Path):
    """Within the block, the repo's modules import as from the repo folder; after it, they are gone."""
    repo_path = Path(repo_path).resolve()
    with _lock:
        saved_path = list(sys.path)
        shadowed = _pop_modules(_top_level_names(repo_path))
        before = set(sys.modules)
        sys.path.insert(0, str(repo_path))
        try:
            yield
        finally:
            sys.path[:] = saved_path
            for name in set(sys.modules) - before:
                if name.startswith(PRIVATE_PREFIX) or _loaded_from(sys.modules[name], repo_path):
                    del sys.modules[name]
            _pop_modules({name.split(".")[0] for name in shadowed})  # a repo module that left no file trace
            sys.modules.update(shadowed)


def import_file(file: Path, repo_path: Path):
    """Import one file of the repo (inside `repo_imports`) and return its module."""
    name = module_name(file, Path(repo_path).resolve())
    if name is not None:
        return importlib.import_module(name)
    name = f"{PRIVATE_PREFIX}{uuid.uuid4().hex}_{file.stem}"
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look a class's module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def module_name(file: Path, repo_path: Path) -> str | None:
    """The dotted name Python gives `file` when the repo folder is on sys.path, or None if it has none."""
    parts = list(Path(file).resolve().relative_to(repo_path).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(part.isidentifier() and not keyword.iskeyword(part) for part in parts):
        return None
    return ".".join(parts)


def _top_level_names(repo_path: Path) -> set[str]:
    """The names the repo folder provides as top-level modules or packages."""
    names = set()
    for entry in repo_path.iterdir():
        if entry.is_file() and entry.suffix == ".py":
            name = entry.stem
        elif entry.is_dir() and any(entry.glob("*.py")):
            name = entry.name
        else:
            continue
        if name.isidentifier() and not keyword.iskeyword(name):
            names.add(name)
    return names


def _pop_modules(top_level: set[str]) -> dict:
    """Remove (and return) the modules named by `top_level` and their submodules."""
    popped = {name: module for name, module in sys.modules.items() if name.split(".")[0] in top_level}
    for name in popped:
        del sys.modules[name]
    return popped


def _loaded_from(module, repo_path: Path) -> bool:
    """Whether a module's file (or, for a namespace package, one of its folders) lies in the repo."""
    spec = getattr(module, "__spec__", None)
    locations = [getattr(module, "__file__", None)]
    if spec is not None and spec.submodule_search_locations:
        locations += list(spec.submodule_search_locations)
    for location in locations:
        if location and (Path(location).resolve() == repo_path or repo_path in Path(location).resolve().parents):
            return True
    return False
