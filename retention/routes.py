"""HTTP routes for retention (保存期限), legal holds, reclassification and disposition (销毁)."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter, Response

from retention import disposition, holds, holidays, policy_approval, reclassification, recovery, service
from retention.models import DisposalStatus, PolicyChangeRequest
from retention.report import build_report, list_archiving_deadlines
from retention.schemas import (
    ArchivingLine,
    CalendarYearPublic,
    CalendarYearSummary,
    CertificatePublic,
    DisposalCancel,
    DisposalCreate,
    DisposalPublic,
    HoldCreate,
    HoldPublic,
    HoldRelease,
    HolidayNoticeIn,
    MarkerCreate,
    PolicyChange,
    PolicyRequestPublic,
    PolicyRequestReject,
    PolicyVersionPublic,
    ReclassificationCreate,
    ReclassificationPublic,
    ReportPublic,
    RetentionPublic,
)
from vault.api.deps import ActorDep, ContextDep, SessionDep
from vault.api.errors import SIGNED_IN, error_responses
from vault.db import utcnow
from vault.errors import InvalidInput

router = APIRouter(prefix="/api/retention", tags=["retention"], responses=SIGNED_IN)


@router.get("/report", response_model=ReportPublic)
def report(session: SessionDep, actor: ActorDep, context: ContextDep) -> ReportPublic:
    """What is due, coming due, held, overdue for archiving (归档), and failed fixity."""
    built = build_report(session=session, actor=actor, now=utcnow(), zone=context.settings.zone)
    return ReportPublic.model_validate(asdict(built))


@router.get("/archiving-deadlines", response_model=list[ArchivingLine])
def archiving_deadlines(session: SessionDep, actor: ActorDep, context: ContextDep) -> list[ArchivingLine]:
    """Every closed case's archiving deadline (归档期限) in working days; provisional ones say why."""
    lines = list_archiving_deadlines(session=session, actor=actor, now=utcnow(), zone=context.settings.zone)
    return [ArchivingLine.model_validate(asdict(line)) for line in lines]


@router.get("/calendar", response_model=list[CalendarYearSummary])
def calendar_years(session: SessionDep, actor: ActorDep) -> list[CalendarYearSummary]:
    """The years whose holidays are known: loaded by the agency, or in chinese_calendar."""
    return [CalendarYearSummary.model_validate(y) for y in holidays.known_years(session=session, actor=actor)]


@router.get("/calendar/{year}", response_model=CalendarYearPublic, responses=error_responses(404))
def calendar_year(year: int, session: SessionDep, actor: ActorDep) -> CalendarYearPublic:
    """One year's weekdays off and working weekends, and where they come from."""
    return CalendarYearPublic.model_validate(holidays.describe_year(session=session, actor=actor, year=year))


@router.post("/calendar", response_model=CalendarYearPublic, status_code=201, responses=error_responses(409))
def load_calendar(body: HolidayNoticeIn, session: SessionDep, actor: ActorDep) -> CalendarYearPublic:
    """Load one year of the State Council's holiday notice (admin or records manager); logged."""
    notice = holidays.parse_notice(body.model_dump())
    holidays.load_holiday_year(session=session, actor=actor, notice=notice, now=utcnow())
    session.commit()
    return CalendarYearPublic.model_validate(holidays.describe_year(session=session, actor=actor, year=notice.year))


@router.put("/calendar/{year}", response_model=CalendarYearPublic, responses=error_responses(409))
def replace_calendar(year: int, body: HolidayNoticeIn, session: SessionDep, actor: ActorDep) -> CalendarYearPublic:
    """Load or replace the notice of the year named in the path."""
    if body.year != year:
        raise InvalidInput(f"the notice is for {body.year}, not {year}", details={"year": body.year})
    return load_calendar(body, session, actor)


@router.get("/policy", response_model=list[PolicyVersionPublic])
def policy_history(session: SessionDep, actor: ActorDep) -> list[PolicyVersionPublic]:
    """Every policy version, oldest first (none: the shipped defaults apply)."""
    return [PolicyVersionPublic.model_validate(v) for v in service.policy_history(session=session, actor=actor)]


@router.post("/policy", response_model=PolicyVersionPublic | PolicyRequestPublic, status_code=201,
             responses={202: {"model": PolicyRequestPublic, "description": "shortens a default: awaits approval"},
                        **error_responses(409)})
