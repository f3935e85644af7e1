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


def as_utc(moment: datetime) -> datetime:
    """moment in UTC; a naive one is read as UTC (never as the machine's local time)."""
    if not isinstance(moment, datetime):
        raise ValidationError(f"expected a datetime, got {type(moment).__name__} {moment!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def micros_to_datetime(micros: int) -> datetime:
    """Microseconds since the epoch -> an aware UTC datetime."""
    return EPOCH + timedelta(microseconds=micros)
