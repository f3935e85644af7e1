"""Parsing the times users type on command lines: ISO-8601 (UTC when no zone) or 'now'."""
from __future__ import annotations

from datetime import UTC, datetime

from featurestore.cli.common import CommandLineError
from featurestore.times import as_utc


def parse_time(text: str, what: str = "time") -> datetime:
    """'now', '2026-01-01', '2026-01-01T12:00:00', '...+02:00' or '...Z' -> an aware UTC datetime."""
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CommandLineError(f"{what} {text!r} is not a time: use ISO-8601 such as 2026-01-31T12:00:00 "
                               f"(UTC unless a zone is given) or 'now'") from None
    return as_utc(moment)
