"""Ingest's own catalog rows: what the officer declared for a record, and resumable uploads in progress."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, str_enum, utcnow


class IngestRecord(Base):
    """The tags as given at upload (kept even when they named nothing known) and the handover deadline."""

    __tablename__ = "ingest_records"

    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), primary_key=True)
    given_case_number: Mapped[str | None] = mapped_column(String(128), default=None)
    given_party: Mapped[str | None] = mapped_column(String(256), default=None)
    given_handlers: Mapped[list[str]] = mapped_column(JSON, default=list)
    field_return_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    late_reason: Mapped[str | None] = mapped_column(Text, default=None)
    handover_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class UploadState(StrEnum):
    """A resumable upload receives bytes until it is complete and its record committed."""

    RECEIVING = "receiving"
    COMPLETED = "completed"


class Upload(Base):
    """A tus upload: bytes staged under settings.uploads_dir/<id>, durable up to `offset`."""

    __tablename__ = "ingest_uploads"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    filename: Mapped[str] = mapped_column(String(512))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[UploadState] = mapped_column(str_enum(UploadState, 16), default=UploadState.RECEIVING)
    evidence_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("evidence.id"), default=None)
    duplicate: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ClearanceStatus(StrEnum):
    """A flag clearance request waits for a decision by someone other than the uploader and the requester."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class FlagClearanceRequest(Base):
    """A tag change that would clear compliance flags: who asked, the change, why, and the decision."""

    __tablename__ = "flag_clearance_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), index=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    clears: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[ClearanceStatus] = mapped_column(str_enum(ClearanceStatus, 16), default=ClearanceStatus.PENDING,
                                                    index=True)
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(128), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    decision_reason: Mapped[str | None] = mapped_column(Text, default=None)
