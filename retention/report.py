"""What the records manager looks at: due, held, overdue for archiving (归档), failed fixity."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.holidays import working_calendar
from retention.models import (
    DisposalRequest,
    DisposalStatus,
    LegalHold,
    QueueState,
    Reclassification,
    RequestStatus,
    RetentionState,
)
from retention.runner import JobSummary
from retention.service import current_policy
from vault.cases.models import Case, CaseStatus
from vault.context import VaultContext
from vault.db import utcnow
from vault.evidence.models import Evidence
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require

LIMIT = 1000


@dataclass(frozen=True)
class RecordLine:
    """One record in a report section."""

    evidence_id: uuid.UUID
    name: str
    case_number: str | None
    retain_until: datetime | None
    note: str


@dataclass(frozen=True)
class ArchivingDeadline:
    """A closed case that must be archived into the case file within N working days (工作日)."""

    case_id: uuid.UUID
    case_number: str
    closed_on: date
    deadline: date
    overdue_working_days: int
    calendar_note: str
    provisional: bool = False
    provisional_reason: str | None = None


@dataclass(frozen=True)
class PendingDestruction:
    """An approved disposal waiting out its recovery window: it can still be cancelled until destroy_after."""

    request_id: uuid.UUID
    evidence_id: uuid.UUID
    name: str
    case_number: str | None
    approved_by: str | None
    destroy_after: datetime
    destroy_after_local: str


@dataclass
class RetentionReport:
    """Every section of `evault retention report`."""

    generated_at: datetime
    due: list[RecordLine] = field(default_factory=list)
    coming_due: list[RecordLine] = field(default_factory=list)
    held: list[RecordLine] = field(default_factory=list)
    overdue_archiving: list[ArchivingDeadline] = field(default_factory=list)
    failed_fixity: list[RecordLine] = field(default_factory=list)
    pending_destruction: list[PendingDestruction] = field(default_factory=list)
    kept: list[RecordLine] = field(default_factory=list)


def archiving_deadlines(session: Session, now: datetime, zone: tzinfo = UTC,
                        *, overdue_only: bool = False) -> list[ArchivingDeadline]:
    """Return the archiving deadline of every closed, not yet archived case (30 working days by default).

    A deadline or overdue count that crosses a year whose holidays nothing knows is marked provisional, with why.
    """
    days = current_policy(session, now).archiving_working_days
    calendar = working_calendar(session)
    today = now.astimezone(zone).date()
    lines = []
    for case in session.scalars(select(Case).where(Case.status == CaseStatus.CLOSED).order_by(Case.closed_at)):
        closed_on = (case.closed_at or case.opened_at).astimezone(zone).date()
        deadline = calendar.add_working_days(closed_on, days)
        overdue = max(0, calendar.working_days_between(deadline, today))
        reason = calendar.provisional_reason(closed_on, max(deadline, today))
        note = reason or "official holiday calendar (法定节假日及调休)"
        if overdue or not overdue_only:
            lines.append(ArchivingDeadline(case.id, case.case_number, closed_on, deadline, overdue, note,
                                           provisional=reason is not None, provisional_reason=reason))
    return lines


def list_archiving_deadlines(*, session: Session, actor: Actor, now: datetime,
                             zone: tzinfo = UTC) -> list[ArchivingDeadline]:
    """Return every closed case's archiving deadline (归档期限), overdue or not."""
    require(actor, Permission.READ_ALL_EVIDENCE_METADATA)
    return archiving_deadlines(session, now, zone)


def _lines(session: Session, where: list[object], note: str | None = None) -> list[RecordLine]:
    rows = session.execute(
        select(RetentionState, Evidence, Case.case_number)
        .join(Evidence, Evidence.id == RetentionState.evidence_id)
        .outerjoin(Case, Case.id == Evidence.case_id)
        .where(*where)  # type: ignore[arg-type]
        .order_by(RetentionState.retain_until).limit(LIMIT)
    ).all()
    return [RecordLine(state.evidence_id, evidence.original_name, number, state.retain_until, note or state.reason)
            for state, evidence, number in rows]


def _held_lines(session: Session) -> list[RecordLine]:
    lines = _lines(session, [RetentionState.held.is_(True)])
    holds = session.scalars(select(LegalHold).where(LegalHold.released_at.is_(None)))
    why = {h.evidence_id or h.case_id: f"held by {h.placed_by} since {h.placed_at.date()}: {h.reason}" for h in holds}
    out = []
    for line in lines:
        evidence = session.get(Evidence, line.evidence_id)
        note = why.get(line.evidence_id) or (why.get(evidence.case_id) if evidence else None) or line.note
        out.append(RecordLine(line.evidence_id, line.name, line.case_number, line.retain_until, note))
    return out


def local_time(moment: datetime, zone: tzinfo) -> str:
    """Return an instant as the agency's wall-clock time with its offset, e.g. 2025-04-07T10:00+08:00."""
    return moment.astimezone(zone).isoformat(timespec="minutes")


