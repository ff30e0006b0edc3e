"""API shapes for evidence records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from vault.evidence.models import Confidentiality, Evidence, EvidenceStatus
from vault.evidence.service import open_flag_rows, open_flags


class DerivativePublic(BaseModel):
    """A derived file (never the original)."""

    id: uuid.UUID
    kind: str
    sha256: str
    size: int
    media_type: str
    derived: bool
    retain_until: datetime | None


class FlagPublic(BaseModel):
    """An open flag and why it was raised: a reason code, a short sentence with the values, the values."""

    flag: str
    code: str
    reason: str
    facts: dict[str, Any]
    raised_at: datetime


class EvidencePublic(BaseModel):
    """A record's metadata: tags, capture facts, digests, flags. Content is served separately, under a grant."""

    id: uuid.UUID
    sha256: str
    sm3: str | None
    size: int
    media_type: str
    original_name: str
    status: EvidenceStatus
    case_number: str | None
    party_name: str | None
    handlers: list[str]
    activity: str | None
    recorder_serial: str | None
    capture_start: datetime | None
    capture_end: datetime | None
    uploaded_at: datetime
    uploader: str
    party_informed: bool
    confidentiality: Confidentiality
    notes: str
    place: str | None
    flags: list[str]
    flag_reasons: list[FlagPublic]
    media_info: dict[str, Any]
    store_retain_until: datetime
    derivatives: list[DerivativePublic]

    @classmethod
    def of(cls, evidence: Evidence) -> EvidencePublic:
        """Build the public view of a record."""
        return cls(
            id=evidence.id,
            sha256=evidence.sha256,
            sm3=evidence.sm3,
            size=evidence.size,
            media_type=evidence.media_type,
            original_name=evidence.original_name,
            status=evidence.status,
            case_number=evidence.case.case_number if evidence.case else None,
            party_name=evidence.party.name if evidence.party else None,
            handlers=[f"{h.name} ({h.certificate_number})" for h in evidence.handlers],
            activity=evidence.activity,
            recorder_serial=evidence.recorder_serial,
            capture_start=evidence.capture_start,
            capture_end=evidence.capture_end,
            uploaded_at=evidence.uploaded_at,
            uploader=evidence.uploader.name,
            party_informed=evidence.party_informed,
            confidentiality=evidence.confidentiality,
            notes=evidence.notes,
            place=evidence.place,
            flags=open_flags(evidence),
            flag_reasons=[FlagPublic(flag=f.flag, code=f.code or f.flag, reason=f.detail, facts=f.facts or {},
                                     raised_at=f.raised_at) for f in open_flag_rows(evidence)],
            media_info=evidence.media_info,
            store_retain_until=evidence.store_retain_until,
            derivatives=[
                DerivativePublic(
                    id=d.id, kind=d.kind.value, sha256=d.sha256, size=d.size, media_type=d.media_type,
                    derived=d.derived, retain_until=d.retain_until,
                )
                for d in evidence.derivatives
            ],
        )
