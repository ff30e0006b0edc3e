"""API shapes for call-ups (调阅) of case materials for filing review."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from vault.callups.service import CallUpState, CallUpView
from vault.text import Name, Paragraph, Title


class CallUpCreate(BaseModel):
    """A call-up notice (调阅案卷材料通知) as received from a higher-level department."""

    department: Title = Field(description="Requesting department (调阅机关), e.g. 安徽省应急管理厅")
    document_number: Name = Field(description="The notice's document number (文号)")
    case_numbers: list[Name] = Field(min_length=1, max_length=100, description="Case numbers (案号) called up")
    evidence_ids: list[uuid.UUID] | None = Field(default=None, description="Only these records (default: all)")
    received_on: date | None = Field(default=None, description="Day the notice arrived (default: today)")
    note: Paragraph = ""


class CallUpFulfil(BaseModel):
    """The filing-review export(s) that answer a call-up."""

    export_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)


class CallUpPublic(BaseModel):
    """A call-up, its due date in working days (工作日) and where it stands."""

    id: uuid.UUID
    department: str
    document_number: str
    case_numbers: list[str]
    evidence_ids: list[str] | None
    received_on: date
    working_days: int
    due_on: date
    state: CallUpState
    working_days_overdue: int
    provisional: bool
    provisional_reason: str | None
    note: str
    registered_by: str
    registered_at: datetime
    export_ids: list[str]
    fulfilled_by: str | None
    fulfilled_at: datetime | None
    fulfilled_late: bool

    @classmethod
    def of(cls, view: CallUpView) -> CallUpPublic:
        """Build the public view of a call-up."""
        c = view.callup
        return cls(
            id=c.id, department=c.department, document_number=c.document_number, case_numbers=c.case_numbers,
            evidence_ids=c.evidence_ids, received_on=c.received_on, working_days=c.working_days, due_on=view.due_on,
            state=view.state, working_days_overdue=view.working_days_overdue, provisional=view.provisional,
            provisional_reason=view.provisional_reason, note=c.note, registered_by=c.registered_by,
            registered_at=c.registered_at, export_ids=c.export_ids, fulfilled_by=c.fulfilled_by,
            fulfilled_at=c.fulfilled_at, fulfilled_late=view.fulfilled_late,
        )
