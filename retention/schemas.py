"""API shapes for retention, holds and disposition."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from retention.models import DisposalStatus, MarkerKind, QueueState, RequestStatus, RetentionClass
from vault.text import Paragraph


class RetentionPublic(BaseModel):
    """A record's computed retention and why."""

    model_config = ConfigDict(from_attributes=True)

    evidence_id: uuid.UUID
    retention_class: RetentionClass
    retain_until: datetime | None
    permanent: bool
    reason: str
    policy_version: int
    held: bool
    queue_state: QueueState
    fixity_checked_at: datetime | None
    fixity_ok: bool | None


class PolicyChange(BaseModel):
    """A new policy version: the settings that change and when it takes effect."""

    changes: dict[str, Any]
    effective_from: datetime | None = Field(default=None, description="default: when the vault receives it")
    note: Paragraph = ""


class PolicyVersionPublic(BaseModel):
    """One policy version."""

    model_config = ConfigDict(from_attributes=True)

    version: int
    effective_from: datetime
    rules: dict[str, Any]
    note: str
    created_by: str
    created_at: datetime


class PolicyRequestPublic(BaseModel):
    """A policy change that shortens a retention default and waits for a second person's approval."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    changes: dict[str, Any]
    shortened: list[str]
    effective_from: datetime
    note: str
    requested_by: str
    requested_at: datetime
    status: RequestStatus
    decided_by: str | None
    decided_at: datetime | None
    version: int | None


class PolicyRequestReject(BaseModel):
    """Why a policy change is rejected or withdrawn."""

    reason: str = Field(min_length=1, max_length=2000)


class MarkerCreate(BaseModel):
    """A long-term preservation (长期保存) marker on a record or a case."""

    evidence_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None
    kind: MarkerKind
    note: Paragraph = ""


class HoldCreate(BaseModel):
    """A legal hold on a record or a whole case."""

    evidence_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None
    reason: Paragraph = Field(min_length=1)


class HoldRelease(BaseModel):
    """Why a hold ends."""

    reason: Paragraph = Field(min_length=1)


class HoldPublic(BaseModel):
    """A legal hold."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    evidence_id: uuid.UUID | None
    case_id: uuid.UUID | None
    reason: str
    placed_by: str
    placed_at: datetime
    released_by: str | None
    released_at: datetime | None
    release_reason: str | None


class ReclassificationCreate(BaseModel):
    """Reclassify a record."""

    to_class: RetentionClass
    reason: Paragraph = Field(min_length=1)


class ReclassificationPublic(BaseModel):
    """A reclassification request."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    evidence_id: uuid.UUID
    to_class: RetentionClass
    reason: str
    requested_by: str
    status: RequestStatus


class DisposalCreate(BaseModel):
    """A proposal to destroy a due record."""

    evidence_id: uuid.UUID
    reason: Paragraph = "retention ended"


class DisposalPublic(BaseModel):
    """A disposal request."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    evidence_id: uuid.UUID
    reason: str
    proposed_by: str
    proposed_at: datetime
    status: DisposalStatus
    approved_by: str | None
    approved_at: datetime | None
    destroy_after: datetime | None = Field(description="pending destruction: destroyed after this, unless cancelled")
    cancelled_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None


class DisposalCancel(BaseModel):
    """Why a records manager cancels a disposal before it is carried out."""

    reason: Paragraph = Field(min_length=1)


class CertificatePublic(BaseModel):
    """A signed disposal certificate; `body` is exactly the signed text."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    evidence_id: uuid.UUID
    sha256: str
    size: int
    retention_class: str
    retention_basis: str
    policy_version: int
    proposed_by: str
    approved_by: str
    disposed_at: datetime
    body: str
    key_id: str
    signature: str


class ReportLine(BaseModel):
    """One record in a report section."""

    evidence_id: uuid.UUID
    name: str
    case_number: str | None
    retain_until: datetime | None
    note: str


class PendingDestructionLine(BaseModel):
    """An approved disposal in its recovery window; `destroy_after_local` is the agency's wall-clock time."""

    request_id: uuid.UUID
    evidence_id: uuid.UUID
    name: str
    case_number: str | None
    approved_by: str | None
    destroy_after: datetime
    destroy_after_local: str


class ArchivingLine(BaseModel):
    """A closed case and its archiving deadline (归档期限)."""

    case_id: uuid.UUID
    case_number: str
    closed_on: date
    deadline: date
    overdue_working_days: int
    calendar_note: str
    provisional: bool = Field(description="true when a year the count crosses has no holiday calendar")
    provisional_reason: str | None


class HolidayNoticeIn(BaseModel):
    """One year of the State Council's holiday notice: dates `YYYY-MM-DD` or ranges `YYYY-MM-DD..YYYY-MM-DD`."""

    year: int
    source: str = Field(description="the notice's title and document number")
    holidays: list[str] = Field(description="days off (放假), weekends inside a holiday may be listed too")
    working_days: list[str] = Field(default_factory=list, description="make-up working days (调休上班)")


class CalendarYearPublic(BaseModel):
    """A year's holidays as deadlines count them; `provisional` when nothing knows them (weekdays only)."""

    model_config = ConfigDict(from_attributes=True)

    year: int
    source: str | None
    provisional: bool
    holidays: list[date] = Field(description="weekdays that are not working days")
    working_days: list[date] = Field(description="Saturdays and Sundays that are working days (调休)")
    loaded_by: str | None
    loaded_at: datetime | None


class CalendarYearSummary(BaseModel):
    """A year whose holidays are known, and where from."""

    model_config = ConfigDict(from_attributes=True)

    year: int
    source: str | None
    loaded_by: str | None
    loaded_at: datetime | None


class ReportPublic(BaseModel):
    """The retention report."""

    model_config = ConfigDict(from_attributes=True)

    generated_at: datetime
    due: list[ReportLine]
    coming_due: list[ReportLine]
    held: list[ReportLine]
    overdue_archiving: list[ArchivingLine]
    failed_fixity: list[ReportLine]
    pending_destruction: list[PendingDestructionLine]
    kept: list[ReportLine] = Field(description="records whose disposal a records manager cancelled")
