"""What the catalog reads from the repo's Spark warehouse folder, without a JVM (through
catalog.delta_log): a table's Delta history, the profiles stored for it, and the saved
training sets (Delta tables carrying the property featurestore.training_set).

Tables are found where Spark's local warehouse keeps them: `default`'s at its root,
another database's under `<database>.db/`. A table kept elsewhere (an external location,
a team's metastore) is not found, and the pages say so."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from featurestore.catalog.delta_log import is_delta_table, read_state
from featurestore.errors import FeatureStoreError
from featurestore.offline.training_set import DEFINITION_PROPERTY
from featurestore.quality.profile import PROFILES_TABLE, Profile


@dataclass(frozen=True)
class SavedTrainingSet:
    table: str  # db.table
    version: int  # the Delta version now
    definition: dict  # what get_historical_features recorded (features, entity source, source versions...)


class TrainingSets(list):
    """The saved training sets found (SavedTrainingSet, by name), and `unreadable`: the tables
    the scan could not read, each with the reason, for the pages to name (never a failed page)."""

    def __init__(self, found=(), unreadable: dict[str, str] | None = None):
        super().__init__(found)
        self.unreadable = dict(unreadable or {})


def qualified(table: str) -> str:
    return table if "." in table else f"default.{table}"


class Warehouse:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def table_folder(self, table: str) -> Path:
        database, name = qualified(table).split(".", 1)
        return self.folder / name if database == "default" else self.folder / f"{database}.db" / name

    def history(self, table: str) -> list | None:
        """[(version, time, operation)] newest first, or None when the table is not a Delta table here."""
        folder = self.table_folder(table)
        if not is_delta_table(folder):
            return None
        return sorted(read_state(folder).history, reverse=True)

    def profiles(self, table: str) -> list[Profile]:
        """Every stored version's profile of `table`, oldest version first (the newest row of a
        version wins, as quality.profile.load_profile has it); [] when none."""
        import pyarrow.parquet as pq

        table = qualified(table)
        folder = self.table_folder(f"{table.split('.')[0]}.{PROFILES_TABLE}")
        if not is_delta_table(folder):
            return []
        newest: dict[int, tuple[str, str]] = {}
        for path, partition in read_state(folder).files.items():
            if partition.get("table_name") != table:
                continue
            for row in pq.read_table(path, columns=["version", "computed_at", "profile"]).to_pylist():
                version = int(row["version"])
                if version not in newest or row["computed_at"] > newest[version][0]:
                    newest[version] = (row["computed_at"], row["profile"])
        return [Profile.from_json(newest[v][1]) for v in sorted(newest)]

    def skew_report(self, service: str):
        """The last `featurestore skew` report of a service: (SkewReport, its HTML file or None), or None."""
        from featurestore.quality.skew import load_report

        return load_report(self.folder, service)

    def training_sets(self) -> TrainingSets:
        """The saved training sets of the warehouse's databases, by name; a table whose Delta log
        or training-set property cannot be read is named in `.unreadable`, and the scan goes on."""
        found, unreadable = [], {}
        if not self.folder.is_dir():
            return TrainingSets()
        candidates = [("default", d) for d in self.folder.iterdir() if d.is_dir() and not d.name.endswith(".db")]
        for database in self.folder.glob("*.db"):
            candidates += [(database.name[:-3], d) for d in database.iterdir() if d.is_dir()]
        for database, folder in candidates:
            name = f"{database}.{folder.name}"
            try:
                if not is_delta_table(folder):
                    continue
                state = read_state(folder)
                if DEFINITION_PROPERTY in state.properties:
                    definition = json.loads(state.properties[DEFINITION_PROPERTY])
                    if not isinstance(definition, dict):
                        raise ValueError(f"its {DEFINITION_PROPERTY} property is not a JSON object")
                    found.append(SavedTrainingSet(name, state.version, definition))
            except (FeatureStoreError, ValueError, OSError) as error:
                unreadable[name] = str(error)
        return TrainingSets(sorted(found, key=lambda t: t.table), unreadable)
