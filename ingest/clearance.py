"""Flag clearance requests: a tag change that would clear a compliance flag waits for a second person.

The uploader (or whoever asked) never decides; an approver does, with a reason. Approving applies the change
and so clears the flags; rejecting leaves tags and flags as they are. Each step is a custody event.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.errors import ClearanceNotPending, SecondPersonRequired
from ingest.models import ClearanceStatus, FlagClearanceRequest
from ingest.retagging import apply_tags
from ingest.rules import IngestRules
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import InvalidInput, NotFound
from vault.evidence.models import Evidence
from vault.evidence.service import can_see_metadata, get_evidence
from vault.identities.actor import Actor
from vault.identities.authz import Permission, has_permission, require


def list_clearance_requests(
    *, session: Session, actor: Actor, pending_only: bool = True, evidence_id: uuid.UUID | None = None,
) -> list[FlagClearanceRequest]:
    """Return the requests on records the actor may see, oldest first (pending ones only by default)."""
    query = select(FlagClearanceRequest).order_by(FlagClearanceRequest.requested_at, FlagClearanceRequest.id)
    if pending_only:
        query = query.where(FlagClearanceRequest.status == ClearanceStatus.PENDING)
    if evidence_id is not None:
        query = query.where(FlagClearanceRequest.evidence_id == evidence_id)
    if not has_permission(actor, Permission.READ_ALL_EVIDENCE_METADATA):
        query = query.join(Evidence, Evidence.id == FlagClearanceRequest.evidence_id).where(
            Evidence.uploader_id == actor.id)
    return list(session.scalars(query))


def get_clearance_request(
    *, session: Session, actor: Actor, request_id: uuid.UUID, for_update: bool = False,
) -> FlagClearanceRequest:
    """Return one request if the actor may see its record; otherwise as if it did not exist."""
    request = session.get(FlagClearanceRequest, request_id, with_for_update=for_update)
    evidence = session.get(Evidence, request.evidence_id) if request is not None else None
    if request is None or evidence is None or not can_see_metadata(actor, evidence):
        raise NotFound(f"no flag clearance request {request_id}")
    return request


def _decidable(session: Session, actor: Actor, request_id: uuid.UUID, reason: str) -> tuple[
        FlagClearanceRequest, Evidence]:
    # Locked: two deciders at once cannot both find it pending.
    request = get_clearance_request(session=session, actor=actor, request_id=request_id, for_update=True)
    require(actor, Permission.DECIDE_FLAG_CLEARANCE)
    if request.status != ClearanceStatus.PENDING:
        raise ClearanceNotPending(f"申请 {request_id} 已经{_STATUS_WORDS[request.status]} (already {request.status})")
    evidence = get_evidence(session=session, actor=actor, evidence_id=request.evidence_id)
    if actor.id is None or actor.id in {request.requested_by_id, evidence.uploader_id}:
        raise SecondPersonRequired("清除合规标记须由上传人和申请人以外的人决定 (decided by someone other than the "
                                   "uploader and the requester)", details={"request_id": str(request_id)})
    if not reason.strip():
        raise InvalidInput("决定须说明理由 (a decision needs a reason)", details={"request_id": str(request_id)})
    return request, evidence


_STATUS_WORDS = {ClearanceStatus.PENDING: "待决定", ClearanceStatus.APPROVED: "批准",
                 ClearanceStatus.REJECTED: "驳回"}


def _decide(request: FlagClearanceRequest, actor: Actor, status: ClearanceStatus, reason: str,
            now: datetime) -> None:
    request.status, request.decided_by_id, request.decided_by = status, actor.id, actor.name
    request.decided_at, request.decision_reason = now, reason.strip()


def approve_clearance(
    *, session: Session, actor: Actor, request_id: uuid.UUID, reason: str, rules: IngestRules, now: datetime,
) -> FlagClearanceRequest:
    """Approve a request (not the uploader's nor the requester's call): apply its tag change, clearing the flags."""
    request, evidence = _decidable(session, actor, request_id, reason)
    _decide(request, actor, ClearanceStatus.APPROVED, reason, now)
    apply_tags(session=session, actor=actor, evidence=evidence, changes=request.changes, rules=rules, now=now,
               reason=request.reason, logged={"request_id": str(request.id), "requested_by": request.requested_by})
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.FLAG_CLEARANCE_APPROVED, subject_type="evidence",
                 subject_id=evidence.id, case_id=evidence.case_id, now=now,
                 details={"request_id": str(request.id), "requested_by": request.requested_by,
                          "clears": request.clears, "reason": request.decision_reason})
    return request


def reject_clearance(
    *, session: Session, actor: Actor, request_id: uuid.UUID, reason: str, now: datetime,
) -> FlagClearanceRequest:
    """Reject a request: the tags and the flags stay as they are."""
    request, evidence = _decidable(session, actor, request_id, reason)
    _decide(request, actor, ClearanceStatus.REJECTED, reason, now)
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.FLAG_CLEARANCE_REJECTED, subject_type="evidence",
                 subject_id=evidence.id, case_id=evidence.case_id, now=now,
                 details={"request_id": str(request.id), "requested_by": request.requested_by,
                          "clears": request.clears, "reason": request.decision_reason})
    return request
