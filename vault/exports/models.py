"""The retained copy (复制留存) of every bundle handed out: what was given, to whom, under which approval."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, Uuid, event
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, str_enum


class ExportPurpose(StrEnum):
    """Why a bundle is made; each needs an approval (批准) for the matching access purpose."""

    COURT = "court"
    RECONSIDERATION = "reconsideration"
    FILING_REVIEW = "filing-review"
    PARTY_COPY = "party-copy"


PURPOSE_TITLES: dict[ExportPurpose, tuple[str, str]] = {
    ExportPurpose.COURT: ("行政诉讼", "administrative litigation (court)"),
    ExportPurpose.RECONSIDERATION: ("行政复议", "administrative reconsideration"),
    ExportPurpose.FILING_REVIEW: ("备案审查/调阅", "filing review by a higher-level department"),
    ExportPurpose.PARTY_COPY: ("当事人申请复制", "copy applied for by a party"),
}


class ExportCopy(Base):
    """Write-once record of one completed bundle: its digest, manifests, explanation and signature, not the footage."""

    __tablename__ = "export_copies"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    purpose: Mapped[ExportPurpose] = mapped_column(str_enum(ExportPurpose, 32))
    recipient: Mapped[str] = mapped_column(String(512))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    actor_name: Mapped[str] = mapped_column(String(128))
    grant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    evidence_ids: Mapped[list[str]] = mapped_column(JSON)
    record_count: Mapped[int] = mapped_column(Integer)
    withheld_count: Mapped[int] = mapped_column(Integer, default=0)
    withheld_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    payload_bytes: Mapped[int] = mapped_column(BigInteger)
    bundle_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    bundle_size: Mapped[int] = mapped_column(BigInteger)
    bundle_name: Mapped[str] = mapped_column(String(256))
    manifests: Mapped[dict[str, Any]] = mapped_column(JSON)
    explanation_text: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(32))
    timestamp_token: Mapped[str | None] = mapped_column(Text, default=None)
    checkpoint_size: Mapped[int] = mapped_column(BigInteger)
    retained_key: Mapped[str] = mapped_column(String(512))
    retained_version_id: Mapped[str] = mapped_column(String(256))


@event.listens_for(ExportCopy, "before_update")
def _refuse_update(_mapper: Any, _connection: Any, target: ExportCopy) -> None:
    raise RuntimeError(f"retained copy {target.id} is write-once; it cannot be changed")


@event.listens_for(ExportCopy, "before_delete")
def _refuse_delete(_mapper: Any, _connection: Any, target: ExportCopy) -> None:
    raise RuntimeError(f"retained copy {target.id} is write-once; it cannot be deleted")
