"""Functions of the feature repo that definitions use, and how the registry identifies them.

Batch transformations (`FeatureView(transformation=fn)`) and on-demand functions
(`OnDemandFeatureView(udf=fn)`) are plain module-level functions in the repo's .py files.
The registry never holds executable code: it records a CodeRef, that is the defining file
(relative to the repo), the function's name, its source text (for reading and review) and
the sha256 of that text. Whoever needs the function later (a training set, a
materialization, an online read) imports the file from the repo folder and refuses the
function when its source no longer hashes to the registered value:

    registry: file=features.py name=add_ratio sha256=1a2b...
    repo:     features.py defines add_ratio, getsource() hashes to 1a2b...   -> used
    repo:     add_ratio edited since apply                                   -> ValidationError:
              "... differs from the registered one ...; run `featurestore plan` / `featurestore apply`"

Only the function's own source is hashed: helpers it calls are trusted as the repo has them.
Repo code is trusted exactly as `apply` trusts it when it imports the repo.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import threading
from pathlib import Path

from featurestore.errors import DefinitionError, ValidationError
from featurestore.protos import registry_pb2
from featurestore.repo_modules import import_file, repo_imports

MARK = "__featurestore_transformation__"


def spark_transformation(fn):
    """Mark a function as a batch transformation: `fn(df: pyspark DataFrame) -> DataFrame`.

    The mark is documentation only; any module-level function of the repo can be passed
    as `FeatureView(transformation=fn)`. The function itself is returned unchanged.
    """
    if not callable(fn):
        raise DefinitionError(f"@spark_transformation decorates a function, got {fn!r}")
    setattr(fn, MARK, True)
    return fn


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


class CodeRef:
    """Where a repo function lives and what it was when registered (never the code object)."""

    def __init__(self, *, file: str, name: str, source: str, sha256: str):
        self.file = file
        self.name = name
        self.source = source
        self.sha256 = sha256

    @classmethod
    def of(cls, fn, owner: str, role: str) -> CodeRef:
        """The CodeRef of a live function; `owner` ("FeatureView 'x'") and role name it in errors."""
        if not inspect.isfunction(fn):
            raise DefinitionError(f"{owner}: {role} must be a function defined with `def` in a .py file of the "
                                  f"feature repo, got {fn!r}")
        if fn.__name__ == "<lambda>" or fn.__qualname__ != fn.__name__:
            raise DefinitionError(f"{owner}: {role} {fn.__qualname__} must be a module-level `def` of a .py file "
                                  f"of the feature repo (not a lambda or a nested function), so that it can be "
                                  f"found again by its name")
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            raise DefinitionError(f"{owner}: the source of {role} {fn.__name__} cannot be read (defined "
                                  f"interactively?); define it in a .py file of the feature repo") from None
        return cls(file=os.path.abspath(fn.__code__.co_filename), name=fn.__name__, source=source,
                   sha256=source_hash(source))

    @property
    def qualified_name(self) -> str:
        return f"{self.file}:{self.name}"

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    def bind(self, repo_path, owner: str, role: str) -> None:
        """Make `file` relative to the repo; a function defined outside the repo is refused."""
        if not os.path.isabs(self.file):
            return
        repo = Path(repo_path).resolve()
        file = Path(self.file).resolve()
        if repo not in file.parents:
            raise DefinitionError(f"{owner}: {role} {self.name} is defined in {self.file}, outside the feature repo "
                                  f"{repo}; move it into a .py file of the repo (only repo code is resolved)")
        self.file = file.relative_to(repo).as_posix()

    def to_proto(self) -> registry_pb2.CodeRef:
        return registry_pb2.CodeRef(file=self.file, name=self.name, source=self.source, sha256=self.sha256)

    @classmethod
    def from_proto(cls, proto: registry_pb2.CodeRef) -> CodeRef:
        return cls(file=proto.file, name=proto.name, source=proto.source, sha256=proto.sha256)

    def __eq__(self, other) -> bool:
        return isinstance(other, CodeRef) and self.to_proto() == other.to_proto()

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __repr__(self) -> str:
        return f"CodeRef({self.qualified_name}, sha256={self.short_hash})"


_cache: dict[tuple, tuple] = {}  # (file, size, mtime, name) -> (function, sha256 of its source)
_files: dict[tuple[str, str], str] = {}  # (repo folder, registered file) -> absolute path
_lock = threading.Lock()


def resolve(code: CodeRef, repo_path, owner: str, role: str, unwrap=None):
    """The repo's function for `code`, imported from the repo folder and checked against its hash.

    Imports are cached by the file's identity (path, size, mtime), so a serving process
    imports a file once; an edited file is imported again and checked again. `unwrap`
    turns what the module binds to the name into the function (a decorated on-demand view).
    """
    fix = "run `featurestore plan` to see the change and `featurestore apply` to register it"
    if repo_path is None:
        raise ValidationError(f"{owner}: {role} {code.qualified_name} lives in the feature repo, but no repo folder "
                              f"was given; use FeatureStore(repo_path=...) or pass repo_path")
    where = (str(repo_path), code.file)
    file = _files.get(where)
    if file is None:  # resolved once per (repo, file): serving calls this on every request
        file = _files[where] = code.file if os.path.isabs(code.file) else \
            os.path.join(os.path.realpath(repo_path), code.file)
    try:
        stat = os.stat(file)
    except OSError:
        raise ValidationError(f"{owner}: {role} {code.qualified_name} cannot be found: {file} does not exist in "
                              f"the feature repo; restore it, or {fix}") from None
    identity = (file, stat.st_size, stat.st_mtime_ns, code.name)
    found = _cache.get(identity)
    if found is None:
        with _lock:
            module = _import(Path(file), Path(repo_path).resolve(), owner, role, code)
            fn = getattr(module, code.name, None)
            if unwrap is not None:
                fn = unwrap(fn)
            if not inspect.isfunction(fn):
                raise ValidationError(f"{owner}: {role} {code.qualified_name} is no longer a function of "
                                      f"{code.file}; restore it, or {fix}")
            found = _cache[identity] = (fn, source_hash(inspect.getsource(fn)))
    fn, actual = found
    if actual != code.sha256:
        raise ValidationError(f"{owner}: {role} {code.qualified_name} in the repo (sha256 {actual[:12]}) differs "
                              f"from the registered one (sha256 {code.short_hash}); {fix}")
    return fn


def _import(file: Path, repo_path: Path, owner: str, role: str, code: CodeRef):
    """Import one repo file as load_repo does (featurestore.repo_modules): the repo's modules are
    forgotten afterwards, so Spark pickles its functions by value for the executors."""
    with repo_imports(repo_path):
        try:
            return import_file(file, repo_path)
        except Exception as error:
            raise ValidationError(f"{owner}: importing {code.file} for {role} {code.name} failed: "
                                  f"{type(error).__name__}: {error}") from None
