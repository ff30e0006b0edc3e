"""The agency loads the State Council's holiday notice for a year; deadlines in working days (工作日) follow it,
and where no year's holidays are known the deadline is provisional and every report says so.

Rule: case records are archived within 30 working days of the case closing (`003` 第十九条).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.calendar import NoticeYear, WorkingCalendar
from retention.holidays import load_holiday_year, parse_notice, parse_notice_text, working_calendar
from retention.report import archiving_deadline_report, build_report
from tests.conftest import Person
from tests.retention.conftest import People, new_case
from vault.cases.models import CaseStatus
from vault.cases.service import change_case_status
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.identities.models import Role

DOCS_EXAMPLE = Path(__file__).parents[2] / "docs" / "holiday-calendar-2025.json"
CLOSED = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
TODAY = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
NOTICE_2027: dict[str, Any] = {  # made-up test data in the notice's shape, not the real 2027 notice
    "year": 2027, "source": "test notice for 2027",
    "holidays": ["2027-01-01", "2027-02-05..2027-02-11"], "working_days": ["2027-02-13"]}


def _closed_case(session: Session, people: People) -> None:
    case = new_case(session, people.manager, opened=CLOSED)
    change_case_status(session=session, actor=people.manager.actor, case=case, status=CaseStatus.CLOSED, now=CLOSED)
    session.commit()


def test_the_docs_example_is_the_real_2025_notice_and_matches_chinese_calendar() -> None:
    notice = parse_notice_text(DOCS_EXAMPLE.read_text(encoding="utf-8"))
    calendar = WorkingCalendar({2025: NoticeYear(frozenset(notice.holidays), frozenset(notice.working_days), "")})
    days = [date(2025, 1, 1) + timedelta(days=n) for n in range(365)]
    assert [d for d in days if calendar.is_working_day(d) != chinese_calendar.is_workday(d)] == []


def test_loading_2027_over_http_turns_a_provisional_deadline_into_an_official_one(
        client: TestClient, session: Session, people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("retention.routes.utcnow", lambda: TODAY)
    _closed_case(session, people)
    session.close()
    before = client.get("/api/retention/archiving-deadlines", headers=people.auditor.headers).json()
    assert [(d["deadline"], d["provisional"]) for d in before] == [("2027-01-06", True)]
    assert "no holiday calendar for 2027" in before[0]["provisional_reason"]
    assert client.get("/api/retention/calendar/2027", headers=people.officer.headers).json()["provisional"] is True

    assert client.post("/api/retention/calendar", headers=people.officer.headers,
                       json=NOTICE_2027).status_code == 403
    loaded = client.post("/api/retention/calendar", headers=people.manager.headers, json=NOTICE_2027)
    assert loaded.status_code == 201, loaded.text
    assert loaded.json()["provisional"] is False and loaded.json()["working_days"] == ["2027-02-13"]
    assert loaded.json()["holidays"] == ["2027-01-01", "2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10",
                                         "2027-02-11"]  # weekdays off; the weekend inside is off anyway
    after = client.get("/api/retention/archiving-deadlines", headers=people.auditor.headers).json()
    assert [(d["deadline"], d["provisional"], d["provisional_reason"]) for d in after] == [("2027-01-07", False, None)]

    years = {y["year"]: y for y in client.get("/api/retention/calendar", headers=people.auditor.headers).json()}
    assert years[2027]["source"] == "holiday notice loaded by the agency: test notice for 2027"
    assert years[2027]["loaded_by"] == people.manager.user.name
    assert years[2026]["source"] == "chinese_calendar package" and 2028 not in years
    event = session.scalar(select(CustodyEvent).where(CustodyEvent.action == CustodyAction.CALENDAR_LOADED.value))
    assert event is not None and event.subject_id == "2027" and event.details["working_days"] == ["2027-02-13"]


def test_an_admin_may_replace_a_year_and_the_log_keeps_what_it_replaced(
        client: TestClient, session: Session, people: People, make_person: Callable[..., Person]) -> None:
    admin = make_person(Role.ADMIN)
    first = client.put("/api/retention/calendar/2027", headers=people.manager.headers, json=NOTICE_2027)
    assert first.status_code == 200, first.text
    corrected = {**NOTICE_2027, "source": "corrected test notice", "holidays": ["2027-01-01..2027-01-03"]}
    replaced = client.put("/api/retention/calendar/2027", headers=admin.headers, json=corrected)
    assert replaced.status_code == 200 and replaced.json()["holidays"] == ["2027-01-01"]
    events = list(session.scalars(select(CustodyEvent).where(
        CustodyEvent.action == CustodyAction.CALENDAR_LOADED.value).order_by(CustodyEvent.log_index)))
    assert [e.actor_name for e in events] == [people.manager.user.name, admin.user.name]
    assert events[1].details["previous"]["source"] == "test notice for 2027"
    session.rollback()  # SQLite: end this read transaction before the API writes
    wrong_year = client.put("/api/retention/calendar/2028", headers=admin.headers, json=NOTICE_2027)
    assert wrong_year.status_code == 422 and wrong_year.json()["error"]["code"] == "invalid_input"


@pytest.mark.parametrize(("change", "message"), [
    ({"working_days": ["2027-02-12"]}, "fall on a Saturday or Sunday"),
    ({"holidays": ["2027-01-01", "2028-01-01"]}, "not in 2027"),
    ({"working_days": ["2027-02-06"], "holidays": ["2027-02-06"]}, "both as holiday and as working day"),
    ({"holidays": ["2027-13-01"]}, "not a date"),
    ({"holidays": ["2027-02-11..2027-02-05"]}, "must run forwards"),
    ({"holidays": []}, "lists no holidays"),
    ({"year": 99999}, "year must be"),
    ({"source": " "}, "source must name the notice"),
])
def test_a_wrong_notice_is_a_422_naming_the_problem(client: TestClient, people: People, change: dict[str, Any],
                                                    message: str) -> None:
    refused = client.post("/api/retention/calendar", headers=people.manager.headers, json={**NOTICE_2027, **change})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_input" and message in refused.json()["error"]["message"]
    malformed = client.post("/api/retention/calendar", headers=people.manager.headers, json={"year": "abc"})
    assert malformed.status_code == 422 and "error" in malformed.json()


def test_every_report_with_a_2027_deadline_says_it_is_provisional(
        context: VaultContext, session: Session, people: People) -> None:
    _closed_case(session, people)
    later = datetime(2027, 3, 1, tzinfo=UTC)
    overdue = build_report(session=session, actor=people.auditor.actor, now=later).overdue_archiving
    assert [(d.deadline, d.provisional) for d in overdue] == [(date(2027, 1, 6), True)]
    assert overdue[0].calendar_note == overdue[0].provisional_reason
    assert overdue[0].provisional_reason and "2027" in overdue[0].provisional_reason
    session.rollback()  # SQLite: one writer at a time, and the job opens its own session
    job = archiving_deadline_report(context, now=later).as_dict()
    assert job["outcomes"]["provisional"] == 1 and job["overdue_cases"][0]["provisional"] is True

    load_holiday_year(session=session, actor=people.manager.actor, notice=parse_notice(NOTICE_2027), now=later)
    session.commit()
    official = build_report(session=session, actor=people.auditor.actor, now=later).overdue_archiving
    assert [(d.deadline, d.provisional) for d in official] == [(date(2027, 1, 7), False)]
    assert working_calendar(session).provisional_years(date(2027, 1, 1), date(2028, 1, 1)) == [2028]
