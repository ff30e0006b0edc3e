"""API shapes for evidence records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from vault.evidence.models import Confidentiality, Evidence, EvidenceStatus
from vault.evidence.search import MAX_PAGE_SIZE, EvidenceQuery, SortKey, SortOrder
from vault.evidence.service import open_flag_rows, open_flags
from vault.text import Code, Name, Title


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


class EvidenceSearchParams(BaseModel):
    """Query parameters of `GET /api/evidence`: filters (combined with AND), sort and paging."""

    case_number: Name | None = Field(None, description="案号, in any bracket, width or spacing variant; 404 if none")
    party: Title | None = Field(None, description="part of a party's name (当事人), or a whole ID number or unified "
                                "social credit code (records managers only: others get 403)")
    handler: Name | None = Field(None, description="part of a handler's name (承办人), or a whole certificate number")
    recorder_serial: Code | None = Field(None, description="recorder serial (执法记录仪编号), exactly")
    captured_from: AwareDatetime | None = Field(None, description="capture started at or after this time")
    captured_to: AwareDatetime | None = Field(None, description="capture started before this time")
    uploaded_from: AwareDatetime | None = Field(None, description="uploaded at or after this time")
    uploaded_to: AwareDatetime | None = Field(None, description="uploaded before this time")
    activity: Code | None = Field(None, description="enforcement activity, e.g. inspection")
    flag: list[Code] = Field(default_factory=list, description="records with any of these flags open (repeatable)")
    flagged: bool | None = Field(None, description="true: some flag open; false: no flag open")
    confidentiality: Confidentiality | None = None
    sort: SortKey = Field(SortKey.UPLOADED_AT, description="sort key")
    order: SortOrder = Field(SortOrder.DESC, description="sort direction")
    page: int | None = Field(None, ge=1, description="page number, from 1 (the total is in X-Total-Count)")
    page_size: int | None = Field(None, ge=1, le=MAX_PAGE_SIZE, description="records per page (default 50)")
    limit: int = Field(100, ge=1, description="older paging: at most this many records (capped at 1000)")
    offset: int | None = Field(None, ge=0, description="older paging: skip this many records; not with page")

    @model_validator(mode="after")
    def _one_paging(self) -> EvidenceSearchParams:
        if self.offset is not None and (self.page is not None or self.page_size is not None):
            raise ValueError("use page and page_size, or limit and offset, not both")
        return self

    def query(self) -> EvidenceQuery:
        """Return the filters and sort as a service query."""
        return EvidenceQuery(
            case_number=self.case_number, party=self.party, handler=self.handler,
            recorder_serial=self.recorder_serial, captured_from=self.captured_from, captured_to=self.captured_to,
            uploaded_from=self.uploaded_from, uploaded_to=self.uploaded_to, activity=self.activity,
            flags=tuple(self.flag), flagged=self.flagged, confidentiality=self.confidentiality, sort=self.sort,
            order=self.order,
        )

    def window(self) -> tuple[int, int, int | None]:
        """Return the page, page size and (older paging) offset to ask the service for."""
        if self.page is not None or self.page_size is not None:
            return self.page or 1, self.page_size or 50, None
        return 1, min(self.limit, MAX_PAGE_SIZE), self.offset or 0
