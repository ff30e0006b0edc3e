"""API shapes for users, tokens and handlers."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from vault.identities.models import CertificateChange, CertificateStatus, Role
from vault.text import Code, Name, Reason, Title


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
    handler_certificate: str | None = Field(description="certificate number (执法证号) of the linked handler")
    active: bool
    created_at: datetime


class UserDisable(BaseModel):
    """Why a user is disabled (or enabled again)."""

    reason: Reason = ""


class UserRoleChange(BaseModel):
    """A user's new role."""

    role: Role
    reason: Reason = ""


class TokenPublic(BaseModel):
    """An API token as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    label: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None


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


class HandlerUpdate(BaseModel):
    """Corrections to a handler's registry entry; the certificate's validity changes go through its history."""

    name: Name | None = Field(default=None, min_length=1)
    unit: Title | None = None
    category: Name | None = None


class UserHandlerLink(BaseModel):
    """The certificate (执法证号) a user holds."""

    certificate_number: Code = Field(min_length=1)


class CertificateChangeCreate(BaseModel):
    """A change to a certificate: suspended, reinstated, revoked, renewed or corrected, from a day, with a reason."""

    kind: CertificateChange = Field(description="suspended | reinstated | revoked | renewed | corrected")
    effective_on: date = Field(description="the day the change takes effect (YYYY-MM-DD)")
    reason: Reason = Field(min_length=1)
    valid_from: date | None = Field(default=None, description="renewed/corrected: start of the validity window")
    valid_until: date | None = Field(default=None, description="renewed/corrected: end of the validity window")
    voids: uuid.UUID | None = Field(default=None, description="corrected: the history entry recorded in error")


class CertificateChangePublic(BaseModel):
    """One entry of a certificate's history."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    sequence: int
    kind: CertificateChange
    effective_on: date
    valid_from: date | None
    valid_until: date | None
    voids_id: uuid.UUID | None
    reason: str
    recorded_by: str
    recorded_at: datetime


class HandlerDetail(HandlerPublic):
    """A handler with their certificate's history and its validity on the day asked about."""

    on: date
    valid_on: bool
    status_on: CertificateStatus | None
    valid_from_on: date | None = Field(description="the validity window as it stood on that day")
    valid_until_on: date | None
    history: list[CertificateChangePublic]


class PasswordSet(BaseModel):
    """A new web sign-in password (at least 10 characters, not all digits)."""

    password: str = Field(min_length=1, max_length=1024)


class TokenSignInRequest(BaseModel):
    """A command line signing in with a name and password."""

    name: Name = Field(min_length=1)
    password: str = Field(min_length=1, max_length=1024)
    label: Name = ""


class TokenSignedIn(BaseModel):
    """A sign-in token: its secret (shown only here), who it acts as, and when it runs out."""

    token: str
    user: UserPublic
    expires_at: datetime


class OidcAbout(BaseModel):
    """What a command line needs to sign in through the agency's identity provider."""

    issuer: str
    client_id: str | None
    device_authorization_endpoint: str | None
    token_endpoint: str | None
    scope: str


class SignInMethods(BaseModel):
    """The ways this vault accepts a sign-in."""

    password: bool = True
    oidc: OidcAbout | None = None


class About(BaseModel):
    """What anyone may learn of a vault before signing in."""

    version: str
    agency_name: str
    timezone: str
    key_id: str
    sign_in: SignInMethods