def set_policy(body: PolicyChange, session: SessionDep, actor: ActorDep,
               response: Response) -> PolicyVersionPublic | PolicyRequestPublic:
    """Add a policy version (201); one that shortens a retention default waits for a second person (202)."""
    now = utcnow()
    row = service.set_policy(session=session, actor=actor, changes=body.changes,
                             effective_from=body.effective_from or now, note=body.note, now=now)
    session.commit()
    if isinstance(row, PolicyChangeRequest):
        response.status_code = 202
        return PolicyRequestPublic.model_validate(row)
    return PolicyVersionPublic.model_validate(row)


@router.get("/policy/requests", response_model=list[PolicyRequestPublic])
def policy_requests(session: SessionDep, actor: ActorDep, pending_only: bool = True) -> list[PolicyRequestPublic]:
    """Policy changes that shorten a retention default, waiting for (or decided by) a second person."""
    rows = policy_approval.list_policy_requests(session=session, actor=actor, pending_only=pending_only)
    return [PolicyRequestPublic.model_validate(r) for r in rows]


@router.post("/policy/requests/{request_id}/approve", response_model=PolicyVersionPublic, status_code=201,
             responses=error_responses(404, 409))
def approve_policy_change(request_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> PolicyVersionPublic:
    """Approve a shortening (a second person): it becomes a policy version."""
    row = policy_approval.approve_policy_change(session=session, actor=actor, request_id=request_id, now=utcnow())
    session.commit()
    return PolicyVersionPublic.model_validate(row)


@router.post("/policy/requests/{request_id}/reject", response_model=PolicyRequestPublic,
             responses=error_responses(404, 409))
def reject_policy_change(request_id: uuid.UUID, body: PolicyRequestReject, session: SessionDep,
                         actor: ActorDep) -> PolicyRequestPublic:
    """Reject (or withdraw) a pending shortening."""
    row = policy_approval.reject_policy_change(session=session, actor=actor, request_id=request_id,
                                               reason=body.reason, now=utcnow())
    session.commit()
    return PolicyRequestPublic.model_validate(row)


@router.get("/evidence/{evidence_id}", response_model=RetentionPublic, responses=error_responses(404))
def get_retention(evidence_id: uuid.UUID, session: SessionDep, actor: ActorDep,
                  context: ContextDep) -> RetentionPublic:
    """A record's retention, with the reason it is kept."""
    state = service.get_retention(session=session, actor=actor, evidence_id=evidence_id, now=utcnow(),
                                  zone=context.settings.zone)
    session.commit()
    return RetentionPublic.model_validate(state)


@router.post("/markers", status_code=201, responses=error_responses(404, 409))
def mark(body: MarkerCreate, session: SessionDep, actor: ActorDep, context: ContextDep) -> dict[str, int]:
    """Mark a record or a case for long-term preservation (长期保存)."""
    marker = service.mark_long_term(session=session, actor=actor, kind=body.kind, note=body.note, now=utcnow(),
                                    store=context.store, evidence_id=body.evidence_id, case_id=body.case_id,
                                    zone=context.settings.zone)
    session.commit()
    return {"id": marker.id}


@router.get("/holds", response_model=list[HoldPublic])
def list_holds(session: SessionDep, actor: ActorDep, active_only: bool = True) -> list[HoldPublic]:
    """Legal holds, newest first."""
    return [HoldPublic.model_validate(h) for h in holds.list_holds(session=session, actor=actor,
                                                                    active_only=active_only)]


@router.post("/holds", response_model=HoldPublic, status_code=201, responses=error_responses(404, 409))
def place_hold(body: HoldCreate, session: SessionDep, actor: ActorDep, context: ContextDep) -> HoldPublic:
    """Place a legal hold on a record or a whole case."""
    hold = holds.place_hold(session=session, actor=actor, reason=body.reason, now=utcnow(), store=context.store,
                            evidence_id=body.evidence_id, case_id=body.case_id, zone=context.settings.zone)
    session.commit()
    return HoldPublic.model_validate(hold)


@router.post("/holds/{hold_id}/release", response_model=HoldPublic, responses=error_responses(404, 409))
def release_hold(hold_id: uuid.UUID, body: HoldRelease, session: SessionDep, actor: ActorDep,
                 context: ContextDep) -> HoldPublic:
    """Release a legal hold."""
    hold = holds.release_hold(session=session, actor=actor, hold_id=hold_id, reason=body.reason, now=utcnow(),
                              store=context.store, zone=context.settings.zone)
    session.commit()
    return HoldPublic.model_validate(hold)


@router.post("/evidence/{evidence_id}/reclassify", response_model=ReclassificationPublic, status_code=201,
             responses=error_responses(404, 409))
def reclassify(evidence_id: uuid.UUID, body: ReclassificationCreate, session: SessionDep, actor: ActorDep,
               context: ContextDep) -> ReclassificationPublic:
    """Reclassify a record; a shortening stays pending until a second person approves it."""
    request = reclassification.request_reclassification(
        session=session, actor=actor, evidence_id=evidence_id, to_class=body.to_class, reason=body.reason,
        now=utcnow(), store=context.store, zone=context.settings.zone)
    session.commit()
    return ReclassificationPublic.model_validate(request)


@router.post("/reclassifications/{request_id}/approve", response_model=RetentionPublic,
             responses=error_responses(404, 409))
def approve_reclassification(request_id: uuid.UUID, session: SessionDep, actor: ActorDep,
                             context: ContextDep) -> RetentionPublic:
    """Approve a pending shortening (a second person)."""
    state = reclassification.approve_reclassification(session=session, actor=actor, request_id=request_id,
                                                      now=utcnow(), store=context.store, zone=context.settings.zone)
    session.commit()
    return RetentionPublic.model_validate(state)


@router.get("/disposals", response_model=list[DisposalPublic])
def list_disposals(session: SessionDep, actor: ActorDep, status: DisposalStatus | None = None) -> list[DisposalPublic]:
    """Disposal requests of one status; by default the open ones (awaiting approval, or pending destruction)."""
    rows = disposition.list_requests(session=session, actor=actor, status=status)
    return [DisposalPublic.model_validate(r) for r in rows]


@router.post("/disposals", response_model=DisposalPublic, status_code=201, responses=error_responses(404, 409))
def propose_disposal(body: DisposalCreate, session: SessionDep, actor: ActorDep,
                     context: ContextDep) -> DisposalPublic:
    """Propose destroying a due record (records manager)."""
    request = disposition.propose_disposal(session=session, actor=actor, evidence_id=body.evidence_id,
                                           reason=body.reason, now=utcnow(), store=context.store,
                                           zone=context.settings.zone)
    session.commit()
    return DisposalPublic.model_validate(request)


@router.post("/disposals/{request_id}/approve", response_model=DisposalPublic,
             responses={202: {"model": DisposalPublic, "description": "pending destruction: cancellable until "
                                                                      "destroy_after"},
                        **error_responses(404, 409)})
def approve_disposal(request_id: uuid.UUID, session: SessionDep, actor: ActorDep, context: ContextDep,
                     response: Response) -> DisposalPublic:
    """Approve a disposal (a second person): pending destruction for the recovery window (202), or, with no
    window configured, carried out at once (200; the certificate is at /certificates/{evidence_id})."""
    request = disposition.approve_disposal(session=session, actor=actor, request_id=request_id, now=utcnow(),
                                           store=context.store, signer=context.signer,
                                           recovery_days=context.settings.disposal_recovery_days,
                                           zone=context.settings.zone)
    session.commit()
    if request.status is DisposalStatus.PENDING_DESTRUCTION:
        response.status_code = 202
    return DisposalPublic.model_validate(request)


@router.post("/disposals/{request_id}/cancel", response_model=DisposalPublic, responses=error_responses(404, 409))
def cancel_disposal(request_id: uuid.UUID, body: DisposalCancel, session: SessionDep,
                    actor: ActorDep) -> DisposalPublic:
    """Cancel a disposal not carried out yet (records manager, with a reason): the record is kept."""
    request = recovery.cancel_disposal(session=session, actor=actor, request_id=request_id, reason=body.reason,
                                       now=utcnow())
    session.commit()
    return DisposalPublic.model_validate(request)


@router.get("/certificates/{evidence_id}", response_model=CertificatePublic, responses=error_responses(404))
def get_certificate(evidence_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> CertificatePublic:
    """The disposal certificate of a destroyed record."""
    return CertificatePublic.model_validate(disposition.get_certificate(session=session, actor=actor,
                                                                        evidence_id=evidence_id))
