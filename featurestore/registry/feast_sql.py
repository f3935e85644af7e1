"""A SQL registry's newest version, also where Feast's SQL registry reads it.

featurestore's SQL registry keeps every version of a project as one `Registry` message per row
(featurestore/registry/sql.py), its history. Feast's SQL registry (feast/infra/registry/sql.py)
reads one row per object instead, in its own tables. So that Feast's SDK, CLI and servers
pointed at the same database (`registry: {registry_type: sql, path: <the URL>}`) see the
project, every write of a version also rewrites the project's rows of Feast's tables from
that version's Feast messages, in the same transaction: Feast always reads the newest
version whole, never half of one. Feast's other tables (saved datasets, permissions, ...)
are created empty so that Feast finds every table it expects, and are left alone.
"""
from __future__ import annotations

from collections.abc import Callable

from featurestore.protos import feast_registry_pb2 as feast

# Feast's table -> (its name column, its message column, the Registry field listing those objects)
OBJECT_TABLES = {
    "entities": ("entity_name", "entity_proto", "entities"),
    "data_sources": ("data_source_name", "data_source_proto", "data_sources"),
    "feature_views": ("feature_view_name", "feature_view_proto", "feature_views"),
    "on_demand_feature_views": ("feature_view_name", "feature_view_proto", "on_demand_feature_views"),
    "feature_services": ("feature_service_name", "feature_service_proto", "feature_services"),
}
# Feast's tables featurestore writes nothing to, with their name and message columns
OTHER_TABLES = {
    "stream_feature_views": ("feature_view_name", "feature_view_proto"),
    "label_views": ("feature_view_name", "feature_view_proto"),
    "saved_datasets": ("saved_dataset_name", "saved_dataset_proto"),
    "validation_references": ("validation_reference_name", "validation_reference_proto"),
    "managed_infra": ("infra_name", "infra_proto"),
    "permissions": ("permission_name", "permission_proto"),
}
VERSION_KEY = "featurestore_version"  # feast_metadata: the featurestore version Feast's rows hold


def create_tables(execute: Callable[[str], None], blob: str) -> None:
    """Feast's SQL registry tables, as its SQLAlchemy metadata declares them (if missing)."""
    views = {"feature_views", "on_demand_feature_views", "stream_feature_views", "label_views"}
    for table, (name, message, *_) in [*OBJECT_TABLES.items(), *OTHER_TABLES.items()]:
        extra = (f"materialized_intervals {blob}, " if table == "feature_views" else "") + \
            (f"user_metadata {blob}, " if table in views else "")
        execute(f"CREATE TABLE IF NOT EXISTS {table} ({name} VARCHAR(255) NOT NULL, project_id VARCHAR(255) NOT NULL, "
                f"last_updated_timestamp BIGINT NOT NULL, {extra}{message} {blob} NOT NULL, "
                f"PRIMARY KEY ({name}, project_id))")
    execute(f"CREATE TABLE IF NOT EXISTS projects (project_id VARCHAR(255) NOT NULL PRIMARY KEY, project_name "
            f"VARCHAR(255) NOT NULL, last_updated_timestamp BIGINT NOT NULL, project_proto {blob} NOT NULL)")
    execute("CREATE TABLE IF NOT EXISTS feast_metadata (project_id VARCHAR(255) NOT NULL, metadata_key VARCHAR(50) "
            "NOT NULL, metadata_value TEXT NOT NULL, last_updated_timestamp BIGINT NOT NULL, "
            "PRIMARY KEY (project_id, metadata_key))")


def mirror(query: Callable[[str, tuple], list], project: str, version: int, data: bytes) -> None:
    """Replace the project's rows of Feast's tables with version `version` (the bytes of its
    Registry message), unless they already hold a later version. Run inside the transaction
    that writes the version."""
    held = query("SELECT metadata_value FROM feast_metadata WHERE project_id = ? AND metadata_key = ?",
                 (project, VERSION_KEY))
    if held and int(held[0][0]) >= version:
        return
    wire = feast.Registry.FromString(data)
    seconds = wire.last_updated.seconds
    forget(query, project)
    for table, (name_column, message_column, field) in OBJECT_TABLES.items():
        for item in getattr(wire, field):
            name = item.name if field == "data_sources" else item.spec.name
            query(f"INSERT INTO {table} ({name_column}, project_id, last_updated_timestamp, {message_column}) "
                  f"VALUES (?, ?, ?, ?)", (name, project, seconds, item.SerializeToString()))
    for listed in wire.projects:
        query("INSERT INTO projects (project_id, project_name, last_updated_timestamp, project_proto) "
              "VALUES (?, ?, ?, ?)", (project, listed.spec.name, seconds, listed.SerializeToString()))
    for key, value in (("last_updated_timestamp", str(seconds)), ("project_uuid", wire.featurestore.registry_id),
                       (VERSION_KEY, str(version))):
        query("INSERT INTO feast_metadata (project_id, metadata_key, metadata_value, last_updated_timestamp) "
              "VALUES (?, ?, ?, ?)", (project, key, value, seconds))


def forget(query: Callable[[str, tuple], list], project: str) -> None:
    """Remove the project's rows from the tables featurestore writes (teardown, or before a rewrite)."""
    for table in [*OBJECT_TABLES, "projects", "feast_metadata"]:
        query(f"DELETE FROM {table} WHERE project_id = ?", (project,))
