"""Times a person types: a date is that whole day in the agency's zone, a time without a zone is local."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import click


def typed_moment(text: str | None, zone: ZoneInfo, *, end: bool = False) -> str | None:
    """Return an ISO 8601 UTC time for the API (end: a date means up to the end of that day)."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC).isoformat()
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"not a date or time: {text!r} (use 2026-05-01 or 2026-05-01T08:30:00+08:00)") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC).isoformat()
