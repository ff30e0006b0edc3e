"""API shapes for users, tokens and handlers."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from vault.identities.models import CertificateStatus, Role
from vault.text import Code, Name, Title


class UserCreate(BaseModel):
    """A new user."""

    name: Name = Field(min_length=1)
    role: Role
    display_name: Name = ""
    handler_certificate: Code | None = Field(default=None, description="certificate number (执法证号) to link")


class UserPublic(BaseModel):
    """A user as shown to administrators and to themselves."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    display_name: str
    role: Role
    handler_id: uuid.UUID | None
    active: bool
    created_at: datetime


class TokenCreate(BaseModel):
    """A request for a new API token."""

    label: Name = ""


class TokenIssued(BaseModel):
    """A freshly issued token; the secret is shown only here."""

    token: str


class HandlerCreate(BaseModel):
    """A handler and their enforcement certificate (执法证)."""

    certificate_number: Code = Field(min_length=1, description="certificate number (执法证号)")
    name: Name = Field(min_length=1)
    unit: Title = ""
    category: Name = ""
    valid_from: date
    valid_until: date
    status: CertificateStatus = CertificateStatus.VALID


class HandlerPublic(BaseModel):
    """A registered handler."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    certificate_number: str
    name: str
    unit: str
    category: str
    valid_from: date
    valid_until: date
    status: CertificateStatus
