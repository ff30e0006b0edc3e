"""API shapes for evidence bundles and their retained copies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from vault.exports.models import ExportCopy, ExportPurpose
from vault.text import Line, Name


class ExportCreate(BaseModel):
    """Ask for a bundle of a case's records (all stored records when evidence_ids is omitted)."""

    case_number: Name = Field(description="Case number (案号), e.g. 阜应急罚字〔2023〕40号")
    purpose: ExportPurpose
    recipient: Line = Field(description="Who receives the bundle (接收方), e.g. the court or reconsideration body")
    evidence_ids: list[uuid.UUID] | None = None
    party: Name | None = Field(default=None, description="Party copy: the applying party (当事人), by name or id; "
                               "default the case's only party")
    include_redacted: bool = Field(default=False, description="Carry approved redacted versions beside their "
                                   "originals (court, reconsideration, filing review)")
    watermark: bool = Field(default=False, description="Burn recipient, export id and date into every video and "
                            "photo copy")


class ExportPublic(BaseModel):
    """The retained copy (复制留存) of a bundle: what was handed over, to whom, under which approval."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_id: uuid.UUID
    purpose: ExportPurpose
    recipient: str
    actor_name: str
    grant_id: uuid.UUID | None
    created_at: datetime
    completed_at: datetime
    evidence_ids: list[str]
    record_count: int
    withheld_count: int
    withheld_ids: list[str] = Field(description="Confidential records a party copy left out (000 第九条)")
    payload_bytes: int
    bundle_name: str
    bundle_sha256: str
    bundle_size: int
    key_id: str
    signature: str
    timestamped: bool
    checkpoint_size: int

    @classmethod
    def of(cls, copy: ExportCopy) -> ExportPublic:
        """Build the public view of a retained copy."""
        return cls.model_validate(
            {
                **{k: getattr(copy, k) for k in cls.model_fields if k != "timestamped"},
                "timestamped": copy.timestamp_token is not None,
            }
        )
