"""API shapes of the ingest: receipts, tag changes, continuity reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ingest.continuity import Discontinuity
from ingest.models import ClearanceStatus, FlagClearanceRequest
from vault.text import Code, LongText, Name, Reason, Title


class ReceiptBody(BaseModel):
    """What the vault attests it received."""

    evidence_id: uuid.UUID
    sha256: str
    size: int
    original_name: str
    received_at: str
    vault_key_id: str
    duplicate: bool


class SignedReceipt(BaseModel):
    """A receipt and its Ed25519 signature over the canonical JSON of `receipt` (docs/ingest-protocol.md)."""

    receipt: ReceiptBody
    signature: str


class TagsUpdate(BaseModel):
    """Tags to set; a field left out stays as it is, null or "" clears it."""

    model_config = ConfigDict(extra="forbid")

    case_number: Name | None = None
    party: Title | None = None
    handlers: list[Code] | None = Field(default=None, max_length=64)
    activity: Code | None = None
    recorder_serial: Name | None = None
    capture_start: Code | None = None
    capture_end: Code | None = None
    party_informed: bool | None = None
    field_return_at: Code | None = None
    late_reason: Reason | None = None
    notes: LongText | None = None
    confidentiality: Code | None = None
    place: Title | None = Field(default=None, description="where it was recorded (拍摄地点), for media without GPS")
    reason: Reason = Field(default="", description="why the tags change (kept in the custody log)")


class DiscontinuityPublic(BaseModel):
    """A gap (positive seconds) or overlap (negative seconds) between consecutive segments of one recorder."""

    recorder_serial: str
    kind: str
    seconds: float
    before_id: uuid.UUID
    after_id: uuid.UUID
    before_end: datetime
    after_start: datetime

    @classmethod
    def of(cls, item: Discontinuity) -> DiscontinuityPublic:
        """Build the public view."""
        return cls(**item.__dict__)


class FlagRequestPublic(BaseModel):
    """A tag change waiting for (or past) a decision because it would clear compliance flags."""

    id: uuid.UUID
    evidence_id: uuid.UUID
    changes: dict[str, Any]
    clears: list[dict[str, str]] = Field(description="the flags (record and flag name) the change would clear")
    reason: str
    requested_by: str
    requested_at: datetime
    status: ClearanceStatus
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None

    @classmethod
    def of(cls, request: FlagClearanceRequest) -> FlagRequestPublic:
        """Build the public view."""
        return cls(id=request.id, evidence_id=request.evidence_id, changes=request.changes, clears=request.clears,
                   reason=request.reason, requested_by=request.requested_by, requested_at=request.requested_at,
                   status=request.status, decided_by=request.decided_by, decided_at=request.decided_at,
                   decision_reason=request.decision_reason)


class FlagRequestDecision(BaseModel):
    """Why a flag clearance request is approved or rejected (kept in the custody log)."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason = Field(min_length=1)
