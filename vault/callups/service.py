"""Call-ups (调阅): register a higher-level department's notice, fulfil it with exports, report overdue ones.

The requested materials are due within 5 working days of receiving the notice (`001` 备案规定 第十五条).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.callups.models import CallUp, CallUpCase, CallUpStatus
from vault.cases.models import Case
from vault.cases.service import find_case
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import Conflict, InvalidInput, NotFound
from vault.evidence.models import Evidence, EvidenceStatus
from vault.exports.models import ExportCopy, ExportPurpose
from vault.identities.actor import Actor
from vault.identities.authz import Permission, has_permission, require
from vault.workdays.service import WorkingCalendar, working_calendar

RULE = "001 备案规定 第十五条"


class CallUpState(StrEnum):
    """Where a call-up stands today."""

    OPEN = "open"
    OVERDUE = "overdue"
    FULFILLED = "fulfilled"


@dataclass(frozen=True)
class CallUpView:
    """A call-up with its due date as the working-day calendar counts it now."""

    callup: CallUp
    due_on: date
    state: CallUpState
    working_days_overdue: int
    fulfilled_late: bool
    provisional_reason: str | None

    @property
    def provisional(self) -> bool:
        """Return whether the due date rests on a year without holiday data."""
        return self.provisional_reason is not None


@dataclass(frozen=True)
class CallUpInput:
    """A call-up notice as received (调阅案卷材料通知)."""

    department: str
    document_number: str
    case_numbers: Sequence[str]
    received_on: date | None = None
    evidence_ids: Sequence[uuid.UUID] | None = None
    note: str = ""


def _view(callup: CallUp, calendar: WorkingCalendar, today: date, zone: ZoneInfo) -> CallUpView:
    due = calendar.add_working_days(callup.received_on, callup.working_days)
    done = callup.fulfilled_at.astimezone(zone).date() if callup.fulfilled_at else None
    end = done or today
    # As for archiving deadlines: late by working days, so a weekend right after the due date is not yet late.
    late = max(0, calendar.working_days_between(due, end))
    state = CallUpState.FULFILLED if done else CallUpState.OVERDUE if late else CallUpState.OPEN
    return CallUpView(
        callup=callup,
        due_on=due,
        state=state,
        working_days_overdue=0 if done else late,
        fulfilled_late=bool(done and late),
        provisional_reason=calendar.provisional_reason(callup.received_on, max(due, end)),
    )


def _text(value: str, what: str, limit: int) -> str:
    cleaned = " ".join(value.split())
    if not cleaned or len(cleaned) > limit:
        raise InvalidInput(f"name the {what} in 1-{limit} characters")
    return cleaned


def _requested_records(session: Session, cases: Sequence[Case], evidence_ids: Sequence[uuid.UUID]) -> list[str]:
    case_ids = {c.id for c in cases}
    for evidence_id in evidence_ids:
        evidence = session.get(Evidence, evidence_id)
        if evidence is None or evidence.case_id not in case_ids:
            raise InvalidInput(f"evidence record {evidence_id} is not a record of the cases called up",
                               details={"evidence_id": str(evidence_id)})
    return [str(i) for i in dict.fromkeys(evidence_ids)]


def register_callup(
    *, session: Session, actor: Actor, notice: CallUpInput, working_days: int, now: datetime, zone: ZoneInfo
) -> CallUpView:
    """Register a call-up notice and its due date (5 working days from receipt by default), logged."""
    require(actor, Permission.MANAGE_CALLUPS)
    today = now.astimezone(zone).date()
    received = notice.received_on or today
    if received > today:
        raise InvalidInput(f"the notice cannot have been received on {received}, after today ({today})")
    department = _text(notice.department, "requesting department (调阅机关)", 256)
    document_number = _text(notice.document_number, "document number (文号)", 128)
    if not notice.case_numbers:
        raise InvalidInput("name at least one case (案号) called up")
    cases = list({c.id: c for c in (find_case(session=session, case_number=n) for n in notice.case_numbers)}.values())
    taken = session.scalar(select(CallUp).where(CallUp.department == department,
                                                CallUp.document_number == document_number))
    if taken is not None:
        raise Conflict(f"call-up {document_number} from {department} is already registered ({taken.id})",
                       details={"callup_id": str(taken.id)})
    callup = CallUp(
        department=department, document_number=document_number, received_on=received, working_days=working_days,
        evidence_ids=_requested_records(session, cases, notice.evidence_ids) if notice.evidence_ids else None,
        note=notice.note.strip(), registered_by=actor.name, registered_at=now,
        cases=[CallUpCase(case_id=c.id, case=c) for c in cases],
    )
    session.add(callup)
    session.flush()
    view = _view(callup, working_calendar(session), today, zone)
    record_event(session=session, actor=actor, action=CustodyAction.CALLUP_REGISTERED, subject_type="callup",
                 subject_id=callup.id, case_id=cases[0].id if len(cases) == 1 else None, now=now,
                 details={"department": department, "document_number": document_number,
                          "case_numbers": callup.case_numbers, "records": callup.evidence_ids,
                          "received_on": received.isoformat(), "working_days": working_days,
                          "due_on": view.due_on.isoformat(), "provisional": view.provisional, "rule": RULE})
    return view


def _readable(actor: Actor) -> None:
    if not has_permission(actor, Permission.MANAGE_CALLUPS):
        require(actor, Permission.READ_AUDIT_LOG)


def get_callup(*, session: Session, actor: Actor, callup_id: uuid.UUID, now: datetime, zone: ZoneInfo) -> CallUpView:
    """Return one call-up with its due date and state (records managers and auditors)."""
    _readable(actor)
    callup = session.get(CallUp, callup_id)
    if callup is None:
        raise NotFound(f"no call-up {callup_id}")
    return _view(callup, working_calendar(session), now.astimezone(zone).date(), zone)


def list_callups(
    *, session: Session, actor: Actor, now: datetime, zone: ZoneInfo, state: CallUpState | None = None
) -> list[CallUpView]:
    """List call-ups by due date, optionally only those in one state (open, overdue or fulfilled)."""
    _readable(actor)
    query = select(CallUp).order_by(CallUp.received_on, CallUp.registered_at)
    if state is not None:
        stored = CallUpStatus.FULFILLED if state == CallUpState.FULFILLED else CallUpStatus.OPEN
        query = query.where(CallUp.status == stored)
    calendar, today = working_calendar(session), now.astimezone(zone).date()
    views = [_view(c, calendar, today, zone) for c in session.scalars(query.limit(5000))]
    return sorted((v for v in views if state is None or v.state == state), key=lambda v: (v.due_on, v.callup.id))


def _uncovered(session: Session, callup: CallUp, exports: Sequence[ExportCopy]) -> dict[str, list[str]]:
    """Return, per case number, the requested records none of the exports contains."""
    sent = {i for e in exports for i in e.evidence_ids}
    missing: dict[str, list[str]] = {}
    for link in callup.cases:
        query = select(Evidence.id).where(Evidence.case_id == link.case_id)
        if callup.evidence_ids is not None:
            query = query.where(Evidence.id.in_([uuid.UUID(i) for i in callup.evidence_ids]))
        else:
            query = query.where(Evidence.status == EvidenceStatus.STORED)
        if absent := sorted(i for i in map(str, session.scalars(query)) if i not in sent):
            missing[link.case.case_number] = absent
    return missing


def _exports_for(session: Session, callup: CallUp, export_ids: Sequence[uuid.UUID], zone: ZoneInfo) -> list[ExportCopy]:
    if not export_ids:
        raise InvalidInput("name the export(s) (证据包) that fulfil the call-up")
    cases = {link.case_id for link in callup.cases}
    exports = []
    for export_id in dict.fromkeys(export_ids):
        export = session.get(ExportCopy, export_id)
        if export is None:
            raise NotFound(f"no export {export_id}", details={"export_id": str(export_id)})
        problem = None
        if export.purpose != ExportPurpose.FILING_REVIEW:
            problem = f"was made for {export.purpose.value}, not for filing review (filing-review)"
        elif export.case_id not in cases:
            problem = "is of a case this call-up does not ask for"
        elif export.created_at.astimezone(zone).date() < callup.received_on:
            problem = f"was made before the notice was received on {callup.received_on}"
        if problem:
            raise InvalidInput(f"export {export_id} {problem}", details={"export_id": str(export_id)})
        exports.append(export)
    return exports


def fulfil_callup(
    *, session: Session, actor: Actor, callup_id: uuid.UUID, export_ids: Sequence[uuid.UUID], now: datetime,
    zone: ZoneInfo,
) -> CallUpView:
    """Mark a call-up fulfilled by filing-review exports that together hold every record it asks for, logged."""
    require(actor, Permission.MANAGE_CALLUPS)
    callup = session.get(CallUp, callup_id)
    if callup is None:
        raise NotFound(f"no call-up {callup_id}")
    if callup.status == CallUpStatus.FULFILLED:
        raise Conflict(f"call-up {callup.id} was already fulfilled by export(s) {', '.join(callup.export_ids)}")
    exports = _exports_for(session, callup, export_ids, zone)
    if missing := _uncovered(session, callup, exports):
        listing = "; ".join(f"{case}: {', '.join(ids)}" for case, ids in missing.items())
        raise InvalidInput(f"the export(s) do not hold everything call-up {callup.document_number} asks for: {listing}",
                           details={"missing": missing})
    callup.status, callup.fulfilled_at, callup.fulfilled_by = CallUpStatus.FULFILLED, now, actor.name
    callup.export_ids = [str(e.id) for e in exports]
    session.flush()
    view = _view(callup, working_calendar(session), now.astimezone(zone).date(), zone)
    record_event(session=session, actor=actor, action=CustodyAction.CALLUP_FULFILLED, subject_type="callup",
                 subject_id=callup.id, case_id=exports[0].case_id if len(callup.cases) == 1 else None, now=now,
                 details={"document_number": callup.document_number, "exports": callup.export_ids,
                          "bundle_sha256": [e.bundle_sha256 for e in exports], "due_on": view.due_on.isoformat(),
                          "late": view.fulfilled_late, "provisional": view.provisional, "rule": RULE})
    return view