def pending_destructions(session: Session, zone: tzinfo = UTC) -> list[PendingDestruction]:
    """Return every approved disposal still in its recovery window, soonest destroyed first."""
    rows = session.execute(
        select(DisposalRequest, Evidence.original_name, Case.case_number)
        .join(Evidence, Evidence.id == DisposalRequest.evidence_id)
        .outerjoin(Case, Case.id == Evidence.case_id)
        .where(DisposalRequest.status == DisposalStatus.PENDING_DESTRUCTION)
        .order_by(DisposalRequest.destroy_after).limit(LIMIT)
    ).all()
    return [PendingDestruction(r.id, r.evidence_id, name, number, r.approved_by, r.destroy_after,
                               local_time(r.destroy_after, zone))
            for r, name, number in rows if r.destroy_after is not None]


def _kept_lines(session: Session, zone: tzinfo) -> list[RecordLine]:
    lines = _lines(session, [RetentionState.queue_state == QueueState.KEPT])
    cancels = session.scalars(select(DisposalRequest)
                              .where(DisposalRequest.status == DisposalStatus.CANCELLED,
                                     DisposalRequest.evidence_id.in_([line.evidence_id for line in lines]))
                              .order_by(DisposalRequest.cancelled_at))
    why = {c.evidence_id: f"disposal cancelled by {c.cancelled_by} at "
                          f"{local_time(c.cancelled_at, zone) if c.cancelled_at else '?'}: {c.cancel_reason}"
           for c in cancels}  # the latest cancellation of a record wins
    return [RecordLine(line.evidence_id, line.name, line.case_number, line.retain_until,
                       why.get(line.evidence_id, line.note)) for line in lines]


def build_report(*, session: Session, actor: Actor, now: datetime, zone: tzinfo = UTC) -> RetentionReport:
    """Assemble the retention report from the stored states (run the sweep first for fresh figures)."""
    require(actor, Permission.READ_ALL_EVIDENCE_METADATA)
    horizon = now + timedelta(days=current_policy(session, now).reminder_days)
    return RetentionReport(
        generated_at=now,
        due=_lines(session, [RetentionState.queue_state.in_([QueueState.DUE, QueueState.PROPOSED]),
                             RetentionState.held.is_(False)]),
        coming_due=_lines(session, [RetentionState.queue_state == QueueState.ACTIVE, RetentionState.held.is_(False),
                                    RetentionState.retain_until > now, RetentionState.retain_until <= horizon]),
        held=_held_lines(session),
        overdue_archiving=archiving_deadlines(session, now, zone, overdue_only=True),
        failed_fixity=_lines(session, [RetentionState.fixity_ok.is_(False)], note="fixity audit failed (flagged)"),
        pending_destruction=pending_destructions(session, zone),
        kept=_kept_lines(session, zone),
    )


def archiving_deadline_report(context: VaultContext, *, now: datetime | None = None) -> JobSummary:
    """Job: log every case overdue for archiving, so the daily summary shows them."""
    moment = now or utcnow()
    summary = JobSummary(job="archiving_deadline_report")
    with context.sessions() as session:
        overdue = archiving_deadlines(session, moment, context.settings.zone, overdue_only=True)
    summary.outcomes["overdue"] = len(overdue)
    summary.outcomes["provisional"] = sum(d.provisional for d in overdue)
    summary.details["overdue_cases"] = [
        {"case_number": d.case_number, "deadline": d.deadline.isoformat(),
         "overdue_working_days": d.overdue_working_days,
         **({"provisional": True, "provisional_reason": d.provisional_reason} if d.provisional else {})}
        for d in overdue[:100]
    ]
    return summary


@dataclass(frozen=True)
class DisposalLine:
    """A disposal request with the record it names, for the two-person queue."""

    request: DisposalRequest
    name: str
    case_number: str | None


@dataclass(frozen=True)
class ReclassificationLine:
    """A reclassification request with the record it names, for the two-person queue."""

    request: Reclassification
    name: str
    case_number: str | None


def disposal_queue(*, session: Session, actor: Actor, statuses: tuple[DisposalStatus, ...],
                   newest_first: bool = False, limit: int = 200) -> list[DisposalLine]:
    """Return disposal requests of these statuses with their records' names and case numbers."""
    require(actor, Permission.READ_ALL_EVIDENCE_METADATA)
    order = DisposalRequest.proposed_at.desc() if newest_first else DisposalRequest.proposed_at
    rows = session.execute(
        select(DisposalRequest, Evidence.original_name, Case.case_number)
        .join(Evidence, Evidence.id == DisposalRequest.evidence_id)
        .outerjoin(Case, Case.id == Evidence.case_id)
        .where(DisposalRequest.status.in_(statuses)).order_by(order).limit(limit)
    ).all()
    return [DisposalLine(request, name, number) for request, name, number in rows]


def reclassification_queue(*, session: Session, actor: Actor, pending_only: bool = True,
                           limit: int = 200) -> list[ReclassificationLine]:
    """Return reclassification requests (by default those waiting for a second person), oldest first."""
    require(actor, Permission.READ_ALL_EVIDENCE_METADATA)
    query = (select(Reclassification, Evidence.original_name, Case.case_number)
             .join(Evidence, Evidence.id == Reclassification.evidence_id)
             .outerjoin(Case, Case.id == Evidence.case_id))
    if pending_only:
        query = query.where(Reclassification.status == RequestStatus.PENDING)
    rows = session.execute(query.order_by(Reclassification.requested_at).limit(limit)).all()
    return [ReclassificationLine(request, name, number) for request, name, number in rows]
