"""The recovery window after a disposal's approval: the record waits as pending destruction, a records manager may
cancel it, a legal hold stops it, and a scheduled job destroys and certifies those whose window has passed."""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.disposition import OPEN_STATUSES, carry_out_disposal
from retention.errors import DispositionRefused, RequestNotPending
from retention.models import DisposalRequest, DisposalStatus, QueueState, RetentionState
from retention.runner import JobSummary, run_per_record
from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.db import utcnow
from vault.errors import InvalidInput, NotFound
from vault.evidence.models import Evidence
from vault.identities.actor import SYSTEM, Actor
from vault.identities.authz import Permission, require

log = structlog.get_logger(__name__)

PAGE = 1000


def cancel_disposal(
    *, session: Session, actor: Actor, request_id: uuid.UUID, reason: str, now: datetime
) -> DisposalRequest:
    """Cancel a disposal not carried out yet (records manager, with a reason): the record is kept as it is."""
    require(actor, Permission.MANAGE_RETENTION)
    if not reason.strip():
        raise InvalidInput("cancelling a disposal needs a reason")
    # Locked, so the destruction job and a cancel never both win: whichever comes second sees the other's outcome.
    request = session.get(DisposalRequest, request_id, with_for_update=True)
    if request is None:
        raise NotFound(f"no disposal request {request_id}")
    if request.status not in OPEN_STATUSES:
        raise RequestNotPending(f"disposal request {request_id} is already {request.status.value}")
    was = request.status
    request.status, request.cancelled_by, request.cancelled_at, request.cancel_reason = (
        DisposalStatus.CANCELLED, actor.name, now, reason.strip())
    state = session.get(RetentionState, request.evidence_id)
    if state is not None:
        state.queue_state = QueueState.KEPT  # the sweep does not queue it again until its retention changes
    session.flush()
    evidence = session.get(Evidence, request.evidence_id)
    record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_DISPOSAL_CANCELLED,
                 subject_type="evidence", subject_id=request.evidence_id,
                 case_id=evidence.case_id if evidence else None, now=now,
                 details={"request_id": str(request.id), "reason": request.cancel_reason, "was": was.value,
                          "destroy_after": request.destroy_after.isoformat() if request.destroy_after else None})
    log.info("retention.disposal_cancelled", evidence_id=str(request.evidence_id), request_id=str(request.id))
    return request


def stop_pending_destruction(*, session: Session, actor: Actor, evidence: Evidence, reason: str,
                             now: datetime) -> DisposalRequest | None:
    """Stop the record's disposal if it is waiting out its recovery window (a hold came); logged as a refusal."""
    request = session.scalar(
        select(DisposalRequest)
        .where(DisposalRequest.evidence_id == evidence.id,
               DisposalRequest.status == DisposalStatus.PENDING_DESTRUCTION)
        .with_for_update())
    if request is None:
        return None
    request.status = DisposalStatus.REJECTED  # a fresh proposal and approval are needed once the reason is gone
    state = session.get(RetentionState, evidence.id)
    if state is not None:
        state.queue_state = QueueState.ACTIVE
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_DISPOSAL_REFUSED, subject_type="evidence",
                 subject_id=evidence.id, case_id=evidence.case_id, now=now,
                 details={"stage": "recovery_window", "reasons": [reason], "request_id": str(request.id)})
    return request


def due_destructions(session: Session, now: datetime, limit: int = PAGE) -> list[uuid.UUID]:
    """Return the records whose approved disposal has waited out its recovery window, earliest first."""
    return list(session.scalars(
        select(DisposalRequest.evidence_id)
        .where(DisposalRequest.status == DisposalStatus.PENDING_DESTRUCTION, DisposalRequest.destroy_after <= now)
        .order_by(DisposalRequest.destroy_after).limit(limit)))


def destroy_due(context: VaultContext, *, now: datetime | None = None) -> JobSummary:
    """Job: destroy and certify every approved disposal whose recovery window has passed, guards checked again."""
    moment = now or utcnow()
    summary = JobSummary(job="disposal_destruction")

    def work(session: Session, evidence: Evidence) -> str:
        request = session.scalar(
            select(DisposalRequest)
            .where(DisposalRequest.evidence_id == evidence.id,
                   DisposalRequest.status == DisposalStatus.PENDING_DESTRUCTION,
                   DisposalRequest.destroy_after <= moment)
            .with_for_update())
        if request is None:
            return "no_longer_pending"  # cancelled or stopped since the list was read
        try:
            carry_out_disposal(session=session, actor=SYSTEM, request=request, now=moment, store=context.store,
                               signer=context.signer, zone=context.settings.zone)
        except DispositionRefused:
            return "refused"  # the request is rejected and the refusal logged; both commit with this record
        return "disposed"

    done: set[uuid.UUID] = set()
    while True:
        with context.sessions() as session:
            batch = [i for i in due_destructions(session, moment) if i not in done]
        if not batch:
            break
        done.update(batch)
        run_per_record(context, summary, batch, work)
    return summary
