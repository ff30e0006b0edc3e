"""Reclassification: longer applies at once; shorter waits for a second person and never undercuts the store lock."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.approvals import pending_request, require_second_person
from retention.models import Reclassification, RequestStatus, RetentionClass, RetentionMarker, RetentionState
from retention.policy import RetentionDecision, compute_retention
from retention.service import current_policy, get_evidence_for_retention, recompute_retention, record_facts
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.evidence.models import Evidence
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.storage.base import BlobStore


def _rank(decision_until: datetime | None, permanent: bool) -> tuple[int, datetime]:
    if permanent:
        return (2, datetime.max.replace(tzinfo=UTC))
    if decision_until is None:
        return (1, datetime.max.replace(tzinfo=UTC))
    return (0, decision_until)


def preview_reclassification(
    session: Session, evidence: Evidence, to_class: RetentionClass, now: datetime, *, zone: tzinfo = UTC
) -> RetentionDecision:
    """Return what the record's retention would be once reclassified and approved (markers and floors lifted)."""
    state = session.get(RetentionState, evidence.id)
    facts = replace(record_facts(session, evidence, state), explicit_class=to_class, markers=(),
                    floor_until=None, floor_permanent=False)
    return compute_retention(facts, current_policy(session, now), now, zone=zone)


def request_reclassification(
    *, session: Session, actor: Actor, evidence_id: uuid.UUID, to_class: RetentionClass, reason: str, now: datetime,
    store: BlobStore | None = None, zone: tzinfo = UTC,
) -> Reclassification:
    """Reclassify a record: a longer result applies now, a shorter one is left pending for a second person."""
    require(actor, Permission.MANAGE_RETENTION)
    evidence = get_evidence_for_retention(session, evidence_id)
    state = recompute_retention(session, evidence, now, store=store, actor=actor, zone=zone)
    preview = preview_reclassification(session, evidence, to_class, now, zone=zone)
    shorter = _rank(preview.retain_until, preview.permanent) < _rank(state.retain_until, state.permanent)
    request = Reclassification(evidence_id=evidence.id, to_class=to_class, reason=reason, requested_by_id=actor.id,
                               requested_by=actor.name, requested_at=now)
    session.add(request)
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_RECLASSIFICATION_REQUESTED,
                 subject_type="evidence", subject_id=evidence.id, case_id=evidence.case_id, now=now,
                 details={"request_id": str(request.id), "to_class": to_class.value, "reason": reason,
                          "shortens": shorter, "would_be": preview.reason})
    if not shorter:
        state.explicit_class = to_class
        request.status, request.decided_by, request.decided_at = RequestStatus.EXECUTED, actor.name, now
        recompute_retention(session, evidence, now, store=store, actor=actor, zone=zone)
    return request


def approve_reclassification(
    *, session: Session, actor: Actor, request_id: uuid.UUID, now: datetime, store: BlobStore | None = None,
    zone: tzinfo = UTC,
) -> RetentionState:
    """Approve a shortening (second person): the class changes, record markers and earlier floors are lifted."""
    request = pending_request(session, Reclassification, request_id, "reclassification")
    require_second_person(actor, request.requested_by_id, "shortening a retention")
    evidence = get_evidence_for_retention(session, request.evidence_id)
    state = session.get(RetentionState, evidence.id)
    assert state is not None  # the request computed it
    state.explicit_class = request.to_class
    state.floor_until, state.floor_permanent = None, False
    for marker in session.scalars(select(RetentionMarker).where(RetentionMarker.evidence_id == evidence.id,
                                                                RetentionMarker.cleared_at.is_(None))):
        marker.cleared_at = now
    request.status, request.decided_by, request.decided_at = RequestStatus.EXECUTED, actor.name, now
    session.flush()
    # The evidence's store lock stays a floor: the shortened retention never goes below what storage guarantees.
    return recompute_retention(session, evidence, now, store=store, actor=actor, zone=zone)


def reject_reclassification(
    *, session: Session, actor: Actor, request_id: uuid.UUID, reason: str, now: datetime
) -> Reclassification:
    """Reject a pending shortening; the retention stays as it is."""
    request = pending_request(session, Reclassification, request_id, "reclassification")
    require_second_person(actor, None, "rejecting a reclassification")
    request.status, request.decided_by, request.decided_at = RequestStatus.REJECTED, actor.name, now
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_RECLASSIFICATION_REJECTED,
                 subject_type="evidence", subject_id=request.evidence_id, now=now,
                 details={"request_id": str(request.id), "reason": reason})
    return request
