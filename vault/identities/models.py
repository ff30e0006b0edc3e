"""Users, their roles and API tokens, and the registry of enforcement handlers (执法人员)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, UTCDateTime, str_enum, utcnow


class Role(StrEnum):
    """What a user is allowed to do (see DOMAIN.md, People and roles)."""

    OFFICER = "officer"
    REVIEWER = "reviewer"
    APPROVER = "approver"
    RECORDS_MANAGER = "records_manager"
    AUDITOR = "auditor"
    ADMIN = "admin"


class CertificateStatus(StrEnum):
    """State of an enforcement certificate (行政执法证)."""

    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class Handler(Base):
    """An enforcement officer as registered with their certificate (执法证)."""

    __tablename__ = "handlers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    certificate_number: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    unit: Mapped[str] = mapped_column(String(256), default="")
    category: Mapped[str] = mapped_column(String(128), default="")
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    status: Mapped[CertificateStatus] = mapped_column(str_enum(CertificateStatus, 16), default=CertificateStatus.VALID)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    """Somebody who signs in to the vault."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[Role] = mapped_column(str_enum(Role, 32))
    handler_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("handlers.id"), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    handler: Mapped[Handler | None] = relationship(lazy="joined")


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, the secret is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    user: Mapped[User] = relationship(lazy="joined")
