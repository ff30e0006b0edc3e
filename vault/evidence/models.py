"""Evidence records (音像记录): one stored original each, its tags, flags and derived files."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, String, Table, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.cases.models import Case, Party
from vault.db import Base, UTCDateTime, str_enum, utcnow
from vault.identities.models import Handler, User


class Confidentiality(StrEnum):
    """Confidentiality level (密级/保密类别); anything but NONE is never copied to a party."""

    NONE = "none"
    STATE_SECRET = "state_secret"
    TRADE_SECRET = "trade_secret"
    PERSONAL_PRIVACY = "personal_privacy"


class EvidenceStatus(StrEnum):
    """An original is stored until an approved disposition removes its bytes."""

    STORED = "stored"
    DISPOSED = "disposed"


class DerivativeKind(StrEnum):
    """Derived files are separate objects, never the original."""

    THUMBNAIL = "thumbnail"
    PROXY = "proxy"
    CLIP = "clip"  # a part of the original, cut by a person (vault.redaction)
    REDACTED = "redacted"  # the original (or a clip of it) with regions or sound withheld


evidence_handlers = Table(
    "evidence_handlers",
    Base.metadata,
    Column("evidence_id", ForeignKey("evidence.id"), primary_key=True),
    Column("handler_id", ForeignKey("handlers.id"), primary_key=True),
    Index("ix_evidence_handlers_handler_id", "handler_id"),  # search by handler: the key starts with evidence_id
)


class Evidence(Base):
    """One original recording or photo, write-once in the blob store."""

    __tablename__ = "evidence"
    __table_args__ = (
        Index("ix_evidence_recorder_capture", "recorder_serial", "capture_start"),
        # For search (vault/evidence/search.py): each filter and sort key, and an officer's own uploads by time.
        Index("ix_evidence_uploaded_at", "uploaded_at"),
        Index("ix_evidence_capture_start", "capture_start"),
        Index("ix_evidence_size", "size"),
        Index("ix_evidence_party_id", "party_id"),
        Index("ix_evidence_activity", "activity"),
        Index("ix_evidence_confidentiality", "confidentiality"),
        Index("ix_evidence_uploader_uploaded", "uploader_id", "uploaded_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    sm3: Mapped[str | None] = mapped_column(String(64), default=None)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(128))
    original_name: Mapped[str] = mapped_column(String(512))
    storage_backend: Mapped[str] = mapped_column(String(16))
    storage_key: Mapped[str] = mapped_column(String(512))
    version_id: Mapped[str] = mapped_column(String(256))
    store_retain_until: Mapped[datetime] = mapped_column(UTCDateTime)
    capture_start: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    capture_end: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    recorder_serial: Mapped[str | None] = mapped_column(String(128), default=None)
    uploader_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    party_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("parties.id"), default=None)
    activity: Mapped[str | None] = mapped_column(String(64), default=None)
    party_informed: Mapped[bool] = mapped_column(default=False)
    confidentiality: Mapped[Confidentiality] = mapped_column(
        str_enum(Confidentiality, 32), default=Confidentiality.NONE
    )
    notes: Mapped[str] = mapped_column(Text, default="")
    # Where the officer says it was recorded (拍摄地点), for the explanation sheet when the media carry no GPS.
    place: Mapped[str | None] = mapped_column(String(256), default=None)
    media_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[EvidenceStatus] = mapped_column(str_enum(EvidenceStatus, 16), default=EvidenceStatus.STORED)

    case: Mapped[Case | None] = relationship(lazy="joined")
    party: Mapped[Party | None] = relationship(lazy="joined")
    uploader: Mapped[User] = relationship(lazy="joined")
    handlers: Mapped[list[Handler]] = relationship(secondary=evidence_handlers, lazy="selectin")
    flags: Mapped[list[EvidenceFlag]] = relationship(lazy="selectin", back_populates="evidence")
    derivatives: Mapped[list[Derivative]] = relationship(lazy="selectin", back_populates="evidence")


class EvidenceFlag(Base):
    """A reason to look twice at a record (late upload, gap, expired certificate, damaged...)."""

    __tablename__ = "evidence_flags"
    __table_args__ = (Index("ix_evidence_flags_flag_open", "flag", "cleared_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), index=True)
    flag: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    # Why it was raised, for machines: a reason code and the values that raised it (shown with `detail`).
    code: Mapped[str] = mapped_column(String(64), default="")
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    evidence: Mapped[Evidence] = relationship(back_populates="flags")


class Derivative(Base):
    """A file derived from an original (thumbnail, browser proxy); never evidence in itself.

    Stored in the store's derivatives area with its own short lock (retain_until); rows made before that
    (retain_until None) name objects among the originals, locked with their original, and stay readable there.
    """

    __tablename__ = "derivatives"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), index=True)
    kind: Mapped[DerivativeKind] = mapped_column(str_enum(DerivativeKind, 16))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(128))
    storage_key: Mapped[str] = mapped_column(String(512))
    version_id: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    derived: Mapped[bool] = mapped_column(default=True)
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    evidence: Mapped[Evidence] = relationship(back_populates="derivatives")
