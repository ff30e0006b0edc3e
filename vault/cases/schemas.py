"""API shapes for cases and parties."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from vault.cases.models import CaseStatus, CaseType, PartyKind
from vault.text import Code, Line, Name, Title


class CaseCreate(BaseModel):
    """A new case."""

    case_number: Name = Field(min_length=1, description="case number (案号), e.g. 阜应急罚字〔2023〕40号")
    case_type: CaseType
    title: Line = ""
    handling_unit: Line = Field(default="", description="handling unit (承办单位)")


class CaseStatusChange(BaseModel):
    """Close (结案), archive (归档) or reopen a case."""

    status: CaseStatus


class PartySummary(BaseModel):
    """A party as listed on a case (no personal data)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: PartyKind
    name: str


class CasePublic(BaseModel):
    """A case."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_number: str
    case_type: CaseType
    title: str
    handling_unit: str
    status: CaseStatus
    opened_at: datetime
    closed_at: datetime | None
    archived_at: datetime | None
    parties: list[PartySummary]


class PartyCreate(BaseModel):
    """A new party (当事人); personal data is encrypted at rest and shown masked."""

    kind: PartyKind
    name: Title = Field(min_length=1)
    legal_representative: Name = ""
    id_number: Code | None = None
    phone: Code | None = Field(default=None, max_length=32)
    address: Line | None = None
    bank_account: Code | None = None
    case_number: Name | None = Field(default=None, description="link the party to this case (案号)")


class PartyPublic(BaseModel):
    """A party with personal data masked."""

    id: uuid.UUID
    kind: PartyKind
    name: str
    legal_representative: str
    id_number: str | None
    phone: str | None
    address: str | None
    bank_account: str | None


class PartyUpdate(BaseModel):
    """Changes to a party; fields left out stay as they are, an empty string clears a piece of personal data."""

    kind: PartyKind | None = None
    name: Title | None = Field(default=None, min_length=1)
    legal_representative: Name | None = None
    id_number: Code | None = None
    phone: Code | None = Field(default=None, max_length=32)
    address: Line | None = None
    bank_account: Code | None = None


class PartyCaseLink(BaseModel):
    """A case (案号, any bracket variant) to link a party to."""

    case_number: Name = Field(min_length=1)


class PartyDetail(PartyPublic):
    """A party with the cases it is on; personal data masked unless `revealed` (which the custody log records)."""

    revealed: bool
    created_at: datetime
    cases: list[str] = Field(description="case numbers (案号) the party is linked to")
