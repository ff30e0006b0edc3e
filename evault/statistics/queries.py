"""The report's reads of the vault, ingest and retention tables; plain rows, no counting."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from ingest.models import IngestRecord
from retention.models import DisposalCertificate, RetentionState
from vault.access.models import AccessRequest, AccessRequestRecord
from vault.cases.models import Case
from vault.evidence.models import Evidence, EvidenceStatus, evidence_handlers
from vault.exports.models import ExportCopy
from vault.identities.models import Handler


@dataclass(frozen=True)
class RecordRow:
    """What the report counts of one record."""

    id: uuid.UUID
    recorded_at: datetime
    uploaded_at: datetime
    activity: str | None
    party_informed: bool
    media_type: str
    media_info: dict[str, Any]
    recorder_serial: str | None
    case_type: str | None
    retention_class: str | None
    handover_deadline: datetime | None


@dataclass(frozen=True)
class HandlerRow:
    """One handler named on one record."""

    evidence_id: uuid.UUID
    handler_id: uuid.UUID
    name: str
    certificate_number: str
    unit: str


def recorded_at() -> ColumnElement[datetime]:
    """Return when a record counts as made: its capture start, or its upload when no capture time is known."""
    return func.coalesce(Evidence.capture_start, Evidence.uploaded_at)


def _in(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return (column >= start) & (column < end)  # type: ignore[no-any-return]


def unit_records(unit: str) -> Select[tuple[uuid.UUID]]:
    """Return the ids of records with a handler of the unit (a subquery)."""
    return (select(evidence_handlers.c.evidence_id).join(Handler, Handler.id == evidence_handlers.c.handler_id)
            .where(Handler.unit == unit))


def records_in(session: Session, start: datetime, end: datetime) -> list[RecordRow]:
    """Return the records made in [start, end)."""
    made = recorded_at()
    query = (
        select(Evidence.id, made, Evidence.uploaded_at, Evidence.activity, Evidence.party_informed,
               Evidence.media_type, Evidence.media_info, Evidence.recorder_serial, Case.case_type,
               RetentionState.retention_class, IngestRecord.handover_deadline)
        .outerjoin(Case, Case.id == Evidence.case_id)
        .outerjoin(RetentionState, RetentionState.evidence_id == Evidence.id)
        .outerjoin(IngestRecord, IngestRecord.evidence_id == Evidence.id)
        .where(_in(made, start, end))
    )
    return [RecordRow(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6] or {}, row[7],
                      row[8].value if row[8] else None, row[9].value if row[9] else None, row[10])
            for row in session.execute(query)]


def handlers_in(session: Session, start: datetime, end: datetime) -> list[HandlerRow]:
    """Return the handlers named on the records made in [start, end)."""
    query = (
        select(evidence_handlers.c.evidence_id, Handler.id, Handler.name, Handler.certificate_number, Handler.unit)
        .join(Handler, Handler.id == evidence_handlers.c.handler_id)
        .join(Evidence, Evidence.id == evidence_handlers.c.evidence_id)
        .where(_in(recorded_at(), start, end))
    )
    return [HandlerRow(*row) for row in session.execute(query)]


def units(session: Session) -> list[str]:
    """Return the handling units (执法单位) handlers are registered with."""
    return sorted(u for u in session.scalars(select(Handler.unit).distinct()) if u)


def access_requests_in(session: Session, start: datetime, end: datetime,
                       unit: str | None) -> list[tuple[str, str]]:
    """Return (purpose, status) of the access requests filed in [start, end), touching the unit if one is given."""
    query = select(AccessRequest.purpose, AccessRequest.status).where(_in(AccessRequest.created_at, start, end))
    if unit is not None:
        touching = select(AccessRequestRecord.request_id).where(
            AccessRequestRecord.evidence_id.in_(unit_records(unit)))
        query = query.where(AccessRequest.id.in_(touching))
    return [(purpose.value, status.value) for purpose, status in session.execute(query)]


def exports_in(session: Session, start: datetime, end: datetime, unit: str | None) -> list[tuple[str, int]]:
    """Return (purpose, records) of the bundles completed in [start, end), holding a record of the unit if given."""
    query = select(ExportCopy.purpose, ExportCopy.record_count, ExportCopy.evidence_ids).where(
        _in(ExportCopy.completed_at, start, end))
    rows = list(session.execute(query))
    if unit is None:
        return [(purpose.value, count) for purpose, count, _ids in rows]
    ours = {str(i) for i in session.scalars(unit_records(unit))}
    return [(purpose.value, count) for purpose, count, ids in rows if ours.intersection(ids)]


def disposals_in(session: Session, start: datetime, end: datetime, unit: str | None) -> list[str]:
    """Return the retention class of each original destroyed in [start, end), of the unit if given."""
    query = select(DisposalCertificate.retention_class).where(_in(DisposalCertificate.disposed_at, start, end))
    if unit is not None:
        query = query.where(DisposalCertificate.evidence_id.in_(unit_records(unit)))
    return list(session.scalars(query))


def coming_due(session: Session, start: datetime, end: datetime, unit: str | None) -> list[str]:
    """Return the retention class of each stored record whose retention ends in [start, end), not held."""
    query = (
        select(RetentionState.retention_class)
        .join(Evidence, Evidence.id == RetentionState.evidence_id)
        .where(Evidence.status == EvidenceStatus.STORED, RetentionState.permanent.is_(False),
               RetentionState.held.is_(False), _in(RetentionState.retain_until, start, end))
    )
    if unit is not None:
        query = query.where(Evidence.id.in_(unit_records(unit)))
    return [value.value for value in session.scalars(query)]
