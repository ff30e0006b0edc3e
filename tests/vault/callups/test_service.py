"""Call-ups (调阅) for filing review: due in 5 working days, fulfilled by exports, reported when overdue."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.conftest import Person
from tests.vault.callups.conftest import MakeExport
from tests.vault.exports.conftest import CASE_NUMBER, World
from vault.callups.service import (
    CallUpInput,
    CallUpState,
    CallUpView,
    fulfil_callup,
    list_callups,
    register_callup,
)
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.errors import Conflict, InvalidInput, PermissionDenied
from vault.exports.models import ExportPurpose
from vault.workdays.models import HolidayCalendarYear

ZONE = ZoneInfo("Asia/Shanghai")
# Received on Monday 29 September 2025: the National Day holiday (1-8 October) does not count, the make-up
# working Saturday 11 October does.
RECEIVED = date(2025, 9, 29)
NOTICE = CallUpInput("安徽省应急管理厅", "皖应急备调〔2025〕3号", [CASE_NUMBER], RECEIVED, None, "重大行政处罚备案审查")


def _register(context: VaultContext, who: Person, now: datetime, notice: CallUpInput = NOTICE) -> uuid.UUID:
    with context.sessions() as session:
        view = register_callup(session=session, actor=who.actor, notice=notice, working_days=5, now=now, zone=ZONE)
        session.commit()
        return view.callup.id


def _views(context: VaultContext, world: World, now: datetime, state: CallUpState | None = None) -> list[CallUpView]:
    with context.sessions() as session:
        return list(list_callups(session=session, actor=world.auditor.actor, now=now, zone=ZONE, state=state))


def test_due_date_is_five_working_days_on_the_holiday_calendar(context: VaultContext, world: World) -> None:
    # Case materials are due within 5 working days of the call-up notice (`001` 备案规定 第十五条).
    now = datetime(2025, 9, 29, 8, 0, tzinfo=UTC)
    callup_id = _register(context, world.manager, now)
    (view,) = _views(context, world, now)
    assert view.due_on == date(2025, 10, 13) and view.state == CallUpState.OPEN
    assert not view.provisional
    with context.sessions() as session:
        event = session.scalars(select(CustodyEvent).where(CustodyEvent.subject_id == str(callup_id))).one()
    assert event.action == CustodyAction.CALLUP_REGISTERED and event.details["due_on"] == "2025-10-13"
    assert event.details["document_number"] == "皖应急备调〔2025〕3号"
    with pytest.raises(Conflict, match="already registered"):
        _register(context, world.manager, now)


def test_due_date_in_a_year_without_holiday_data_is_provisional(context: VaultContext, world: World) -> None:
    # Deadlines in working days are never silently wrong: a year nobody knows is provisional (issue 12 item 6).
    now = datetime(2027, 9, 30, 8, 0, tzinfo=UTC)
    notice = CallUpInput("安徽省应急管理厅", "皖应急备调〔2027〕1号", [CASE_NUMBER], date(2027, 9, 30))
    _register(context, world.manager, now, notice)
    (view,) = _views(context, world, now)
    assert view.provisional and "2027" in (view.provisional_reason or "")
    assert view.due_on == date(2027, 10, 7)  # weekdays only
    with context.sessions() as session:
        session.add(HolidayCalendarYear(year=2027, holidays=["2027-10-01", "2027-10-04", "2027-10-05",
                                                             "2027-10-06", "2027-10-07"], working_days=[],
                                        source="国务院办公厅通知 (test)", loaded_by="archive", loaded_at=now))
        session.commit()
    (view,) = _views(context, world, now)
    assert not view.provisional and view.due_on == date(2027, 10, 14)  # 1 and 4-7 October off


def test_overdue_call_ups_are_reported_until_fulfilled(
    context: VaultContext, world: World, make_export: MakeExport
) -> None:
    # Reported when overdue (`001` 备案规定 第十五条): open past the due date, with the working days late.
    callup_id = _register(context, world.manager, datetime(2025, 9, 29, 8, 0, tzinfo=UTC))
    assert _views(context, world, datetime(2025, 10, 13, 8, 0, tzinfo=UTC), CallUpState.OVERDUE) == []
    late = datetime(2025, 10, 15, 8, 0, tzinfo=UTC)
    (overdue,) = _views(context, world, late, CallUpState.OVERDUE)
    assert overdue.working_days_overdue == 2
    export_id = make_export(late)
    with context.sessions() as session:
        done = fulfil_callup(session=session, actor=world.manager.actor, callup_id=callup_id,
                             export_ids=[export_id], now=late, zone=ZONE)
        session.commit()
    assert done.state == CallUpState.FULFILLED and done.fulfilled_late and done.callup.export_ids == [str(export_id)]
    assert _views(context, world, late, CallUpState.OVERDUE) == []
    with context.sessions() as session:
        event = session.scalars(select(CustodyEvent).where(
            CustodyEvent.action == CustodyAction.CALLUP_FULFILLED.value)).one()
    assert event.details["exports"] == [str(export_id)] and event.details["late"] is True


def test_fulfilment_needs_filing_review_exports_holding_every_record_called_up(
    context: VaultContext, world: World, make_export: MakeExport
) -> None:
    # Fulfilled by an export (issue 12 item 10) that covers what was requested: the whole case file here.
    now = datetime(2025, 9, 30, 8, 0, tzinfo=UTC)
    callup_id = _register(context, world.manager, now)
    court = make_export(now, purpose=ExportPurpose.COURT)
    partial = make_export(now, records=world.records)

    def fulfil(*export_ids: uuid.UUID) -> None:
        with context.sessions() as session:
            fulfil_callup(session=session, actor=world.manager.actor, callup_id=callup_id,
                          export_ids=list(export_ids), now=now, zone=ZONE)
            session.commit()

    with pytest.raises(InvalidInput, match="not for filing review"):
        fulfil(court)
    with pytest.raises(InvalidInput, match=str(world.secret)) as missing:
        fulfil(partial)
    assert missing.value.details["missing"] == {CASE_NUMBER: [str(world.secret)]}
    fulfil(partial, make_export(now, records=[world.secret]))
    with pytest.raises(Conflict, match="already fulfilled"):
        fulfil(partial)


@pytest.mark.parametrize("role", ["officer", "approver", "auditor"])
def test_only_records_managers_register_and_fulfil(context: VaultContext, world: World, role: str) -> None:
    # Call-ups are handled by records managers (档案管理); auditors read them; nobody else touches them.
    who = {"officer": world.officer, "approver": world.approver, "auditor": world.auditor}[role]
    with pytest.raises(PermissionDenied):
        _register(context, who, datetime(2025, 9, 29, 8, 0, tzinfo=UTC))
    if role != "auditor":
        with context.sessions() as session, pytest.raises(PermissionDenied):
            list_callups(session=session, actor=who.actor, now=datetime.now(UTC), zone=ZONE)


def test_bad_notices_are_refused(context: VaultContext, world: World) -> None:
    now = datetime(2025, 9, 29, 8, 0, tzinfo=UTC)
    for notice, message in (
        (CallUpInput(" ", "x", [CASE_NUMBER]), "department"),
        (CallUpInput("厅", "x", []), "at least one case"),
        (CallUpInput("厅", "x", [CASE_NUMBER], date(2025, 10, 1)), "after today"),
        (CallUpInput("厅", "x", [CASE_NUMBER], None, [world.other_case_record]), "not a record of the cases"),
    ):
        with pytest.raises(InvalidInput, match=message):
            _register(context, world.manager, now, notice)
