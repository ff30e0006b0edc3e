"""An edit of an original: the clip or redacted copy a person asks for, its review and the derivative it made."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, str_enum, utcnow


class EditStatus(StrEnum):
    """Where an edit stands: drafted, rendered, reviewed; only an approved edit leaves the agency."""

    DRAFT = "draft"
    RENDERING = "rendering"
    RENDERED = "rendered"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    FAILED = "failed"


class DetectionStatus(StrEnum):
    """Where the assisted face detection of an edit stands."""

    NONE = "none"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Edit(Base):
    """One clip or redacted copy of one original, from its spec to the approved derivative."""

    __tablename__ = "edits"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), index=True)
    status: Mapped[EditStatus] = mapped_column(str_enum(EditStatus, 16), default=EditStatus.DRAFT)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # an EditSpec, as JSON
    # Suggested face tracks: {"id", "keyframes", "score", "decision": pending|accepted|rejected}.
    suggestions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    detection: Mapped[DetectionStatus] = mapped_column(str_enum(DetectionStatus, 16), default=DetectionStatus.NONE)
    editor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    editor_name: Mapped[str] = mapped_column(String(128))
    approver_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    approver_name: Mapped[str | None] = mapped_column(String(128), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    derivative_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("derivatives.id"), default=None)
    # The provenance document (spec, hashes, people, tool versions) once rendered; the approver joins it on approval.
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
