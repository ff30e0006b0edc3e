"""Policy changes that shorten a retention default: a second person approves or rejects them, as disposal does."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.errors import RequestNotPending, SecondPersonRequired
from retention.models import PolicyChangeRequest, PolicyVersion, RequestStatus
from retention.service import add_policy_version
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import NotFound
from vault.identities.actor import Actor
from vault.identities.authz import Permission, has_permission, require


def _pending(session: Session, request_id: uuid.UUID) -> PolicyChangeRequest:
    request = session.get(PolicyChangeRequest, request_id)
    if request is None:
        raise NotFound(f"no policy change request {request_id}")
    if request.status != RequestStatus.PENDING:
        raise RequestNotPending(f"policy change request {request_id} is already {request.status.value}")
    return request


def _require_decider(actor: Actor) -> None:
    if not has_permission(actor, Permission.MANAGE_RETENTION):
        require(actor, Permission.APPROVE_DISPOSITION)


def list_policy_requests(*, session: Session, actor: Actor, pending_only: bool = True) -> list[PolicyChangeRequest]:
    """Return policy change requests, oldest first (pending ones only by default)."""
    require(actor, Permission.READ_ALL_EVIDENCE_METADATA)
    query = select(PolicyChangeRequest).order_by(PolicyChangeRequest.requested_at)
    if pending_only:
        query = query.where(PolicyChangeRequest.status == RequestStatus.PENDING)
    return list(session.scalars(query))


def approve_policy_change(*, session: Session, actor: Actor, request_id: uuid.UUID, now: datetime) -> PolicyVersion:
    """Approve a shortening (a second person) and add it as a policy version, never earlier than now."""
    request = _pending(session, request_id)
    _require_decider(actor)
    if actor.id is None or actor.id == request.requested_by_id:
        raise SecondPersonRequired("shortening a retention default must be approved by a second person, "
                                   "not the one who asked for it")
    row = add_policy_version(session=session, actor=actor, changes=request.changes,
                             effective_from=max(request.effective_from, now), note=request.note, now=now,
                             approval={"request_id": str(request.id), "requested_by": request.requested_by,
                                       "approved_by": actor.name})
    request.status, request.decided_by, request.decided_at, request.version = (
        RequestStatus.EXECUTED, actor.name, now, row.version)
    session.flush()
    return row


def reject_policy_change(*, session: Session, actor: Actor, request_id: uuid.UUID, reason: str,
                         now: datetime) -> PolicyChangeRequest:
    """Reject (or withdraw) a pending shortening; the policy stays as it is."""
    request = _pending(session, request_id)
    _require_decider(actor)
    request.status, request.decided_by, request.decided_at = RequestStatus.REJECTED, actor.name, now
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.POLICY_CHANGE_REJECTED, subject_type="policy",
                 subject_id=str(request.id), now=now, details={"request_id": str(request.id), "reason": reason})
    return request
