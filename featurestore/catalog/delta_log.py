"""A Delta table's current state, read from its transaction log in plain Python (pyarrow for
checkpoints), so the catalog shows stored profiles, saved training sets and table histories
without starting a JVM.

Replays `_delta_log`: the last checkpoint (if any), then every JSON commit after it: the
files added and removed, the newest metadata (its table properties) and, from the JSON
commits still in the log, each version's time and operation. Enough for the tables the
catalog reads; a file with a deletion vector is refused, since applying one needs Delta's
own reader."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

from featurestore.errors import FeatureStoreError


@dataclass
class DeltaState:
    version: int = -1
    properties: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)  # absolute path -> partition values
    history: list = field(default_factory=list)  # (version, commit time, operation), from the JSON commits kept
    metadata: dict = field(default_factory=dict)  # the newest metaData action


def is_delta_table(folder: Path) -> bool:
    return (Path(folder) / "_delta_log").is_dir()


def read_state(table_dir: Path) -> DeltaState:
    table_dir = Path(table_dir)
    log = table_dir / "_delta_log"
    state = DeltaState()
    files: dict[str, dict] = {}
    last = log / "_last_checkpoint"
    if last.exists():
        state.version = _read_checkpoint(log, json.loads(last.read_text()), files, state)
    for commit in sorted(log.glob("*.json")):
        version = int(commit.stem)
        if version <= state.version:
            continue
        for line in commit.read_text().splitlines():
            if line.strip():
                _apply(json.loads(line), files, state, version)
        state.version = version
    state.files = {str(table_dir / unquote(path)): values for path, values in files.items()}
    return state


def latest_metadata(table_dir: Path) -> dict:
    """The table's newest metaData action (schemaString, partitionColumns, configuration), found
    from the newest JSON commit back to the last checkpoint; nothing else is replayed, so a
    table whose files carry deletion vectors is read too. {} when the log has none."""
    log = Path(table_dir) / "_delta_log"
    last = log / "_last_checkpoint"
    checkpoint = int(json.loads(last.read_text())["version"]) if last.exists() else -1
    for commit in sorted(log.glob("*.json"), reverse=True):
        if int(commit.stem) <= checkpoint:
            break
        for line in commit.read_text().splitlines():
            if '"metaData"' in line:
                action = json.loads(line)
                if action.get("metaData"):
                    return action["metaData"]
    if checkpoint >= 0:
        state = DeltaState()
        _read_checkpoint(log, json.loads(last.read_text()), {}, state)
        return state.metadata
    return {}


def active_files(table_dir: Path) -> dict[str, dict[str, str]]:
    """{absolute file path: partition values} of the table's current version."""
    return read_state(table_dir).files


def _apply(action: dict, files: dict, state: DeltaState, version: int | None = None) -> None:
    if action.get("add"):
        add = action["add"]
        if add.get("deletionVector"):
            raise FeatureStoreError(f"{add['path']} has a deletion vector, which the catalog's log reader does not "
                                    f"apply; read the table through Spark")
        files[add["path"]] = dict(add.get("partitionValues") or {})
    elif action.get("remove"):
        files.pop(action["remove"]["path"], None)
    elif action.get("metaData"):
        state.metadata = action["metaData"]
        state.properties = dict(action["metaData"].get("configuration") or {})
    elif action.get("commitInfo") and version is not None:
        info = action["commitInfo"]
        moment = datetime.fromtimestamp(info.get("timestamp", 0) / 1000, tz=UTC)
        state.history.append((version, moment, info.get("operation", "")))


def _read_checkpoint(log: Path, info: dict, files: dict, state: DeltaState) -> int:
    import pyarrow.parquet as pq

    version, parts = int(info["version"]), info.get("parts")
    names = ([f"{version:020d}.checkpoint.parquet"] if not parts else
             [f"{version:020d}.checkpoint.{i:010d}.{int(parts):010d}.parquet" for i in range(1, int(parts) + 1)])
    for name in names:
        table = pq.read_table(log / name, columns=["add", "remove", "metaData"])
        for add, remove, meta in zip(*(table.column(c).to_pylist() for c in ("add", "remove", "metaData"))):
            if add:
                _apply({"add": {**add, "partitionValues": dict(add.get("partitionValues") or [])}}, files, state)
            elif remove:
                _apply({"remove": remove}, files, state)
            elif meta:
                _apply({"metaData": {**meta, "configuration": dict(meta.get("configuration") or [])}}, files, state)
    return version
