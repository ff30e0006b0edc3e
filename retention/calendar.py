"""Working days (工作日) on the Chinese public-holiday calendar, with make-up working days (调休)."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar
import structlog

log = structlog.get_logger(__name__)

FALLBACK_NOTE = (
    "the holiday calendar (chinese_calendar) has no data for {year}; counted Monday-Friday only, "
    "so public holidays and make-up working days (调休) of that year are not applied"
)


@lru_cache(maxsize=64)
def calendar_covers(year: int) -> bool:
    """Return whether the installed holiday calendar knows the official holidays of this year."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def is_working_day(day: date) -> bool:
    """Return whether day is a working day; beyond the library's known years, weekdays count (stated fallback)."""
    if calendar_covers(day.year):
        return bool(chinese_calendar.is_workday(day))
    return day.weekday() < 5


def add_working_days(start: date, count: int) -> date:
    """Return the date `count` working days after start (start itself never counts)."""
    day = start
    remaining = count
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def fallback_years(start: date, end: date) -> list[int]:
    """Return the years between start and end for which weekends-only counting was used."""
    return [year for year in range(start.year, end.year + 1) if not calendar_covers(year)]


def working_days_between(start: date, end: date) -> int:
    """Return how many working days lie after start up to and including end (negative if end is earlier)."""
    if end < start:
        return -working_days_between(end, start)
    return sum(1 for n in range(1, (end - start).days + 1) if is_working_day(start + timedelta(days=n)))
