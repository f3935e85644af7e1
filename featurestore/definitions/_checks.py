"""Argument checks shared by the definition classes.

Names end up in SQL (Spark and SQLite) and in Redis keys, so they are restricted to
plain identifiers here, at construction, rather than quoted in every query later.
"""
from __future__ import annotations

import re
from datetime import timedelta

from featurestore.errors import DefinitionError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z, not $: "stats\n" is no name
# The longest duration the registry (a protobuf Duration) can hold: 10,000 years. Feast
# repos use ttl=timedelta(days=36500) for "never expire"; that and anything up to this fits.
MAX_TTL = timedelta(seconds=315_576_000_000)


def check_name(kind: str, name, what: str = "name") -> str:
    """Return name if it is a plain identifier, else raise naming the definition.

    >>> check_name("Entity", "driver")
    'driver'
    >>> check_name("Entity", "driver id")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    featurestore.errors.DefinitionError: Entity name 'driver id' is not a plain identifier: use letters, digits and '_', ...
    """
    if not isinstance(name, str) or not name:
        raise DefinitionError(f"{kind}: {what} must be a non-empty string, got {name!r}")
    if not IDENTIFIER.match(name):
        raise DefinitionError(
            f"{kind} {what} {name!r} is not a plain identifier: use letters, digits and '_', "
            f"starting with a letter or '_' (no spaces, quotes, dots or semicolons)")
    return name


def check_table_name(kind: str, table: str) -> str:
    """A table is `name` or `db.name`, each part a plain identifier."""
    if not isinstance(table, str) or not all(IDENTIFIER.match(part) for part in table.split(".")) \
            or table.count(".") > 1:
        raise DefinitionError(
            f"{kind}: table {table!r} is not a valid table name: use 'table' or 'database.table' "
            f"with letters, digits and '_' only")
    return table


def check_str(kind: str, what: str, value, allow_empty: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DefinitionError(f"{kind}: {what} must be a string, got {type(value).__name__} {value!r}")
    if not allow_empty and not value:
        raise DefinitionError(f"{kind}: {what} must not be empty")
    return value


def check_tags(kind: str, tags) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise DefinitionError(f"{kind}: tags must be a dict of str to str, got {tags!r}")
    return dict(tags)


def check_ttl(kind: str, ttl) -> timedelta:
    """The ttl as given (None means 0, no limit), checked against what a registry can store.

    >>> check_ttl("FeatureView 'stats'", timedelta(days=36500))  # Feast's "never expire, but not zero"
    datetime.timedelta(days=36500)
    >>> check_ttl("FeatureView 'stats'", timedelta(hours=-1))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    featurestore.errors.DefinitionError: FeatureView 'stats': ttl must not be negative, got -1 day, 23:00:00; use ...
    """
    if ttl is None:
        return timedelta(0)
    if not isinstance(ttl, timedelta):
        raise DefinitionError(f"{kind}: ttl must be a datetime.timedelta (e.g. timedelta(days=1)), "
                              f"got {type(ttl).__name__} {ttl!r}")
    if ttl < timedelta(0):
        raise DefinitionError(f"{kind}: ttl must not be negative, got {ttl}; use timedelta(0) for no limit")
    if ttl > MAX_TTL:
        raise DefinitionError(f"{kind}: ttl {ttl} is longer than the 10,000 years a registry can store; "
                              f"use timedelta(0) for no limit")
    return ttl


def check_unique(kind: str, what: str, names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise DefinitionError(f"{kind}: {what} {name!r} is listed twice")
        seen.add(name)
