"""The approver's inbox: pending requests with what an approver needs to decide, and never the content itself."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.access.models import AccessMode, AccessPurpose, AccessRequest, RequestStatus
from vault.evidence.models import Evidence
from vault.evidence.service import can_see_metadata
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require

INBOX_LIMIT = 200


@dataclass(frozen=True)
class RecordPreview:
    """What an approver sees of a requested record: metadata only, never a frame or a byte of it."""

    evidence_id: uuid.UUID
    name: str
    case_number: str | None
    media_type: str
    capture_start: datetime | None
    capture_end: datetime | None
    duration_seconds: float | None
    size: int


@dataclass(frozen=True)
class InboxItem:
    """One pending request as the approver's inbox shows it."""

    request_id: uuid.UUID
    requester: str
    purpose: AccessPurpose
    mode: AccessMode
    duration_hours: int
    reason: str
    whole_case: bool
    case_number: str | None
    created_at: datetime
    age: timedelta
    records: tuple[RecordPreview, ...]
    hidden: int  # requested records the approver may not see the metadata of
    own: bool  # the approver's own request: another approver must decide it


def _duration(evidence: Evidence) -> float | None:
    value = evidence.media_info.get("duration")
    if isinstance(value, (int, float)):
        return float(value)
    if evidence.capture_start and evidence.capture_end:
        return (evidence.capture_end - evidence.capture_start).total_seconds()
    return None


def preview_record(evidence: Evidence) -> RecordPreview:
    """Return the metadata preview of one record."""
    return RecordPreview(
        evidence_id=evidence.id,
        name=evidence.original_name,
        case_number=evidence.case.case_number if evidence.case else None,
        media_type=evidence.media_type,
        capture_start=evidence.capture_start,
        capture_end=evidence.capture_end,
        duration_seconds=_duration(evidence),
        size=evidence.size,
    )


def _item(session: Session, actor: Actor, request: AccessRequest, now: datetime) -> InboxItem:
    ids = request.record_ids
    found = session.scalars(select(Evidence).where(Evidence.id.in_(ids))).all() if ids else []
    order = {evidence_id: index for index, evidence_id in enumerate(ids)}
    visible = sorted((e for e in found if can_see_metadata(actor, e)), key=lambda e: order[e.id])
    return InboxItem(
        request_id=request.id,
        requester=request.requester.display_name or request.requester.name,
        purpose=request.purpose,
        mode=request.mode,
        duration_hours=request.duration_hours,
        reason=request.reason,
        whole_case=request.whole_case,
        case_number=request.case.case_number if request.case else None,
        created_at=request.created_at,
        age=max(now - request.created_at, timedelta(0)),
        records=tuple(preview_record(e) for e in visible),
        hidden=len(ids) - len(visible),
        own=request.requester_id == actor.id,
    )


def approver_inbox(*, session: Session, actor: Actor, now: datetime) -> list[InboxItem]:
    """List pending requests for an approver, oldest first, each with a metadata preview of its records."""
    require(actor, Permission.DECIDE_ACCESS)
    query = (
        select(AccessRequest)
        .where(AccessRequest.status == RequestStatus.PENDING)
        .order_by(AccessRequest.created_at, AccessRequest.id)
        .limit(INBOX_LIMIT)
    )
    return [_item(session, actor, request, now) for request in session.scalars(query)]
