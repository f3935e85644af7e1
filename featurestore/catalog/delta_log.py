"""The files of a Delta table, read from its transaction log in plain Python (pyarrow for
checkpoints), so the catalog shows stored profiles without starting a JVM.

Replays `_delta_log`: the last checkpoint (if any), then every JSON commit after it, adding
and removing files. Enough for the tables featurestore writes and the catalog reads (the
profiles table: appends); a file with a deletion vector is refused, since applying one
needs Delta's own reader."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

from featurestore.errors import FeatureStoreError


def active_files(table_dir: Path) -> dict[str, dict[str, str]]:
    """{absolute file path: partition values} of the table's current version."""
    log = Path(table_dir) / "_delta_log"
    files: dict[str, dict[str, str]] = {}
    after = -1
    last = log / "_last_checkpoint"
    if last.exists():
        after = _read_checkpoint(log, json.loads(last.read_text()), files)
    for commit in sorted(log.glob("*.json")):
        if int(commit.stem) <= after:
            continue
        for line in commit.read_text().splitlines():
            if line.strip():
                _apply(json.loads(line), files)
    return {str(Path(table_dir) / unquote(path)): values for path, values in files.items()}


def _apply(action: dict, files: dict) -> None:
    if action.get("add"):
        add = action["add"]
        if add.get("deletionVector"):
            raise FeatureStoreError(f"{add['path']} has a deletion vector, which the catalog's log reader does not "
                                    f"apply; read the table through Spark")
        files[add["path"]] = dict(add.get("partitionValues") or {})
    elif action.get("remove"):
        files.pop(action["remove"]["path"], None)


def _read_checkpoint(log: Path, info: dict, files: dict) -> int:
    import pyarrow.parquet as pq

    version, parts = int(info["version"]), info.get("parts")
    names = ([f"{version:020d}.checkpoint.parquet"] if not parts else
             [f"{version:020d}.checkpoint.{i:010d}.{int(parts):010d}.parquet" for i in range(1, int(parts) + 1)])
    for name in names:
        table = pq.read_table(log / name, columns=["add", "remove"])
        for add, remove in zip(table.column("add").to_pylist(), table.column("remove").to_pylist()):
            if add:
                _apply({"add": {**add, "partitionValues": dict(add.get("partitionValues") or [])}}, files)
            elif remove:
                _apply({"remove": remove}, files)
    return version
