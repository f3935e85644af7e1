"""The output columns of batch transformations, remembered so that `plan` and `apply` check a
transformed view without starting Spark.

A transformation's output schema is a function of its code, the columns it is given and
Spark's version; Spark resolving it once (any apply, training set or materialization that
runs it) is enough. Each answer is kept in its own small JSON file, named by the sha256 of
that key, in the user's cache ($XDG_CACHE_HOME/featurestore/transformation-schemas); being
named by its content, a file is never stale, whichever repo or process wrote it. The code
in the key is the function's registered sha256 and the sha256 of the whole file defining
it (so a module-level constant it reads counts too); a helper imported from another module
of the repo does not count: changing one alone is noticed when the view next runs in Spark,
as every run checks its output against the schema (offline.sources.validate_feature_view).

Deleting the folder is always safe: the next check starts Spark once.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "featurestore" / "transformation-schemas"


def cache_key(view, repo_path, input_columns: dict[str, str]) -> str | None:
    """The sha256 naming this transformation's output on these columns (None: its file is not readable)."""
    from importlib import metadata

    code = view.transformation_code
    try:
        file_hash = hashlib.sha256((Path(repo_path) / code.file).read_bytes()).hexdigest()
        spark_version = metadata.version("pyspark")
    except (OSError, TypeError, metadata.PackageNotFoundError):
        return None
    text = json.dumps([spark_version, code.sha256, file_hash, code.name, list(input_columns.items())])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recall(view, repo_path, input_columns: dict[str, str]) -> dict[str, str] | None:
    """The output columns Spark gave for this code on these columns, or None when not known yet."""
    key = cache_key(view, repo_path, input_columns)
    if key is None:
        return None
    try:
        return dict(json.loads((cache_dir() / f"{key}.json").read_text())["columns"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(view, repo_path, input_columns: dict[str, str], output_columns: dict[str, str]) -> None:
    """Keep what Spark resolved (best effort: a cache that cannot be written costs a JVM next time)."""
    if repo_path is None or view.transformation_code is None:
        return
    key = cache_key(view, repo_path, input_columns)
    if key is None:
        return
    target = cache_dir() / f"{key}.json"
    try:
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=target.parent, suffix=".tmp", delete=False) as out:
            json.dump({"transformation": view.transformation_code.qualified_name,
                       "columns": list(output_columns.items())}, out)
        os.replace(out.name, target)
    except OSError:
        pass
