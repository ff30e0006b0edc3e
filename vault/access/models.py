"""Access requests (查阅/复制申请), the time-limited grants approvers issue, and playback sessions under them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.cases.models import Case
from vault.db import Base, UTCDateTime, str_enum, utcnow
from vault.identities.models import User


class AccessPurpose(StrEnum):
    """Why somebody needs to see footage; recorded with every view."""

    INVESTIGATION = "investigation"
    LEGAL_REVIEW = "legal_review"
    RECONSIDERATION = "reconsideration"
    LITIGATION = "litigation"
    FILING_REVIEW = "filing_review"
    PARTY_COPY = "party_copy"


PURPOSE_LABELS: dict[AccessPurpose, str] = {
    AccessPurpose.INVESTIGATION: "investigation (调查取证)",
    AccessPurpose.LEGAL_REVIEW: "legal review (法制审核)",
    AccessPurpose.RECONSIDERATION: "reconsideration (行政复议)",
    AccessPurpose.LITIGATION: "litigation (行政诉讼)",
    AccessPurpose.FILING_REVIEW: "filing review (备案审查)",
    AccessPurpose.PARTY_COPY: "party copy application (当事人申请复制)",
}

# The purposes a request form offers: the five issue 13 names, in its order, then investigation (调查取证), which
# the API has accepted all along and investigators still need.
REQUEST_PURPOSES: tuple[AccessPurpose, ...] = (
    AccessPurpose.LEGAL_REVIEW,
    AccessPurpose.RECONSIDERATION,
    AccessPurpose.LITIGATION,
    AccessPurpose.FILING_REVIEW,
    AccessPurpose.PARTY_COPY,
    AccessPurpose.INVESTIGATION,
)


class AccessMode(StrEnum):
    """What a grant allows: playback only, or playback and download of the original."""

    VIEW = "view"
    VIEW_DOWNLOAD = "view_download"


class RequestStatus(StrEnum):
    """Life of an access request."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    REFUSED_BY_RULE = "refused_by_rule"


class AccessRequestRecord(Base):
    """One record named by a request (a whole-case request lists the case's records at filing time)."""

    __tablename__ = "access_request_records"

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("access_requests.id"), primary_key=True)
    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), primary_key=True, index=True)


class AccessGrantRecord(Base):
    """One record a grant covers."""

    __tablename__ = "access_grant_records"

    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("access_grants.id"), primary_key=True)
    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), primary_key=True, index=True)


class AccessRequest(Base):
    """An application to view (or view and download) records, filed by the person who will use the grant."""

    __tablename__ = "access_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    whole_case: Mapped[bool] = mapped_column(default=False)
    purpose: Mapped[AccessPurpose] = mapped_column(str_enum(AccessPurpose, 32))
    mode: Mapped[AccessMode] = mapped_column(str_enum(AccessMode, 16))
    duration_hours: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, 16), default=RequestStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    # Confidential records a whole-case party copy left out (000 第九条), listed so the applicant is told.
    withheld_ids: Mapped[list[str]] = mapped_column(JSON, default=list)

    items: Mapped[list[AccessRequestRecord]] = relationship(lazy="selectin", cascade="all, delete-orphan")
    requester: Mapped[User] = relationship(foreign_keys=[requester_id], lazy="joined")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id], lazy="joined")
    case: Mapped[Case | None] = relationship(lazy="joined")
    grant: Mapped[AccessGrant | None] = relationship(back_populates="request", lazy="selectin")

    @property
    def record_ids(self) -> list[uuid.UUID]:
        """Return the ids of the records requested."""
        return [item.evidence_id for item in self.items]


class AccessGrant(Base):
    """An approval (批准) letting one person view or download listed records until it expires or is revoked."""

    __tablename__ = "access_grants"
    __table_args__ = (Index("ix_access_grants_grantee_expires", "grantee_id", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("access_requests.id"), unique=True)
    grantee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    approver_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[AccessPurpose] = mapped_column(str_enum(AccessPurpose, 32))
    mode: Mapped[AccessMode] = mapped_column(str_enum(AccessMode, 16))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"), default=None)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    revoke_reason: Mapped[str] = mapped_column(Text, default="")

    items: Mapped[list[AccessGrantRecord]] = relationship(lazy="selectin", cascade="all, delete-orphan")
    grantee: Mapped[User] = relationship(foreign_keys=[grantee_id], lazy="joined")
    approver: Mapped[User] = relationship(foreign_keys=[approver_id], lazy="joined")
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id], lazy="joined")
    request: Mapped[AccessRequest] = relationship(back_populates="grant", lazy="joined")

    @property
    def record_ids(self) -> list[uuid.UUID]:
        """Return the ids of the records covered."""
        return [item.evidence_id for item in self.items]

    def active_at(self, moment: datetime) -> bool:
        """Return whether the grant is in force at that moment."""
        return self.revoked_at is None and self.starts_at <= moment < self.expires_at


class PlaybackSession(Base):
    """Byte ranges one person fetched of one record under one grant, until idle; summarised into the custody log."""

    __tablename__ = "access_playback_sessions"
    __table_args__ = (Index("ix_access_playback_open", "user_id", "evidence_id", "variant", "closed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), index=True)
    grant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("access_grants.id"), default=None)
    basis: Mapped[str] = mapped_column(String(32))
    variant: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    bytes_served: Mapped[int] = mapped_column(BigInteger, default=0)
    ranges: Mapped[list[Any]] = mapped_column(JSON, default=list)
