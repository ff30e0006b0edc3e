"""Users, their roles and API tokens, and the registry of enforcement handlers (执法人员)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
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


class CertificateChange(StrEnum):
    """What one entry of a certificate's history (执法证变更记录) does."""

    ISSUED = "issued"  # 发证: the first validity window
    SUSPENDED = "suspended"  # 暂扣: not valid from the effective date until reinstated
    REINSTATED = "reinstated"  # 发还: a suspension ends on the effective date
    REVOKED = "revoked"  # 吊销/收回: not valid from the effective date, for good
    RENEWED = "renewed"  # 换证/延期: a new validity window from the effective date
    CORRECTED = "corrected"  # 更正: a registry error fixed (window dates, or an entry recorded in error)


class Handler(Base):
    """An enforcement officer as registered with their certificate (执法证).

    valid_from, valid_until and status are the latest recorded state; validity on a given day is computed from
    the history (`certificate_changes`).
    """

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

    certificate_changes: Mapped[list[CertificateEvent]] = relationship(
        lazy="selectin", order_by="CertificateEvent.sequence", back_populates="handler"
    )


class CertificateEvent(Base):
    """One change to a handler's certificate, with the day it takes effect, why, and who recorded it."""

    __tablename__ = "certificate_events"
    __table_args__ = (UniqueConstraint("handler_id", "sequence"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    handler_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("handlers.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[CertificateChange] = mapped_column(str_enum(CertificateChange, 16))
    effective_on: Mapped[date] = mapped_column(Date)
    valid_from: Mapped[date | None] = mapped_column(Date, default=None)
    valid_until: Mapped[date | None] = mapped_column(Date, default=None)
    voids_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    reason: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    handler: Mapped[Handler] = relationship(back_populates="certificate_changes")


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
    # Argon2id hash for signing in to the web app; None: no password (API tokens or single sign-on only).
    password_hash: Mapped[str | None] = mapped_column(String(256), default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    handler: Mapped[Handler | None] = relationship(lazy="joined")

    @property
    def handler_certificate(self) -> str | None:
        """Return the certificate number (执法证号) of the handler this user is, if any."""
        return self.handler.certificate_number if self.handler else None


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, the secret is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # None: never (tokens create)

    user: Mapped[User] = relationship(lazy="joined")


class WebSession(Base):
    """A browser's signed-in session; only the SHA-256 of its cookie is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    cookie_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    how: Mapped[str] = mapped_column(String(16), default="password")  # password | oidc

    user: Mapped[User] = relationship(lazy="joined")
