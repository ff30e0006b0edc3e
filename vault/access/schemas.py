"""API shapes for access requests, grants, direct links and the access trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vault.access.inbox import InboxItem
from vault.access.models import PURPOSE_LABELS, AccessGrant, AccessMode, AccessPurpose, AccessRequest, RequestStatus
from vault.text import Name, Paragraph


class AccessRequestCreate(BaseModel):
    """An access request: records (evidence_ids) or a whole case (case_number), purpose, mode, duration, reason."""

    evidence_ids: list[uuid.UUID] | None = None
    case_number: Name | None = None
    purpose: AccessPurpose
    mode: AccessMode = AccessMode.VIEW
    duration_hours: int = Field(ge=1)
    reason: Paragraph = Field(min_length=1)


class ApproveBody(BaseModel):
    """An approval, optionally narrowing the records, the mode or the duration."""

    evidence_ids: list[uuid.UUID] | None = None
    mode: AccessMode | None = None
    duration_hours: int | None = Field(default=None, ge=1)
    note: Paragraph = ""


class ReasonBody(BaseModel):
    """A denial or revocation, with its reason."""

    reason: Paragraph = Field(min_length=1)


class AccessGrantPublic(BaseModel):
    """A grant: who may see which records, how, why, until when, approved by whom."""

    id: uuid.UUID
    request_id: uuid.UUID
    grantee: str
    approver: str
    purpose: AccessPurpose
    purpose_label: str
    mode: AccessMode
    case_number: str | None
    record_ids: list[uuid.UUID]
    starts_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str
    active: bool

    @classmethod
    def of(cls, grant: AccessGrant, now: datetime) -> AccessGrantPublic:
        """Build the public view of a grant as it stands at `now`."""
        return cls(
            id=grant.id,
            request_id=grant.request_id,
            grantee=grant.grantee.name,
            approver=grant.approver.name,
            purpose=grant.purpose,
            purpose_label=PURPOSE_LABELS[grant.purpose],
            mode=grant.mode,
            case_number=grant.request.case.case_number if grant.request.case else None,
            record_ids=grant.record_ids,
            starts_at=grant.starts_at,
            expires_at=grant.expires_at,
            revoked_at=grant.revoked_at,
            revoked_by=grant.revoked_by.name if grant.revoked_by else None,
            revoke_reason=grant.revoke_reason,
            active=grant.active_at(now),
        )


class AccessRequestPublic(BaseModel):
    """A request and its decision."""

    id: uuid.UUID
    requester: str
    purpose: AccessPurpose
    purpose_label: str
    mode: AccessMode
    duration_hours: int
    reason: str
    whole_case: bool
    case_number: str | None
    record_ids: list[uuid.UUID]
    withheld_ids: list[uuid.UUID] = Field(description="Confidential records a whole-case party copy left out")
    status: RequestStatus
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str
    grant: AccessGrantPublic | None

    @classmethod
    def of(cls, request: AccessRequest, now: datetime) -> AccessRequestPublic:
        """Build the public view of a request."""
        return cls(
            id=request.id,
            requester=request.requester.name,
            purpose=request.purpose,
            purpose_label=PURPOSE_LABELS[request.purpose],
            mode=request.mode,
            duration_hours=request.duration_hours,
            reason=request.reason,
            whole_case=request.whole_case,
            case_number=request.case.case_number if request.case else None,
            record_ids=request.record_ids,
            withheld_ids=[uuid.UUID(i) for i in request.withheld_ids or []],
            status=request.status,
            created_at=request.created_at,
            decided_at=request.decided_at,
            decided_by=request.decided_by.name if request.decided_by else None,
            decision_reason=request.decision_reason,
            grant=AccessGrantPublic.of(request.grant, now) if request.grant else None,
        )


class LinkPublic(BaseModel):
    """A short-lived direct URL, issued after the grant check."""

    url: str
    expires_at: datetime
    variant: str
    grant_id: uuid.UUID | None


class TrailEntryPublic(BaseModel):
    """One custody event of the access trail, with a readable summary."""

    model_config = ConfigDict(from_attributes=True)

    log_index: int
    at: datetime
    actor_name: str
    action: str
    subject_type: str
    subject_id: str
    case_id: uuid.UUID | None
    summary: str
    details: dict[str, Any]
    actor: str  # readable: display name and account name
    subject: str  # readable: the record's file name and case number, the user's or the case's name
    record: str | None
    case_number: str | None


class RecordPreviewPublic(BaseModel):
    """A requested record as an approver sees it: metadata only."""

    model_config = ConfigDict(from_attributes=True)

    evidence_id: uuid.UUID
    name: str
    case_number: str | None
    media_type: str
    capture_start: datetime | None
    capture_end: datetime | None
    duration_seconds: float | None
    size: int


class InboxItemPublic(BaseModel):
    """A pending request in the approver's inbox."""

    request_id: uuid.UUID
    requester: str
    purpose: AccessPurpose
    purpose_label: str
    mode: AccessMode
    duration_hours: int
    reason: str
    whole_case: bool
    case_number: str | None
    created_at: datetime
    age_seconds: int
    records: list[RecordPreviewPublic]
    hidden_records: int = Field(description="Requested records whose metadata the approver may not see")
    own: bool = Field(description="The approver's own request, which another approver must decide")

    @classmethod
    def of(cls, item: InboxItem) -> InboxItemPublic:
        """Build the public view of an inbox item."""
        return cls(
            request_id=item.request_id, requester=item.requester, purpose=item.purpose,
            purpose_label=PURPOSE_LABELS[item.purpose], mode=item.mode, duration_hours=item.duration_hours,
            reason=item.reason, whole_case=item.whole_case, case_number=item.case_number,
            created_at=item.created_at, age_seconds=int(item.age.total_seconds()),
            records=[RecordPreviewPublic.model_validate(r) for r in item.records], hidden_records=item.hidden,
            own=item.own,
        )
