"""Stored profiles for the catalog, read without a JVM: the rows of a database's
`featurestore_profiles` Delta table (quality.profile.store_profile writes them) found in the
warehouse folder, through catalog.delta_log. The newest row per (table, version) wins, as
quality.profile.load_profile has it."""
from __future__ import annotations

from pathlib import Path

from featurestore.catalog.delta_log import active_files
from featurestore.quality.profile import PROFILES_TABLE, Profile


def profiles_folder(warehouse: Path, table: str) -> Path:
    """Where Spark keeps `db.featurestore_profiles` in a local warehouse (default: at its root)."""
    database = table.split(".")[0] if "." in table else "default"
    return warehouse / PROFILES_TABLE if database == "default" else warehouse / f"{database}.db" / PROFILES_TABLE


def stored_profiles(warehouse: Path, table: str) -> list[Profile]:
    """Every stored version's profile of `table` (db.table), oldest version first; [] when none."""
    import pyarrow.parquet as pq

    qualified = table if "." in table else f"default.{table}"
    folder = profiles_folder(Path(warehouse), qualified)
    if not (folder / "_delta_log").is_dir():
        return []
    newest: dict[int, tuple[str, str]] = {}
    for path, partition in active_files(folder).items():
        if partition.get("table_name") != qualified:
            continue
        rows = pq.read_table(path, columns=["version", "computed_at", "profile"]).to_pylist()
        for row in rows:
            version = int(row["version"])
            if version not in newest or row["computed_at"] > newest[version][0]:
                newest[version] = (row["computed_at"], row["profile"])
    return [Profile.from_json(newest[v][1]) for v in sorted(newest)]


def profiles_reader(config):
    """stored_profiles over the repo's warehouse, as the pages take it."""
    return lambda table: stored_profiles(config.warehouse_dir, table)
