"""Tables in the catalog: their names, which provider holds a table, a Delta table's current
version and its properties.

Plain SQL, which a Spark Connect session runs too (Delta's DeltaTable API needs Delta's
Connect server plugin there). Training sets record source versions with these, profiles
key themselves by them, and pushes choose their write by the provider.
"""
from __future__ import annotations

import re

from featurestore.errors import RetrievalError

TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?\Z")


def check_table_name(name, what: str = "training-set table") -> str:
    if not isinstance(name, str) or not TABLE_NAME.match(name):
        raise RetrievalError(f"{what} name {name!r} must be 'table' or 'database.table' (letters, digits, '_')")
    return name


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


def delta_properties(spark, table: str) -> dict[str, str]:
    """A Delta table's properties as DESCRIBE DETAIL reads them from its log (unredacted); empty
    for anything else: a view, or a table of another format, cannot be a saved training set."""
    from pyspark.errors import AnalysisException

    try:
        detail = spark.sql(f"DESCRIBE DETAIL {table}").first()
    except AnalysisException:  # a view: DESCRIBE DETAIL expects a table
        return {}
    if detail is None or detail["format"] != "delta":
        return {}
    return dict(detail["properties"] or {})
