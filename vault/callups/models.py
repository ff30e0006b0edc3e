"""Call-ups (调阅) of case materials by a higher-level department reviewing a filing (`001` 备案规定 第十五条)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.cases.models import Case
from vault.db import Base, UTCDateTime, str_enum


class CallUpStatus(StrEnum):
    """What is stored; "overdue" is not stored but read off the due date (an open call-up past it)."""

    OPEN = "open"
    FULFILLED = "fulfilled"


class CallUpCase(Base):
    """One case a call-up asks for."""

    __tablename__ = "callup_cases"

    callup_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("callups.id"), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), primary_key=True, index=True)
    case: Mapped[Case] = relationship(lazy="joined")


class CallUp(Base):
    """A call-up notice (调阅案卷材料通知): who asks, under which document number (文号), for what, since when."""

    __tablename__ = "callups"
    __table_args__ = (UniqueConstraint("department", "document_number"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    department: Mapped[str] = mapped_column(String(256))
    document_number: Mapped[str] = mapped_column(String(128))
    received_on: Mapped[date] = mapped_column(Date, index=True)
    # The period in working days (工作日) when the notice was registered; the due date is counted from it.
    working_days: Mapped[int] = mapped_column(Integer)
    # The records named, or None for the whole case files.
    evidence_ids: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    registered_by: Mapped[str] = mapped_column(String(128))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[CallUpStatus] = mapped_column(str_enum(CallUpStatus, 16), default=CallUpStatus.OPEN, index=True)
    export_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    fulfilled_by: Mapped[str | None] = mapped_column(String(128), default=None)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    cases: Mapped[list[CallUpCase]] = relationship(lazy="selectin", cascade="all, delete-orphan")

    @property
    def case_numbers(self) -> list[str]:
        """Return the case numbers (案号) called up."""
        return [c.case.case_number for c in self.cases]
