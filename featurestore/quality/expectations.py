"""Expectations evaluated in Spark (their definitions: featurestore.definitions.expectations).

`evaluate(frame, expectations, key_columns, ...)` computes every per-row rule in ONE Spark
aggregation (a count and the smallest offending key per rule, so the example is
deterministic); UniqueKeysPerTimestamp needs a group-by on (keys, timestamp), which is a
second job, run only when that rule is given. It returns one Violation per broken rule,
each with a one-line `message`: view, feature, rule, how many rows, an example key.
"""
from __future__ import annotations

from dataclasses import dataclass

from featurestore.definitions.expectations import (  # noqa: F401 - the definitions, importable from here too
    NUMBER_TYPES,
    TYPES,
    Between,
    Expectation,
    InSet,
    NotNull,
    NullFractionAtMost,
    UniqueKeysPerTimestamp,
    check_expectations,
    expectation_from_dict,
)
from featurestore.errors import ValidationError, did_you_mean


@dataclass(frozen=True)
class Violation:
    """One broken expectation: how many rows break it, and the smallest offending key."""

    view: str
    feature: str | None
    expectation: str
    rows: int
    total_rows: int
    example_key: dict | None

    @property
    def message(self) -> str:
        where = f"{self.view}: " if self.view else ""
        what = f"feature {self.feature!r} breaks {self.expectation}" if self.feature else \
            f"breaks {self.expectation}"
        example = ""
        if self.example_key:
            example = " (e.g. " + ", ".join(f"{k}={v}" for k, v in self.example_key.items()) + ")"
        return f"{where}{what}: {self.rows:,} of {self.total_rows:,} rows{example}"

    def to_dict(self) -> dict:
        return {"view": self.view, "feature": self.feature, "expectation": self.expectation, "rows": self.rows,
                "total_rows": self.total_rows, "example_key": self.example_key, "message": self.message}


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _keys(key_columns):
    from pyspark.sql import functions as F

    if not key_columns:
        return F.lit(None).cast("string")
    return F.struct(*[F.col(_quote(k)) for k in key_columns])


def evaluate(frame, expectations: list[Expectation], key_columns: list[str], *, view: str = "",
             timestamp_column: str | None = None) -> list[Violation]:
    """The expectations broken by the rows of a Spark DataFrame, in the order given (module docstring)."""
    from pyspark.sql import functions as F

    types = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    where = f"{view}: " if view else ""
    for name in list(key_columns) + [e.feature for e in expectations if e.feature is not None]:
        if name not in types:
            raise ValidationError(f"{where}cannot evaluate expectations: column {name!r} is not in the rows, whose "
                                  f"columns are {', '.join(types)}.{did_you_mean(name, types)}")
    unique = [e for e in expectations if isinstance(e, UniqueKeysPerTimestamp)]
    if unique and (not timestamp_column or timestamp_column not in types):
        raise ValidationError(f"{where}unique_keys_per_timestamp needs the event timestamp column; pass "
                              f"timestamp_column= naming one of {', '.join(types)}")
    for expectation in expectations:
        if isinstance(expectation, Between) and not (types[expectation.feature] in NUMBER_TYPES or
                                                     types[expectation.feature].startswith("decimal")):
            raise ValidationError(f"{where}expectation {expectation.describe()} on feature {expectation.feature!r}: "
                                  f"its Spark type is {types[expectation.feature]}, not a number, timestamp or "
                                  f"date; use InSet for other types")
    keys = _keys(key_columns)

    def missing(name):
        column = F.col(_quote(name))
        return column.isNull() | F.isnan(column) if types[name] in ("float", "double") else column.isNull()

    aggregates = [F.count(F.lit(1)).alias("rows")]
    for i, expectation in enumerate(expectations):
        name = expectation.feature
        if isinstance(expectation, (NotNull, NullFractionAtMost)):
            broken = missing(name)
        elif isinstance(expectation, Between):
            column = F.col(_quote(name))
            outside = F.lit(False)
            if expectation.min is not None:
                outside = outside | (column < F.lit(expectation.min))
            if expectation.max is not None:
                outside = outside | (column > F.lit(expectation.max))
            broken = column.isNotNull() & (outside | (F.isnan(column) if types[name] in ("float", "double")
                                                      else F.lit(False)))
        elif isinstance(expectation, InSet):
            column = F.col(_quote(name))
            broken = column.isNotNull() & ~column.isin(list(expectation.values))
        else:
            continue
        aggregates += [F.count_if(broken).alias(f"e{i}_rows"), F.min(F.when(broken, keys)).alias(f"e{i}_key")]
    result = frame.agg(*aggregates).first().asDict(recursive=True)
    total = int(result["rows"])

    violations = []
    for i, expectation in enumerate(expectations):
        if isinstance(expectation, UniqueKeysPerTimestamp):
            rows, example = _duplicates(frame, key_columns, timestamp_column)
        else:
            rows, example = int(result[f"e{i}_rows"]), result[f"e{i}_key"]
            if isinstance(expectation, NullFractionAtMost) and total and rows / total <= expectation.fraction:
                continue
        if rows:
            violations.append(Violation(view, expectation.feature, expectation.describe(), rows, total,
                                        dict(example) if example else None))
    return violations


def _duplicates(frame, key_columns, timestamp_column):
    from pyspark.sql import functions as F

    group = [F.col(_quote(c)) for c in list(key_columns) + [timestamp_column]]
    keys = _keys(key_columns)
    counted = frame.groupBy(*group).agg(F.count(F.lit(1)).alias("n"), F.first(keys).alias("key"))
    row = counted.where(F.col("n") > 1).agg(F.sum("n").alias("rows"), F.min("key").alias("key")) \
        .first().asDict(recursive=True)
    return int(row["rows"] or 0), row["key"]
