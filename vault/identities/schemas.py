"""API shapes for users, tokens and handlers."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from vault.identities.models import CertificateStatus, Role


class UserCreate(BaseModel):
    """A new user."""

    name: str = Field(min_length=1, max_length=128)
    role: Role
    display_name: str = ""
    handler_certificate: str | None = Field(default=None, description="certificate number (执法证号) to link")


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

    label: str = Field(default="", max_length=128)


class TokenIssued(BaseModel):
    """A freshly issued token; the secret is shown only here."""

    token: str


class HandlerCreate(BaseModel):
    """A handler and their enforcement certificate (执法证)."""

    certificate_number: str = Field(min_length=1, max_length=64, description="certificate number (执法证号)")
    name: str = Field(min_length=1, max_length=128)
    unit: str = ""
    category: str = ""
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
