"""Policy changes that shorten a retention default: a second person approves or rejects them, as disposal does."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.approvals import pending_request, require_decider, require_second_person
from retention.models import PolicyChangeRequest, PolicyVersion, RequestStatus
from retention.service import add_policy_version
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require


def list_policy_requests(*, session: Session, actor: Actor, pending_only: bool = True) -> list[PolicyChangeRequest]:
    """Return policy change requests, oldest first (pending ones only by default)."""
    require(actor, Permission.READ_ALL_EVIDENCE_METADATA)
    query = select(PolicyChangeRequest).order_by(PolicyChangeRequest.requested_at)
    if pending_only:
        query = query.where(PolicyChangeRequest.status == RequestStatus.PENDING)
    return list(session.scalars(query))


def approve_policy_change(*, session: Session, actor: Actor, request_id: uuid.UUID, now: datetime) -> PolicyVersion:
    """Approve a shortening (a second person) and add it as a policy version, never earlier than now."""
    request = pending_request(session, PolicyChangeRequest, request_id, "policy change request")
    require_second_person(actor, request.requested_by_id, "shortening a retention default")
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
    request = pending_request(session, PolicyChangeRequest, request_id, "policy change request")
    require_decider(actor)
    request.status, request.decided_by, request.decided_at = RequestStatus.REJECTED, actor.name, now
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.POLICY_CHANGE_REJECTED, subject_type="policy",
                 subject_id=str(request.id), now=now, details={"request_id": str(request.id), "reason": reason})
    return request
