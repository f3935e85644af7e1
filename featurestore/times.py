"""The one time rule: every time is UTC, and a datetime without a zone is read as UTC.

Everything that takes a time from a user (materialization intervals, CLI arguments,
profile ranges, entity rows, on-demand outputs) goes through as_utc; values on the wire
are microseconds since the epoch (featurestore.values.to_micros).

>>> from datetime import datetime, timedelta, timezone
>>> as_utc(datetime(2026, 1, 1, 12))
datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
>>> as_utc(datetime(2026, 1, 1, 13, tzinfo=timezone(timedelta(hours=1))))
datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from featurestore.errors import ValidationError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# How far past this machine's clock a time may be (other machines' clocks differ): the bound
# for a materialization's end and for a pushed row's event time alike. A later time would be
# recorded as done, or pin a value online that no real later row could replace.
CLOCK_SKEW = timedelta(minutes=5)
_EARLIEST_MICROS = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // MICROSECOND
_LATEST_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH) // MICROSECOND


def as_utc(moment: datetime) -> datetime:
    """moment in UTC; a naive one is read as UTC (never as the machine's local time)."""
    if not isinstance(moment, datetime):
        raise ValidationError(f"expected a datetime, got {type(moment).__name__} {moment!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def micros_to_datetime(micros: int) -> datetime:
    """Microseconds since the epoch -> an aware UTC datetime; a time beyond what a datetime holds
    (years 1 to 9999) is read as the nearest one it holds, so no stored time makes a read fail."""
    if not _EARLIEST_MICROS <= micros <= _LATEST_MICROS:
        micros = min(max(micros, _EARLIEST_MICROS), _LATEST_MICROS)
    return EPOCH + timedelta(microseconds=micros)
