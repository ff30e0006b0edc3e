"""Working days (工作日) on the Chinese public-holiday calendar, with make-up working days (调休).

A year's holidays come from the State Council's notice as the agency loaded it, else from the chinese_calendar
package; for a year neither knows, weekdays count and every deadline touching that year is provisional.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.workdays.models import HolidayCalendarYear

PROVISIONAL_REASON = (
    "provisional: no holiday calendar for {years} (no State Council notice loaded by the agency, and none in "
    "chinese_calendar), so Monday-Friday were counted and public holidays and make-up working days (调休) are "
    "missing; load the notice with `evault calendar load FILE`"
)


@lru_cache(maxsize=256)
def calendar_covers(year: int) -> bool:
    """Return whether the installed holiday calendar knows the official holidays of this year."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@dataclass(frozen=True)
class NoticeYear:
    """One year of the State Council's holiday notice: days off on weekdays, working weekend days, and source."""

    holidays: frozenset[date]
    working_days: frozenset[date]
    source: str


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days from the agency's loaded notices first, then chinese_calendar, then weekdays (provisional)."""

    notices: Mapping[int, NoticeYear] = field(default_factory=dict)

    def source_of(self, year: int) -> str | None:
        """Return where the year's holidays come from, or None when nothing knows them."""
        if year in self.notices:
            return f"holiday notice loaded by the agency: {self.notices[year].source}"
        return "chinese_calendar package" if calendar_covers(year) else None

    def is_working_day(self, day: date) -> bool:
        """Return whether day is a working day; for a year nothing knows, weekdays count (provisional)."""
        notice = self.notices.get(day.year)
        if notice is not None:
            if day in notice.working_days:
                return True
            return day not in notice.holidays and day.weekday() < 5
        if calendar_covers(day.year):
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5

    def add_working_days(self, start: date, count: int) -> date:
        """Return the date `count` working days after start (start itself never counts)."""
        day, remaining = start, count
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Return how many working days lie after start up to and including end (negative if end is earlier)."""
        if end < start:
            return -self.working_days_between(end, start)
        return sum(1 for n in range(1, (end - start).days + 1) if self.is_working_day(start + timedelta(days=n)))

    def provisional_years(self, start: date, end: date) -> list[int]:
        """Return the years between start and end whose holidays nothing knows."""
        return [year for year in range(start.year, end.year + 1) if self.source_of(year) is None]

    def provisional_reason(self, start: date, end: date) -> str | None:
        """Return why a count over start..end is provisional, or None when every year is known."""
        years = self.provisional_years(start, end)
        return PROVISIONAL_REASON.format(years=", ".join(map(str, years))) if years else None


def working_calendar(session: Session) -> WorkingCalendar:
    """Return the working-day calendar: the agency's loaded notices over chinese_calendar."""
    rows = session.scalars(select(HolidayCalendarYear))
    return WorkingCalendar({r.year: NoticeYear(frozenset(map(date.fromisoformat, r.holidays)),
                                               frozenset(map(date.fromisoformat, r.working_days)), r.source)
                            for r in rows})
