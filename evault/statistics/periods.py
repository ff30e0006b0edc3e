"""Report periods: a year, a quarter or a month of days in the agency's zone, both ends included."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from vault.errors import InvalidInput


class PeriodKind(StrEnum):
    """How long a report period is."""

    YEAR = "year"
    QUARTER = "quarter"
    MONTH = "month"


@dataclass(frozen=True)
class Period:
    """A report period: its first and last day (agency days, both included)."""

    kind: PeriodKind
    year: int
    number: int | None  # the quarter (1-4) or month (1-12); None for a year
    first_day: date
    last_day: date

    @property
    def label(self) -> str:
        """Return the period as written in a report heading ("2025", "2025-Q1", "2025-03")."""
        if self.kind is PeriodKind.QUARTER:
            return f"{self.year}-Q{self.number}"
        if self.kind is PeriodKind.MONTH:
            return f"{self.year}-{self.number:02d}"
        return str(self.year)

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """Return the period as UTC instants: from the first day's local midnight to the one after the last day."""
        start = datetime.combine(self.first_day, time(0), tzinfo=zone)
        end = datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def months(self) -> list[tuple[int, int]]:
        """Return the (year, month) pairs the period covers, in order."""
        first = self.first_day.month
        return [(self.year, month) for month in range(first, self.last_day.month + 1)]


def _month_end(year: int, month: int) -> date:
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return following - timedelta(days=1)


def make_period(kind: PeriodKind, year: int, number: int | None = None) -> Period:
    """Return the year, quarter or month asked for; refuse numbers out of range."""
    if not 2000 <= year <= 2100:
        raise InvalidInput("年份应在 2000 至 2100 之间 (the year must be between 2000 and 2100)")
    if kind is PeriodKind.YEAR:
        return Period(kind, year, None, date(year, 1, 1), date(year, 12, 31))
    if kind is PeriodKind.QUARTER:
        if number is None or not 1 <= number <= 4:
            raise InvalidInput("季度应为 1 至 4 (the quarter must be 1 to 4)")
        first_month = 3 * number - 2
        return Period(kind, year, number, date(year, first_month, 1), _month_end(year, first_month + 2))
    if number is None or not 1 <= number <= 12:
        raise InvalidInput("月份应为 1 至 12 (the month must be 1 to 12)")
    return Period(kind, year, number, date(year, number, 1), _month_end(year, number))

