"""Expectations: rules a feature view's rows must satisfy, and their evaluation in Spark.

Definitions are keyword-only values (comparable, printable, hashable) that round-trip
through plain dicts (`to_dict()` / `expectation_from_dict()`), for the registry to store:

=============================================== =========================================
definition                                      a row breaks it when
=============================================== =========================================
NotNull(feature="f")                            f is null (or NaN)
Between(feature="f", min=0, max=1)              f is NaN or outside [min, max] (inclusive;
                                                nulls pass: use NotNull for those); one
                                                bound may be None
NullFractionAtMost(feature="f", fraction=0.01)  f is null or NaN, when more than that
                                                fraction of the rows are
InSet(feature="f", values=["a", "b"])           f is not null and not one of the values
UniqueKeysPerTimestamp()                        another row has the same join keys and
                                                event timestamp
=============================================== =========================================

`evaluate(frame, expectations, key_columns, ...)` computes every per-row rule in ONE Spark
aggregation (a count and the smallest offending key per rule, so the example is
deterministic); UniqueKeysPerTimestamp needs a group-by on (keys, timestamp), which is a
second job, run only when that rule is given. It returns one Violation per broken rule,
each with a one-line `message`: view, feature, rule, how many rows, an example key.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

from featurestore.errors import DefinitionError, ValidationError, did_you_mean

SCALARS = (str, int, float, bool)
NUMBER_TYPES = ("tinyint", "smallint", "int", "bigint", "float", "double", "timestamp", "timestamp_ntz", "date")


class Expectation:
    """Base of the rules; subclasses set `type` and their fields."""

    type = ""
    feature: str | None = None

    def to_dict(self) -> dict:
        return {"type": self.type, **self._fields()}

    def _fields(self) -> dict:
        raise NotImplementedError

    def describe(self) -> str:
        """How the rule reads in messages: 'between(0, 1)'."""
        arguments = [repr(v) if isinstance(v, str) else str(v)
                     for k, v in self._fields().items() if k != "feature" and v is not None]
        return f"{self.type}({', '.join(arguments)})"

    def __eq__(self, other):
        return type(other) is type(self) and other.to_dict() == self.to_dict()

    def __hash__(self):
        return hash(repr(self))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._fields().items())})"


def _feature(kind: str, feature) -> str:
    if not isinstance(feature, str) or not feature:
        raise DefinitionError(f"{kind}: feature must be a feature name (a non-empty string), got {feature!r}")
    return feature


def _bound(kind: str, name: str, value):
    if value is None or isinstance(value, (datetime, date)):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise DefinitionError(f"{kind}: {name} must be a number or a datetime, got {value!r}")
    return value


class NotNull(Expectation):
    type = "not_null"

    def __init__(self, *, feature: str):
        self.feature = _feature("NotNull", feature)

    def _fields(self):
        return {"feature": self.feature}


class Between(Expectation):
    type = "between"

    def __init__(self, *, feature: str, min=None, max=None):
        kind = f"Between on {feature!r}"
        self.feature = _feature("Between", feature)
        self.min, self.max = _bound(kind, "min", min), _bound(kind, "max", max)
        if self.min is None and self.max is None:
            raise DefinitionError(f"{kind}: give min=, max= or both")
        if self.min is not None and self.max is not None:
            try:
                wrong = self.min > self.max
            except TypeError:
                raise DefinitionError(f"{kind}: min {self.min!r} and max {self.max!r} cannot be compared; give "
                                      f"two numbers or two datetimes") from None
            if wrong:
                raise DefinitionError(f"{kind}: min {self.min!r} is greater than max {self.max!r}; swap them")

    def _fields(self):
        return {"feature": self.feature, "min": self.min, "max": self.max}

    def describe(self) -> str:
        shown = {k: v.isoformat() if isinstance(v, (datetime, date)) else v for k, v in (("min", self.min),
                                                                                         ("max", self.max))}
        if self.min is not None and self.max is not None:
            return f"between({shown['min']}, {shown['max']})"
        return "between(" + ", ".join(f"{k}={v}" for k, v in shown.items() if v is not None) + ")"

    def to_dict(self) -> dict:
        out = super().to_dict()
        for key in ("min", "max"):
            if isinstance(out[key], (datetime, date)):
                out[key] = {"datetime": out[key].isoformat()}
        return out


class NullFractionAtMost(Expectation):
    type = "null_fraction_at_most"

    def __init__(self, *, feature: str, fraction: float):
        self.feature = _feature("NullFractionAtMost", feature)
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
            raise DefinitionError(f"NullFractionAtMost on {feature!r}: fraction must be a number from 0 to 1, "
                                  f"got {fraction!r}")
        self.fraction = float(fraction)

    def _fields(self):
        return {"feature": self.feature, "fraction": self.fraction}


class InSet(Expectation):
    type = "in_set"

    def __init__(self, *, feature: str, values):
        self.feature = _feature("InSet", feature)
        if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, set, frozenset)) or not values:
            raise DefinitionError(f"InSet on {feature!r}: values must be a non-empty list, got {values!r}")
        bad = [v for v in values if not isinstance(v, SCALARS)]
        if bad:
            raise DefinitionError(f"InSet on {feature!r}: values must be strings, numbers or booleans, got "
                                  f"{bad[0]!r}")
        self.values = sorted(set(values), key=lambda v: (type(v).__name__, v))

    def _fields(self):
        return {"feature": self.feature, "values": list(self.values)}

    def describe(self) -> str:
        shown = ", ".join(repr(v) for v in self.values[:5]) + (", ..." if len(self.values) > 5 else "")
        return f"in_set({shown})"


class UniqueKeysPerTimestamp(Expectation):
    type = "unique_keys_per_timestamp"

    def __init__(self):
        self.feature = None

    def _fields(self):
        return {}


TYPES = {cls.type: cls for cls in (NotNull, Between, NullFractionAtMost, InSet, UniqueKeysPerTimestamp)}


def expectation_from_dict(data: dict) -> Expectation:
    """The inverse of Expectation.to_dict()."""
    if not isinstance(data, dict) or data.get("type") not in TYPES:
        kind = data.get("type") if isinstance(data, dict) else data
        raise DefinitionError(f"unknown expectation {kind!r}; known: {', '.join(TYPES)}."
                              f"{did_you_mean(str(kind), TYPES)}")
    fields = {k: v for k, v in data.items() if k != "type"}
    for key in ("min", "max"):
        if isinstance(fields.get(key), dict) and "datetime" in fields[key]:
            fields[key] = datetime.fromisoformat(fields[key]["datetime"])
    try:
        return TYPES[data["type"]](**fields)
    except TypeError as error:
        raise DefinitionError(f"expectation {data!r} has wrong fields: {error}") from None


def check_expectations(expectations, features: list[str], where: str) -> list[Expectation]:
    """The expectations as a list, or a DefinitionError naming an unknown feature (for definitions)."""
    if expectations is None:
        return []
    if not isinstance(expectations, (list, tuple)) or not all(isinstance(e, Expectation) for e in expectations):
        raise DefinitionError(f"{where}: expectations must be a list of NotNull, Between, NullFractionAtMost, "
                              f"InSet or UniqueKeysPerTimestamp, got {expectations!r}")
    for expectation in expectations:
        if expectation.feature is not None and expectation.feature not in features:
            raise DefinitionError(f"{where}: expectation {expectation.describe()} names feature "
                                  f"{expectation.feature!r}, which is not one of its features "
                                  f"({', '.join(features)}).{did_you_mean(expectation.feature, features)}")
    return list(expectations)


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
