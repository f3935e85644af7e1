"""Aggregation: one windowed aggregate of a source's events, a feature of an aggregating view.

    Aggregation(column="fare", function="sum", time_window=timedelta(days=7))  -> fare_sum_7d
    Aggregation(function="count", time_window=timedelta(hours=1), name="trips_count_1h")

For an entity row at time ts and a view with delay D, the aggregate covers the events of
the row's entity with `ts - D - W < event_ts <= ts - D` (the older end open, so that
consecutive windows tile). Null values are ignored; an empty window gives 0 for count and
approx_count_distinct and null for every other function. var and stddev are the sample
statistics (null below two values). last is the value of the latest event with a
non-null value; events at the same time are broken by the greatest value.
"""
from __future__ import annotations

from datetime import timedelta

from featurestore import types
from featurestore.definitions._checks import check_name
from featurestore.errors import DefinitionError
from featurestore.protos import registry_pb2

FUNCTIONS = ("count", "sum", "mean", "min", "max", "stddev", "var", "last", "approx_count_distinct")
NUMERIC = (types.Int32, types.Int64, types.Float32, types.Float64)
ORDERED = NUMERIC + (types.String, types.UnixTimestamp)
# The input types each function accepts; None means any scalar type.
ACCEPTS = {"count": None, "sum": NUMERIC, "mean": NUMERIC, "stddev": NUMERIC, "var": NUMERIC, "min": ORDERED,
           "max": ORDERED, "last": None, "approx_count_distinct": None}
_UNITS = (("d", timedelta(days=1)), ("h", timedelta(hours=1)), ("m", timedelta(minutes=1)),
          ("s", timedelta(seconds=1)), ("ms", timedelta(milliseconds=1)), ("us", timedelta(microseconds=1)))


def window_label(window: timedelta) -> str:
    """The shortest exact spelling of a window: 30m, 1h, 7d, 90s, 1500ms."""
    for suffix, unit in _UNITS:
        if window % unit == timedelta(0):
            return f"{window // unit}{suffix}"
    raise AssertionError("unreachable: every timedelta is a whole number of microseconds")


class Aggregation:
    """function(column) over a sliding time_window of events; keyword-only, checked on construction."""

    def __init__(self, *, column: str | None = None, function: str, time_window: timedelta,
                 name: str | None = None):
        kind = f"Aggregation({function!r} of {column!r})"
        if function not in FUNCTIONS:
            raise DefinitionError(f"{kind}: unknown function {function!r}; choose one of {', '.join(FUNCTIONS)}")
        self.function = function
        if column is None or column == "":
            if function != "count":
                raise DefinitionError(f"{kind}: {function} needs a column=; only count may omit it (it counts "
                                      f"events)")
            self.column = ""
        else:
            self.column = check_name(kind, column, "column")
        if not isinstance(time_window, timedelta) or time_window <= timedelta(0):
            raise DefinitionError(f"{kind}: time_window must be a positive datetime.timedelta such as "
                                  f"timedelta(days=7), got {time_window!r}")
        self.time_window = time_window
        default = f"{self.column or 'events'}_{function}_{window_label(time_window)}"
        if function == "count" and not self.column:
            default = f"events_count_{window_label(time_window)}"
        self.name = check_name(kind, name, "name") if name else default

    def output_type(self, input_type: types.FeatureType | None) -> types.FeatureType:
        """The feature's type: count -> Int64, mean/stddev/var -> Float64, sum of ints -> Int64,
        others keep the input column's type."""
        if self.function in ("count", "approx_count_distinct"):
            return types.Int64
        if self.function in ("mean", "stddev", "var"):
            return types.Float64
        if self.function == "sum" and input_type in (types.Int32, types.Int64):
            return types.Int64
        return input_type

    def check_input(self, view: str, input_type: types.FeatureType | None) -> None:
        """Raise unless the input column's declared type suits the function."""
        if not self.column:
            return
        if input_type is None:
            raise DefinitionError(f"FeatureView {view!r}: aggregation {self.name!r} reads column {self.column!r}, "
                                  f"which the schema does not declare; add Field(name={self.column!r}, dtype=...) "
                                  f"(aggregating views list their input columns)")
        accepted = ACCEPTS[self.function]
        if input_type.is_list or (accepted is not None and input_type not in accepted):
            allowed = ", ".join(t.name for t in accepted) if accepted else "scalar types"
            raise DefinitionError(f"FeatureView {view!r}: aggregation {self.name!r} applies {self.function} to "
                                  f"column {self.column!r} of type {input_type!r}; {self.function} takes {allowed}")

    def to_proto(self) -> registry_pb2.Aggregation:
        proto = registry_pb2.Aggregation(column=self.column, function=self.function, name=self.name)
        proto.time_window.FromTimedelta(self.time_window)
        return proto

    @classmethod
    def from_proto(cls, proto: registry_pb2.Aggregation) -> Aggregation:
        return cls(column=proto.column or None, function=proto.function,
                   time_window=proto.time_window.ToTimedelta(), name=proto.name)

    def __eq__(self, other) -> bool:
        return isinstance(other, Aggregation) and self.to_proto() == other.to_proto()

    def __hash__(self) -> int:
        return hash(("Aggregation", self.name))

    def __repr__(self) -> str:
        column = f"column={self.column!r}, " if self.column else ""
        return f"Aggregation({column}function={self.function!r}, time_window={self.time_window!r}, name={self.name!r})"
