"""Expectations: rules a feature view's rows must satisfy, as definitions.

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

Their evaluation in Spark is featurestore.quality.expectations.evaluate.
"""
from __future__ import annotations

import math
from datetime import date, datetime

from featurestore.errors import DefinitionError, did_you_mean

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
