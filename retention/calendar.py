"""Working days (工作日) by chinese_calendar alone; the arithmetic itself lives in vault.workdays, which call-ups
(调阅) in vault use too."""

from __future__ import annotations

from datetime import date

from vault.workdays.service import PROVISIONAL_REASON as PROVISIONAL_REASON
from vault.workdays.service import NoticeYear as NoticeYear
from vault.workdays.service import WorkingCalendar, calendar_covers

LIBRARY_CALENDAR = WorkingCalendar()


def is_working_day(day: date) -> bool:
    """Return whether day is a working day by chinese_calendar alone (weekdays beyond its years)."""
    return LIBRARY_CALENDAR.is_working_day(day)


def add_working_days(start: date, count: int) -> date:
    """Return the date `count` working days after start by chinese_calendar alone."""
    return LIBRARY_CALENDAR.add_working_days(start, count)


def fallback_years(start: date, end: date) -> list[int]:
    """Return the years between start and end for which chinese_calendar has no data."""
    return [year for year in range(start.year, end.year + 1) if not calendar_covers(year)]


def working_days_between(start: date, end: date) -> int:
    """Return the working days after start up to and including end by chinese_calendar alone."""
    return LIBRARY_CALENDAR.working_days_between(start, end)
