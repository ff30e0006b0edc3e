"""The agency's holiday calendar: load a year of the State Council's notice (节假日安排), read it back, and build
the working-day calendar every deadline in working days (工作日) is counted on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import InvalidInput, NotFound
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.workdays.models import HolidayCalendarYear
from vault.workdays.service import calendar_covers
from vault.workdays.service import working_calendar as working_calendar

log = structlog.get_logger(__name__)

NOTICE_KEYS = frozenset({"year", "source", "holidays", "working_days"})
FIRST_YEAR, LAST_YEAR = 2000, 2200
LIBRARY_YEARS = range(2004, 2100)


@dataclass(frozen=True)
class HolidayNotice:
    """One year of the notice as checked: days off and make-up working days (调休上班), in date order."""

    year: int
    source: str
    holidays: tuple[date, ...]
    working_days: tuple[date, ...]


def _dates(entry: Any, year: int, name: str) -> list[date]:
    if not isinstance(entry, str):
        raise InvalidInput(f"{name}: each entry is a date YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD",
                           details={"entry": entry})
    first_text, _, last_text = entry.partition("..")
    try:
        first = date.fromisoformat(first_text.strip())
        last = date.fromisoformat(last_text.strip()) if last_text else first
    except ValueError:
        raise InvalidInput(f"{name}: '{entry}' is not a date YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD",
                           details={"entry": entry}) from None
    if not first <= last <= first + timedelta(days=31):
        raise InvalidInput(f"{name}: range '{entry}' must run forwards and span at most a month")
    if first.year != year or last.year != year:
        raise InvalidInput(f"{name}: '{entry}' is not in {year}, the year this notice is for",
                           details={"entry": entry, "year": year})
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _date_list(data: Mapping[str, Any], name: str, year: int) -> tuple[date, ...]:
    entries = data.get(name, [])
    if not isinstance(entries, list):
        raise InvalidInput(f"{name} must be a list of dates or date ranges")
    return tuple(sorted({day for entry in entries for day in _dates(entry, year, name)}))


def parse_notice(data: Any) -> HolidayNotice:
    """Check a notice given as JSON: year, source, holidays and working_days (dates or 'start..end' ranges)."""
    if not isinstance(data, Mapping):
        raise InvalidInput("a holiday notice is a JSON object with year, source, holidays and working_days")
    if unknown := sorted(set(data) - NOTICE_KEYS):
        raise InvalidInput(f"unknown keys in the holiday notice: {', '.join(unknown)}",
                           details={"valid": sorted(NOTICE_KEYS)})
    year, source = data.get("year"), data.get("source")
    if not isinstance(year, int) or isinstance(year, bool) or not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"year must be a whole number from {FIRST_YEAR} to {LAST_YEAR}", details={"year": year})
    if not isinstance(source, str) or not source.strip() or len(source) > 500:
        raise InvalidInput("source must name the notice (1-500 characters), e.g. its title and document number")
    holidays, working = _date_list(data, "holidays", year), _date_list(data, "working_days", year)
    if not holidays:
        raise InvalidInput(f"the notice for {year} lists no holidays")
    if both := sorted(set(holidays) & set(working)):
        raise InvalidInput("dates listed both as holiday and as working day: " + ", ".join(map(str, both)))
    if weekdays := [d for d in working if d.weekday() < 5]:
        raise InvalidInput("make-up working days (调休上班) fall on a Saturday or Sunday; these do not: "
                           + ", ".join(map(str, weekdays)), details={"working_days": list(map(str, weekdays))})
    return HolidayNotice(year, source.strip(), holidays, working)


def parse_notice_text(text: str) -> HolidayNotice:
    """Check a notice file's text (JSON, see docs/holiday-calendar-2025.json)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the holiday notice is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    return parse_notice(data)


def load_holiday_year(*, session: Session, actor: Actor, notice: HolidayNotice, now: datetime) -> HolidayCalendarYear:
    """Store one year of the notice (replacing an earlier load of that year) and log what changed."""
    require(actor, Permission.MANAGE_CALENDAR)
    row = session.get(HolidayCalendarYear, notice.year)
    previous = None if row is None else {"source": row.source, "holidays": row.holidays,
                                         "working_days": row.working_days}
    if row is None:
        row = HolidayCalendarYear(year=notice.year)
        session.add(row)
    row.source, row.loaded_by, row.loaded_at = notice.source, actor.name, now
    row.holidays = [d.isoformat() for d in notice.holidays]
    row.working_days = [d.isoformat() for d in notice.working_days]
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.CALENDAR_LOADED, subject_type="calendar",
                 subject_id=str(notice.year), now=now,
                 details={"year": notice.year, "source": notice.source, "holidays": row.holidays,
                          "working_days": row.working_days, "previous": previous})
    log.info("calendar.loaded", year=notice.year, holidays=len(row.holidays), working_days=len(row.working_days))
    return row


@dataclass(frozen=True)
class CalendarYear:
    """What the vault knows of one year: where its holidays come from, its weekdays off and working weekends."""

    year: int
    source: str | None
    provisional: bool
    holidays: list[date]
    working_days: list[date]
    loaded_by: str | None = None
    loaded_at: datetime | None = None


def describe_year(*, session: Session, actor: Actor, year: int) -> CalendarYear:
    """Return one year as deadlines will count it; a year nothing knows is provisional (weekdays only)."""
    require(actor, Permission.READ_CASES)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise NotFound(f"no calendar for {year}")
    calendar, row = working_calendar(session), session.get(HolidayCalendarYear, year)
    days = [date(year, 1, 1) + timedelta(days=n) for n in range((date(year + 1, 1, 1) - date(year, 1, 1)).days)]
    return CalendarYear(
        year=year, source=calendar.source_of(year), provisional=calendar.source_of(year) is None,
        holidays=[d for d in days if d.weekday() < 5 and not calendar.is_working_day(d)],
        working_days=[d for d in days if d.weekday() >= 5 and calendar.is_working_day(d)],
        loaded_by=row.loaded_by if row else None, loaded_at=row.loaded_at if row else None)


def known_years(*, session: Session, actor: Actor) -> list[CalendarYear]:
    """Return every year whose holidays are known (loaded by the agency or in chinese_calendar), without days."""
    require(actor, Permission.READ_CASES)
    rows = {r.year: r for r in session.scalars(select(HolidayCalendarYear))}
    calendar = working_calendar(session)
    years = sorted(set(rows) | {y for y in LIBRARY_YEARS if calendar_covers(y)})
    return [CalendarYear(year=y, source=calendar.source_of(y), provisional=False, holidays=[], working_days=[],
                         loaded_by=rows[y].loaded_by if y in rows else None,
                         loaded_at=rows[y].loaded_at if y in rows else None) for y in years]
