"""Disposition (销毁): proposed by a records manager, approved by a second person, refused by every guard that
applies, and certified forever with a signed disposal certificate."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.errors import DispositionRefused, RequestNotPending, SecondPersonRequired
from retention.models import DisposalCertificate, DisposalRequest, DisposalStatus, QueueState, RetentionState
from retention.service import get_evidence_for_retention, is_held, recompute_retention
from vault.cases.models import Case, CaseStatus
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import NotFound, ObjectLocked
from vault.evidence.models import Evidence, EvidenceStatus
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.keys import Signer, canonical_json, verify_signature
from vault.storage.base import BlobStat, BlobStore

log = structlog.get_logger(__name__)

CERTIFICATE_PREFIX = b"evault disposal certificate v1\n"
# A disposal not yet carried out: waiting for approval, or approved and waiting out its recovery window.
OPEN_STATUSES = (DisposalStatus.PENDING, DisposalStatus.PENDING_DESTRUCTION)


def disposal_obstacles(
    session: Session, evidence: Evidence, state: RetentionState, store: BlobStore, now: datetime, *,
    stat: BlobStat | None = None,
) -> list[str]:
    """Return every reason the record may not be destroyed now; an empty list means it may.

    A caller that has just asked the store (the sweep asks for a batch at a time) passes its answer as `stat`."""
    reasons: list[str] = []
    if evidence.status == EvidenceStatus.DISPOSED:
        return ["the record was already disposed"]
    if is_held(session, evidence):
        reasons.append("a legal hold covers the record or its case")
    if evidence.case_id is not None:
        case = session.get(Case, evidence.case_id)
        if case is not None and case.status != CaseStatus.ARCHIVED:
            reasons.append(f"linked to case (案号) {case.case_number}, which is {case.status.value}, not archived")
    if state.permanent or state.retain_until is None:
        reasons.append(state.reason)
    elif state.retain_until > now:
        reasons.append(f"retention has not ended: {state.reason}")
    try:
        stat = stat or store.stat(evidence.storage_key, evidence.version_id)
    except NotFound:
        return reasons  # nothing left at the store to protect; the certificate says so
    if stat.legal_hold:
        reasons.append("the store holds a legal hold on the object")
    if stat.retain_until is not None and stat.retain_until > now:
        reasons.append(f"the store's lock runs until {stat.retain_until.isoformat()}")
    return reasons


def _refuse(session: Session, actor: Actor, evidence: Evidence, reasons: list[str], now: datetime,
            stage: str) -> DispositionRefused:
    record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_DISPOSAL_REFUSED, subject_type="evidence",
                 subject_id=evidence.id, case_id=evidence.case_id, now=now,
                 details={"stage": stage, "reasons": reasons})
    error = DispositionRefused(f"record {evidence.id} may not be disposed: " + "; ".join(reasons),
                               details={"reasons": reasons})
    error.record_kept = True
    return error


def propose_disposal(
    *, session: Session, actor: Actor, evidence_id: uuid.UUID, reason: str, now: datetime, store: BlobStore,
    zone: tzinfo = UTC,
) -> DisposalRequest:
    """Propose destroying a due record (records manager); refused and logged if any guard applies."""
    require(actor, Permission.MANAGE_RETENTION)
    evidence = get_evidence_for_retention(session, evidence_id)
    state = recompute_retention(session, evidence, now, store=store, actor=actor, zone=zone)
    reasons = disposal_obstacles(session, evidence, state, store, now)
    if reasons:
        raise _refuse(session, actor, evidence, reasons, now, "proposal")
    pending = session.scalar(select(DisposalRequest).where(DisposalRequest.evidence_id == evidence.id,
                                                           DisposalRequest.status.in_(OPEN_STATUSES)))
    if pending is not None:
        return pending
    request = DisposalRequest(evidence_id=evidence.id, reason=reason, proposed_by_id=actor.id,
                              proposed_by=actor.name, proposed_at=now)
    session.add(request)
    state.queue_state = QueueState.PROPOSED
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_DISPOSAL_PROPOSED, subject_type="evidence",
                 subject_id=evidence.id, case_id=evidence.case_id, now=now,
                 details={"request_id": str(request.id), "reason": reason, "retention": state.reason})
    return request


def approve_disposal(
    *, session: Session, actor: Actor, request_id: uuid.UUID, now: datetime, store: BlobStore, signer: Signer,
    recovery_days: int, zone: tzinfo = UTC,
) -> DisposalRequest:
    """Approve a disposal (a second person): every guard is checked, then it waits `recovery_days` as pending
    destruction (cancellable meanwhile) before a scheduled job destroys it; with 0 days it is destroyed now."""
    require(actor, Permission.APPROVE_DISPOSITION)
    request = session.get(DisposalRequest, request_id, with_for_update=True)  # a cancel may race the approval
    if request is None:
        raise NotFound(f"no disposal request {request_id}")
    if request.status != DisposalStatus.PENDING:
        raise RequestNotPending(f"disposal request {request_id} is already {request.status.value}")
    if actor.id is None or actor.id == request.proposed_by_id:
        raise SecondPersonRequired("a disposal must be approved by a second person, not the one who proposed it")
    evidence = get_evidence_for_retention(session, request.evidence_id)
    destroy_after = now + timedelta(days=recovery_days)
    request.status, request.approved_by_id, request.approved_by, request.approved_at = (
        DisposalStatus.APPROVED, actor.id, actor.name, now)
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_DISPOSAL_APPROVED, subject_type="evidence",
                 subject_id=evidence.id, case_id=evidence.case_id, now=now,
                 details={"request_id": str(request.id), "destroy_after": destroy_after.isoformat(),
                          "recovery_days": recovery_days})
    if recovery_days == 0:
        carry_out_disposal(session=session, actor=actor, request=request, now=now, store=store, signer=signer,
                           zone=zone)
        return request
    state = recompute_retention(session, evidence, now, store=store, actor=actor, zone=zone)
    reasons = disposal_obstacles(session, evidence, state, store, now)
    if reasons:
        request.status = DisposalStatus.REJECTED  # a fresh proposal and approval are needed once the reason is gone
        session.flush()
        raise _refuse(session, actor, evidence, reasons, now, "approval")
    request.status, request.destroy_after = DisposalStatus.PENDING_DESTRUCTION, destroy_after
    state.queue_state = QueueState.PENDING_DESTRUCTION  # the original and its store lock stay as they are
    session.flush()
    log.info("retention.disposal_pending", evidence_id=str(evidence.id), destroy_after=destroy_after.isoformat())
    return request


def carry_out_disposal(
    *, session: Session, actor: Actor, request: DisposalRequest, now: datetime, store: BlobStore, signer: Signer,
    zone: tzinfo = UTC,
) -> DisposalCertificate:
    """Destroy the record of an approved request and certify it; every guard is checked again right before deleting."""
    evidence = get_evidence_for_retention(session, request.evidence_id)
    state = recompute_retention(session, evidence, now, store=store, actor=actor, zone=zone)
    reasons = disposal_obstacles(session, evidence, state, store, now)
    if not reasons:
        try:
            store_result = _delete(store, evidence.storage_key, evidence.version_id)
        except ObjectLocked as exc:
            reasons = [f"the store refused: {exc.message}"]
    if reasons:
        request.status = DisposalStatus.REJECTED  # a fresh proposal and approval are needed once the reason is gone
        state.queue_state = QueueState.ACTIVE
        session.flush()
        raise _refuse(session, actor, evidence, reasons, now, "execution")
    return _certify(session, actor, evidence, state, request, store, signer, now, store_result)


def _delete(store: BlobStore, key: str, version_id: str) -> str:
    try:
        store.delete(key, version_id)
    except NotFound:
        return "already absent"
    return "deleted"


def _certify(session: Session, actor: Actor, evidence: Evidence, state: RetentionState, request: DisposalRequest,
             store: BlobStore, signer: Signer, now: datetime, store_result: str) -> DisposalCertificate:
    derivatives = []
    for derivative in evidence.derivatives:
        try:
            result = _delete(store, derivative.storage_key, derivative.version_id)
        except ObjectLocked as exc:  # a derivative is no evidence: report, do not block the certificate
            result = f"refused by the store: {exc.message}"
            log.error("retention.derivative_not_deleted", evidence_id=str(evidence.id), derivative=str(derivative.id))
        derivatives.append({"id": str(derivative.id), "kind": derivative.kind.value, "sha256": derivative.sha256,
                            "result": result})
    certificate_id = uuid.uuid4()
    approved_by, approved_at = request.approved_by or actor.name, request.approved_at or now
    destroy_after = request.destroy_after.isoformat() if request.destroy_after else None
    body = {
        "certificate_id": str(certificate_id), "evidence_id": str(evidence.id), "sha256": evidence.sha256,
        "sm3": evidence.sm3, "size": evidence.size, "store": evidence.storage_backend, "key": evidence.storage_key,
        "version_id": evidence.version_id, "store_result": store_result,
        "retention_class": state.retention_class.value, "retention_basis": state.reason,
        "retain_until": state.retain_until.isoformat() if state.retain_until else None,
        "policy_version": state.policy_version, "proposed_by": request.proposed_by,
        "proposed_at": request.proposed_at.isoformat(), "approved_by": approved_by,
        "approved_at": approved_at.isoformat(), "destroy_after": destroy_after, "disposed_by": actor.name,
        "disposed_at": now.isoformat(), "derivatives": derivatives,
    }
    text = canonical_json(body).decode()
    signature = base64.b64encode(signer.sign(CERTIFICATE_PREFIX + text.encode())).decode()
    certificate = DisposalCertificate(
        id=certificate_id, evidence_id=evidence.id, sha256=evidence.sha256, size=evidence.size,
        retention_class=state.retention_class.value, retention_basis=state.reason, policy_version=state.policy_version,
        proposed_by=request.proposed_by, proposed_at=request.proposed_at, approved_by=approved_by,
        approved_at=approved_at,
        disposed_at=now, body=text, key_id=signer.key_id, signature=signature)
    session.add(certificate)
    evidence.status = EvidenceStatus.DISPOSED
    state.queue_state = QueueState.DISPOSED
    request.status = DisposalStatus.EXECUTED
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_DISPOSED, subject_type="evidence",
                 subject_id=evidence.id, case_id=evidence.case_id, now=now,
                 details={"certificate": body, "signature": signature, "key_id": signer.key_id})
    log.info("retention.disposed", evidence_id=str(evidence.id), sha256=evidence.sha256,
             certificate_id=str(certificate_id))
    return certificate


def verify_certificate(certificate: DisposalCertificate, public_raw: bytes) -> bool:
    """Return whether the certificate's body is exactly what the vault signed."""
    message = CERTIFICATE_PREFIX + certificate.body.encode()
    return verify_signature(public_raw, base64.b64decode(certificate.signature), message)


def certificate_body(certificate: DisposalCertificate) -> dict[str, Any]:
    """Return the signed body as a dict."""
    body: dict[str, Any] = json.loads(certificate.body)
    return body


def get_certificate(*, session: Session, actor: Actor, evidence_id: uuid.UUID) -> DisposalCertificate:
    """Return the disposal certificate of a destroyed record."""
    require(actor, Permission.READ_ALL_EVIDENCE_METADATA)
    certificate = session.scalar(select(DisposalCertificate).where(DisposalCertificate.evidence_id == evidence_id))
    if certificate is None:
        raise NotFound(f"no disposal certificate for record {evidence_id}")
    return certificate


def list_requests(*, session: Session, actor: Actor, status: DisposalStatus | None = None,
                  limit: int = 500) -> list[DisposalRequest]:
    """Return disposal requests of one status, oldest first; by default the open ones (awaiting approval or
    pending destruction)."""
    require(actor, Permission.READ_ALL_EVIDENCE_METADATA)
    statuses = (status,) if status is not None else OPEN_STATUSES
    query = (select(DisposalRequest).where(DisposalRequest.status.in_(statuses))
             .order_by(DisposalRequest.proposed_at).limit(limit))
    return list(session.scalars(query))
