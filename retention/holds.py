"""Legal holds (on a record or a whole case) that freeze retention and map to the store's own legal hold."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.errors import RequestNotPending
from retention.models import LegalHold, RetentionState
from retention.recovery import stop_pending_destruction
from retention.service import get_evidence_for_retention, is_held, recompute_retention, records_of_case
from vault.cases.models import Case
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import InvalidInput, NotFound
from vault.evidence.models import Evidence, EvidenceStatus
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.storage.base import BlobStore


def _covered(session: Session, hold: LegalHold) -> list[Evidence]:
    if hold.evidence_id is not None:
        return [get_evidence_for_retention(session, hold.evidence_id)]
    assert hold.case_id is not None
    return records_of_case(session, hold.case_id)


def place_hold(
    *, session: Session, actor: Actor, reason: str, now: datetime, store: BlobStore,
    evidence_id: uuid.UUID | None = None, case_id: uuid.UUID | None = None, zone: tzinfo = UTC,
) -> LegalHold:
    """Place a legal hold on one record or every record of a case, at the store as well as in the catalog."""
    require(actor, Permission.MANAGE_RETENTION)
    if (evidence_id is None) == (case_id is None) or not reason.strip():
        raise InvalidInput("a legal hold names one record or one case, and a reason")
    if case_id is not None and session.get(Case, case_id) is None:
        raise NotFound(f"no case {case_id}")
    if evidence_id is not None:
        get_evidence_for_retention(session, evidence_id)
    hold = LegalHold(evidence_id=evidence_id, case_id=case_id, reason=reason.strip(), placed_by=actor.name,
                     placed_at=now)
    session.add(hold)
    session.flush()
    if case_id is not None:
        record_event(session=session, actor=actor, action=CustodyAction.CASE_HOLD_PLACED, subject_type="case",
                     subject_id=case_id, case_id=case_id, now=now, details={"hold_id": str(hold.id), "reason": reason})
    for evidence in _covered(session, hold):
        if evidence.status == EvidenceStatus.DISPOSED:
            continue
        # The store's hold goes on first: if the commit then fails, the record is over-protected, never exposed.
        store.set_legal_hold(evidence.storage_key, evidence.version_id, True)
        # The request row first, then the retention state: the order the destruction job locks them in.
        stop_pending_destruction(session=session, actor=actor, evidence=evidence, now=now,
                                 reason=f"a legal hold was placed during the recovery window: {hold.reason}")
        recompute_retention(session, evidence, now, store=store, actor=actor, zone=zone)
        record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_HOLD_PLACED, subject_type="evidence",
                     subject_id=evidence.id, case_id=evidence.case_id, now=now,
                     details={"hold_id": str(hold.id), "reason": reason, "on": "case" if case_id else "record"})
    return hold


def release_hold(
    *, session: Session, actor: Actor, hold_id: uuid.UUID, reason: str, now: datetime, store: BlobStore,
    zone: tzinfo = UTC,
) -> LegalHold:
    """Release a hold (logged with who and why); the store's hold lifts only where no other hold remains."""
    require(actor, Permission.MANAGE_RETENTION)
    hold = session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound(f"no legal hold {hold_id}")
    if hold.released_at is not None:
        raise RequestNotPending(f"legal hold {hold_id} was already released")
    if not reason.strip():
        raise InvalidInput("releasing a legal hold needs a reason")
    hold.released_by, hold.released_at, hold.release_reason = actor.name, now, reason.strip()
    session.flush()
    if hold.case_id is not None:
        record_event(session=session, actor=actor, action=CustodyAction.CASE_HOLD_RELEASED, subject_type="case",
                     subject_id=hold.case_id, case_id=hold.case_id, now=now,
                     details={"hold_id": str(hold.id), "reason": reason})
    for evidence in _covered(session, hold):
        if evidence.status == EvidenceStatus.DISPOSED:
            continue
        still_held = is_held(session, evidence)
        recompute_retention(session, evidence, now, store=store, actor=actor, zone=zone)
        if not still_held:
            store.set_legal_hold(evidence.storage_key, evidence.version_id, False)
        record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_HOLD_RELEASED,
                     subject_type="evidence", subject_id=evidence.id, case_id=evidence.case_id, now=now,
                     details={"hold_id": str(hold.id), "reason": reason, "still_held": still_held})
    return hold


def list_holds(*, session: Session, actor: Actor, active_only: bool = True) -> list[LegalHold]:
    """Return legal holds, newest first."""
    require(actor, Permission.READ_ALL_EVIDENCE_METADATA)
    query = select(LegalHold).order_by(LegalHold.placed_at.desc())
    if active_only:
        query = query.where(LegalHold.released_at.is_(None))
    return list(session.scalars(query))


def held_states(session: Session, limit: int = 1000) -> list[RetentionState]:
    """Return retention states of records under a hold."""
    return list(session.scalars(select(RetentionState).where(RetentionState.held.is_(True)).limit(limit)))


@dataclass(frozen=True)
class HoldLine:
    """A legal hold with what it covers: a record's name, or a case's number."""

    hold: LegalHold
    record_name: str | None
    case_number: str | None


def hold_lines(*, session: Session, actor: Actor, active_only: bool = False) -> list[HoldLine]:
    """Return legal holds, newest first, each with the record or case it covers."""
    lines = []
    for hold in list_holds(session=session, actor=actor, active_only=active_only):
        evidence = session.get(Evidence, hold.evidence_id) if hold.evidence_id else None
        case_id = hold.case_id or (evidence.case_id if evidence else None)
        case = session.get(Case, case_id) if case_id else None
        lines.append(HoldLine(hold, evidence.original_name if evidence else None, case.case_number if case else None))
    return lines
