"""Cases (案件) identified by case number (案号) and the parties (当事人) involved."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, String, Table, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vault.db import Base, UTCDateTime, str_enum, utcnow


class CaseType(StrEnum):
    """Kinds of enforcement matter; each carries its own case-file retention."""

    ROUTINE_INSPECTION = "routine_inspection"
    SIMPLE_PROCEDURE = "simple_procedure"
    GENERAL_PROCEDURE_PENALTY = "general_procedure_penalty"
    ADMINISTRATIVE_COERCION = "administrative_coercion"
    LICENSING = "licensing"
    COMPLAINT_VERIFICATION = "complaint_verification"


CASE_TYPE_LABELS: dict[CaseType, str] = {
    CaseType.ROUTINE_INSPECTION: "routine inspection (日常检查)",
    CaseType.SIMPLE_PROCEDURE: "simple procedure (简易程序)",
    CaseType.GENERAL_PROCEDURE_PENALTY: "general procedure penalty (普通程序行政处罚)",
    CaseType.ADMINISTRATIVE_COERCION: "administrative coercion (行政强制)",
    CaseType.LICENSING: "licensing (行政许可)",
    CaseType.COMPLAINT_VERIFICATION: "complaint verification (投诉举报核查)",
}


class CaseStatus(StrEnum):
    """Life of a case: open while handled, closed (结案), archived into the case file (归档)."""

    OPEN = "open"
    CLOSED = "closed"
    ARCHIVED = "archived"


class PartyKind(StrEnum):
    """A party is a natural person or an organisation."""

    PERSON = "person"
    ORGANISATION = "organisation"


case_parties = Table(
    "case_parties",
    Base.metadata,
    Column("case_id", ForeignKey("cases.id"), primary_key=True),
    Column("party_id", ForeignKey("parties.id"), primary_key=True),
)


class Party(Base):
    """A party (当事人); personal data columns hold AES-GCM ciphertext, never plaintext."""

    __tablename__ = "parties"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[PartyKind] = mapped_column(str_enum(PartyKind, 16))
    name: Mapped[str] = mapped_column(String(256), index=True)
    legal_representative: Mapped[str] = mapped_column(String(128), default="")
    id_number_enc: Mapped[str | None] = mapped_column(Text, default=None)
    # A keyed digest of the ID number (DataCipher.blind_index), so search can find it exactly without plaintext.
    id_number_digest: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    phone_enc: Mapped[str | None] = mapped_column(Text, default=None)
    address_enc: Mapped[str | None] = mapped_column(Text, default=None)
    bank_account_enc: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Case(Base):
    """An enforcement case or inspection file."""

    __tablename__ = "cases"
    # Server defaults are read when first used, not returned by each INSERT (which would name handling_unit).
    __mapper_args__ = {"eager_defaults": False}  # noqa: RUF012 - read once by the mapper

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_number: Mapped[str] = mapped_column(String(128), unique=True)
    case_type: Mapped[CaseType] = mapped_column(str_enum(CaseType, 32))
    title: Mapped[str] = mapped_column(String(512), default="")
    # The handling unit (承办单位). No Python default: left unset, the ORM leaves it out of the INSERT, so rows
    # written by code that predates the column (older migrations' tests, an older release) still insert.
    handling_unit: Mapped[str] = mapped_column(String(256), server_default="")
    status: Mapped[CaseStatus] = mapped_column(str_enum(CaseStatus, 16), default=CaseStatus.OPEN)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parties: Mapped[list[Party]] = relationship(secondary=case_parties, lazy="selectin")
