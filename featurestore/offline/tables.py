"""Tables in the catalog: which provider holds a table, and a Delta table's current version.

Plain SQL, which a Spark Connect session runs too (Delta's DeltaTable API needs Delta's
Connect server plugin there). Training sets record source versions with these, profiles
key themselves by them, and pushes choose their write by the provider.
"""
from __future__ import annotations


def delta_version(spark, table: str) -> int | None:
    """The current version of a Delta table, or None for other tables (and missing ones, which
    the source check then reports).

    Plain SQL, which a Spark Connect session runs too (Delta's DeltaTable API needs Delta's
    Connect server plugin there): the catalog's provider, then DESCRIBE HISTORY.
    """
    if not spark.catalog.tableExists(table):
        return None
    if table_provider(spark, table) != "delta":
        return None
    return spark.sql(f"DESCRIBE HISTORY {table} LIMIT 1").first()["version"]


def table_provider(spark, table: str) -> str:
    """The table's provider in the catalog (delta, parquet, hive, ...); "" for a view."""
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {table}").where("col_name = 'Provider'").collect()
    return rows[0]["data_type"].lower() if rows else ""
