"""Retention (保存期限) catalog: policy versions, per-record state, markers, holds, disposals, job leases."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime, str_enum, utcnow
from vault.workdays.models import HolidayCalendarYear as HolidayCalendarYear  # moved down into vault; kept importable


class RetentionClass(StrEnum):
    """Retention classes of DOMAIN.md (Retention)."""

    ROUTINE_INSPECTION = "routine_inspection"
    DEFAULT = "default"
    CASE_EVIDENCE = "case_evidence"
    LONG_TERM = "long_term"


class MarkerKind(StrEnum):
    """Reasons for long-term preservation (长期保存), `003` 第二十二条."""

    COERCIVE_ENFORCEMENT = "coercive_enforcement"
    DISPUTED_ENFORCEMENT = "disputed_enforcement"
    OBSTRUCTION_OF_OFFICERS = "obstruction_of_officers"
    OTHER = "other"


class QueueState(StrEnum):
    """Where a record stands on the way to disposition."""

    ACTIVE = "active"
    DUE = "due"
    PROPOSED = "proposed"
    DISPOSED = "disposed"
    PENDING_DESTRUCTION = "pending_destruction"
    KEPT = "kept"  # a records manager cancelled its disposal: off the queue until retention changes or a new proposal


class RequestStatus(StrEnum):
    """Life of a request that needs a second person."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTED = "executed"


class DisposalStatus(StrEnum):
    """Life of a disposal request: proposed, approved by a second person, then a recovery window before it is
    carried out; refused (rejected) by a guard, or cancelled by a records manager before that."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTED = "executed"
    PENDING_DESTRUCTION = "pending_destruction"
    CANCELLED = "cancelled"


class PolicyVersion(Base):
    """One version of the agency's retention policy; versions are never edited, only added."""

    __tablename__ = "retention_policy_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PolicyChangeRequest(Base):
    """A policy change that shortens a retention default, waiting for a second person (as disposal does)."""

    __tablename__ = "retention_policy_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    shortened: Mapped[list[str]] = mapped_column(JSON)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, 16), default=RequestStatus.PENDING)
    decided_by: Mapped[str | None] = mapped_column(String(128), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    version: Mapped[int | None] = mapped_column(Integer, default=None)


class RetentionState(Base):
    """The computed retention of one record, kept in step with its facts and with the store's lock."""

    __tablename__ = "retention_states"
    # The sweep reads due records through this index: an index range scan, O(due) not O(all).
    __table_args__ = (Index("ix_retention_states_due", "queue_state", "held", "retain_until"),)

    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), primary_key=True)
    retention_class: Mapped[RetentionClass] = mapped_column(str_enum(RetentionClass, 32))
    explicit_class: Mapped[RetentionClass | None] = mapped_column(str_enum(RetentionClass, 32), default=None)
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    permanent: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    policy_version: Mapped[int] = mapped_column(Integer, default=0)
    floor_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    floor_permanent: Mapped[bool] = mapped_column(default=False)
    held: Mapped[bool] = mapped_column(default=False)
    queue_state: Mapped[QueueState] = mapped_column(str_enum(QueueState, 32), default=QueueState.ACTIVE)
    reminded_for: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fixity_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    fixity_ok: Mapped[bool | None] = mapped_column(default=None)


class RetentionMarker(Base):
    """A long-term preservation marker on a record or a whole case."""

    __tablename__ = "retention_markers"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    evidence_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("evidence.id"), index=True, default=None)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    kind: Mapped[MarkerKind] = mapped_column(str_enum(MarkerKind, 32))
    note: Mapped[str] = mapped_column(Text, default="")
    marked_by: Mapped[str] = mapped_column(String(128))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class LegalHold(Base):
    """A legal hold on a record or a whole case: who, why, when, and who released it."""

    __tablename__ = "legal_holds"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    evidence_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("evidence.id"), index=True, default=None)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(128))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(128), default=None)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    release_reason: Mapped[str | None] = mapped_column(Text, default=None)


class Reclassification(Base):
    """A change of a record's retention class; a shortening waits for a second person's approval."""

    __tablename__ = "retention_reclassifications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), index=True)
    to_class: Mapped[RetentionClass] = mapped_column(str_enum(RetentionClass, 32))
    reason: Mapped[str] = mapped_column(Text)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, 16), default=RequestStatus.PENDING)
    decided_by: Mapped[str | None] = mapped_column(String(128), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class DisposalRequest(Base):
    """A proposal to destroy a due record (销毁), its approval by a second person, and the recovery window after it:
    approved, it waits until `destroy_after`, and a records manager may cancel it until then."""

    __tablename__ = "disposal_requests"
    __table_args__ = (Index("ix_disposal_requests_due", "status", "destroy_after"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    evidence_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("evidence.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    proposed_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    proposed_by: Mapped[str] = mapped_column(String(128))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[DisposalStatus] = mapped_column(str_enum(DisposalStatus, 32), default=DisposalStatus.PENDING)
    approved_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    approved_by: Mapped[str | None] = mapped_column(String(128), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    destroy_after: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cancelled_by: Mapped[str | None] = mapped_column(String(128), default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cancel_reason: Mapped[str | None] = mapped_column(Text, default=None)


class DisposalCertificate(Base):
    """The permanent, signed record of one destroyed original; the database refuses UPDATE and DELETE."""

    __tablename__ = "disposal_certificates"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    evidence_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    retention_class: Mapped[str] = mapped_column(String(32))
    retention_basis: Mapped[str] = mapped_column(Text)
    policy_version: Mapped[int] = mapped_column(Integer)
    proposed_by: Mapped[str] = mapped_column(String(128))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_by: Mapped[str] = mapped_column(String(128))
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(Text)


class RetentionCursor(Base):
    """How far the sweep has read the custody log for events that change retention facts."""

    __tablename__ = "retention_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    log_index: Mapped[int] = mapped_column(BigInteger, default=-1)


class JobLease(Base):
    """One attempt at one scheduled run of one job; the unique (job, slot, attempt) row makes exactly one worker
    execute it, and a fresh `heartbeat_at` shows that worker is still alive (else the run is taken over)."""

    __tablename__ = "job_leases"
    __table_args__ = (UniqueConstraint("job_name", "slot", "attempt", name="uq_job_leases_job_slot_attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    job_name: Mapped[str] = mapped_column(String(64))
    slot: Mapped[int] = mapped_column(BigInteger)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    worker: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
