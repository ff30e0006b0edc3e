"""Why a person may not play or download a record: the missing approval, told so they know what to do next."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.access.models import (
    AccessGrant,
    AccessMode,
    AccessRequest,
    AccessRequestRecord,
    RequestStatus,
)
from vault.access.service import grants_covering
from vault.identities.actor import Actor
from vault.identities.models import Role, User

APPROVERS_NAMED = 10


class Missing(StrEnum):
    """Which approval a read lacks."""

    NO_REQUEST = "no_request"
    PENDING = "pending"
    DENIED = "denied"
    NARROWED = "narrowed"
    EXPIRED = "expired"
    REVOKED = "revoked"
    VIEW_ONLY = "view_only"


@dataclass(frozen=True)
class MissingApproval:
    """The approval a person lacks for one record, with what the player page and an API refusal both show."""

    missing: Missing
    evidence_id: uuid.UUID
    download: bool
    message: str
    request_id: uuid.UUID | None = None
    grant_id: uuid.UUID | None = None
    at: datetime | None = None  # pending since, denied, expired or revoked at
    by: str | None = None  # who denied, narrowed or revoked
    reason: str = ""  # the denial, approval note or revocation reason
    waiting_on: tuple[str, ...] = ()  # approvers who may decide a pending request

    def details(self) -> dict[str, Any]:
        """Return the explanation as JSON-ready error details."""
        return {
            "missing": self.missing.value,
            "evidence_id": str(self.evidence_id),
            "request_id": str(self.request_id) if self.request_id else None,
            "grant_id": str(self.grant_id) if self.grant_id else None,
            "at": self.at.isoformat() if self.at else None,
            "by": self.by,
            "reason": self.reason,
            "waiting_on": list(self.waiting_on),
        }


def _name(user: User | None) -> str | None:
    return (user.display_name or user.name) if user else None


def _own_requests(session: Session, user_id: uuid.UUID, evidence_id: uuid.UUID) -> list[AccessRequest]:
    query = (
        select(AccessRequest)
        .join(AccessRequestRecord, AccessRequestRecord.request_id == AccessRequest.id)
        .where(AccessRequest.requester_id == user_id, AccessRequestRecord.evidence_id == evidence_id)
        .order_by(AccessRequest.created_at.desc())
    )
    return list(session.scalars(query))


def _approvers(session: Session, requester_id: uuid.UUID) -> tuple[str, ...]:
    """Name the active approvers who may decide the request: everyone with the role but the requester."""
    query = (
        select(User)
        .where(User.role == Role.APPROVER, User.active.is_(True), User.id != requester_id)
        .order_by(User.name)
        .limit(APPROVERS_NAMED)
    )
    return tuple(_name(u) or u.name for u in session.scalars(query))


def _pending(session: Session, request: AccessRequest, evidence_id: uuid.UUID, download: bool) -> MissingApproval:
    return MissingApproval(
        Missing.PENDING, evidence_id, download,
        f"your access request {request.id} for record {evidence_id} is pending since "
        f"{request.created_at.isoformat()}, waiting for an approver (审批人)",
        request_id=request.id, at=request.created_at, waiting_on=_approvers(session, request.requester_id),
    )


def _from_grant(grant: AccessGrant, evidence_id: uuid.UUID, download: bool, now: datetime) -> MissingApproval:
    ids: dict[str, Any] = {"request_id": grant.request_id, "grant_id": grant.id}
    if grant.revoked_at is not None:
        return MissingApproval(
            Missing.REVOKED, evidence_id, download,
            f"your grant {grant.id} for record {evidence_id} was revoked on {grant.revoked_at.isoformat()} "
            f"by {_name(grant.revoked_by)}: {grant.revoke_reason}",
            at=grant.revoked_at, by=_name(grant.revoked_by), reason=grant.revoke_reason, **ids,
        )
    if now >= grant.expires_at:
        return MissingApproval(
            Missing.EXPIRED, evidence_id, download,
            f"your grant {grant.id} for record {evidence_id} expired on {grant.expires_at.isoformat()}",
            at=grant.expires_at, by=_name(grant.approver), **ids,
        )
    return MissingApproval(
        Missing.VIEW_ONLY, evidence_id, download,
        f"your grant {grant.id} allows viewing only; downloading record {evidence_id} needs a "
        "view-and-download approval (查阅复制审批)",
        at=grant.starts_at, by=_name(grant.approver), **ids,
    )


def _from_decision(request: AccessRequest, evidence_id: uuid.UUID, download: bool) -> MissingApproval:
    by = _name(request.decided_by)
    if request.status == RequestStatus.APPROVED:
        return MissingApproval(
            Missing.NARROWED, evidence_id, download,
            f"your access request {request.id} was approved by {by} without record {evidence_id}",
            request_id=request.id, at=request.decided_at, by=by, reason=request.decision_reason,
        )
    return MissingApproval(
        Missing.DENIED, evidence_id, download,
        f"your access request {request.id} for record {evidence_id} was denied (不予批准): "
        f"{request.decision_reason}",
        request_id=request.id, at=request.decided_at, by=by, reason=request.decision_reason,
    )


def _no_request(evidence_id: uuid.UUID, download: bool) -> MissingApproval:
    need = "view-and-download approval (查阅复制审批)" if download else "viewing approval (查阅审批)"
    return MissingApproval(
        Missing.NO_REQUEST, evidence_id, download,
        f"no approved access request covers record {evidence_id}: file one and obtain a {need}",
    )


def explain_missing_approval(
    *, session: Session, actor: Actor, evidence_id: uuid.UUID, download: bool, now: datetime
) -> MissingApproval | None:
    """Explain which approval the actor lacks to play (or download) a record; None when a grant in force allows it.

    A pending request is named first (it is what the person waits on), then a grant in force that is view-only,
    then whichever ended last: a grant revoked or expired, or a request denied or approved without this record.
    """
    if actor.id is None:
        return _no_request(evidence_id, download)
    grants = grants_covering(session, actor.id, evidence_id)
    live = [g for g in grants if g.active_at(now)]
    if any(g.mode == AccessMode.VIEW_DOWNLOAD or not download for g in live):
        return None
    requests = _own_requests(session, actor.id, evidence_id)
    if pending := next((r for r in requests if r.status == RequestStatus.PENDING), None):
        return _pending(session, pending, evidence_id, download)
    if live:
        return _from_grant(live[0], evidence_id, download, now)
    ended = [(g.revoked_at or g.expires_at, _from_grant(g, evidence_id, download, now)) for g in grants]
    for request in requests:
        if request.decided_at is not None and (request.grant is None or request.grant not in grants):
            ended.append((request.decided_at, _from_decision(request, evidence_id, download)))
    if not ended:
        return _no_request(evidence_id, download)
    return max(ended, key=lambda pair: pair[0])[1]
