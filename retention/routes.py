"""HTTP routes for retention (保存期限), legal holds, reclassification and disposition (销毁)."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter

from retention import disposition, holds, reclassification, service
from retention.report import build_report
from retention.schemas import (
    CertificatePublic,
    DisposalCreate,
    DisposalPublic,
    HoldCreate,
    HoldPublic,
    HoldRelease,
    MarkerCreate,
    PolicyChange,
    PolicyVersionPublic,
    ReclassificationCreate,
    ReclassificationPublic,
    ReportPublic,
    RetentionPublic,
)
from vault.api.deps import ActorDep, ContextDep, SessionDep
from vault.api.errors import SIGNED_IN, error_responses
from vault.db import utcnow

router = APIRouter(prefix="/api/retention", tags=["retention"], responses=SIGNED_IN)


@router.get("/report", response_model=ReportPublic)
def report(session: SessionDep, actor: ActorDep, context: ContextDep) -> ReportPublic:
    """What is due, coming due, held, overdue for archiving (归档), and failed fixity."""
    built = build_report(session=session, actor=actor, now=utcnow(), zone=context.settings.zone)
    return ReportPublic.model_validate(asdict(built))


@router.get("/policy", response_model=list[PolicyVersionPublic])
def policy_history(session: SessionDep, actor: ActorDep) -> list[PolicyVersionPublic]:
    """Every policy version, oldest first (none: the shipped defaults apply)."""
    return [PolicyVersionPublic.model_validate(v) for v in service.policy_history(session=session, actor=actor)]


@router.post("/policy", response_model=PolicyVersionPublic, status_code=201, responses=error_responses(409))
def set_policy(body: PolicyChange, session: SessionDep, actor: ActorDep) -> PolicyVersionPublic:
    """Add a policy version effective from a date; stored records never shorten because of it."""
    row = service.set_policy(session=session, actor=actor, changes=body.changes, effective_from=body.effective_from,
                             note=body.note, now=utcnow())
    session.commit()
    return PolicyVersionPublic.model_validate(row)


@router.get("/evidence/{evidence_id}", response_model=RetentionPublic, responses=error_responses(404))
def get_retention(evidence_id: uuid.UUID, session: SessionDep, actor: ActorDep,
                  context: ContextDep) -> RetentionPublic:
    """A record's retention, with the reason it is kept."""
    state = service.get_retention(session=session, actor=actor, evidence_id=evidence_id, now=utcnow(),
                                  zone=context.settings.zone)
    session.commit()
    return RetentionPublic.model_validate(state)


@router.post("/markers", status_code=201, responses=error_responses(404, 409))
def mark(body: MarkerCreate, session: SessionDep, actor: ActorDep, context: ContextDep) -> dict[str, int]:
    """Mark a record or a case for long-term preservation (长期保存)."""
    marker = service.mark_long_term(session=session, actor=actor, kind=body.kind, note=body.note, now=utcnow(),
                                    store=context.store, evidence_id=body.evidence_id, case_id=body.case_id,
                                    zone=context.settings.zone)
    session.commit()
    return {"id": marker.id}


@router.get("/holds", response_model=list[HoldPublic])
def list_holds(session: SessionDep, actor: ActorDep, active_only: bool = True) -> list[HoldPublic]:
    """Legal holds, newest first."""
    return [HoldPublic.model_validate(h) for h in holds.list_holds(session=session, actor=actor,
                                                                    active_only=active_only)]


@router.post("/holds", response_model=HoldPublic, status_code=201, responses=error_responses(404, 409))
def place_hold(body: HoldCreate, session: SessionDep, actor: ActorDep, context: ContextDep) -> HoldPublic:
    """Place a legal hold on a record or a whole case."""
    hold = holds.place_hold(session=session, actor=actor, reason=body.reason, now=utcnow(), store=context.store,
                            evidence_id=body.evidence_id, case_id=body.case_id, zone=context.settings.zone)
    session.commit()
    return HoldPublic.model_validate(hold)


@router.post("/holds/{hold_id}/release", response_model=HoldPublic, responses=error_responses(404, 409))
def release_hold(hold_id: uuid.UUID, body: HoldRelease, session: SessionDep, actor: ActorDep,
                 context: ContextDep) -> HoldPublic:
    """Release a legal hold."""
    hold = holds.release_hold(session=session, actor=actor, hold_id=hold_id, reason=body.reason, now=utcnow(),
                              store=context.store, zone=context.settings.zone)
    session.commit()
    return HoldPublic.model_validate(hold)


@router.post("/evidence/{evidence_id}/reclassify", response_model=ReclassificationPublic, status_code=201,
             responses=error_responses(404, 409))
def reclassify(evidence_id: uuid.UUID, body: ReclassificationCreate, session: SessionDep, actor: ActorDep,
               context: ContextDep) -> ReclassificationPublic:
    """Reclassify a record; a shortening stays pending until a second person approves it."""
    request = reclassification.request_reclassification(
        session=session, actor=actor, evidence_id=evidence_id, to_class=body.to_class, reason=body.reason,
        now=utcnow(), store=context.store, zone=context.settings.zone)
    session.commit()
    return ReclassificationPublic.model_validate(request)


@router.post("/reclassifications/{request_id}/approve", response_model=RetentionPublic,
             responses=error_responses(404, 409))
def approve_reclassification(request_id: uuid.UUID, session: SessionDep, actor: ActorDep,
                             context: ContextDep) -> RetentionPublic:
    """Approve a pending shortening (a second person)."""
    state = reclassification.approve_reclassification(session=session, actor=actor, request_id=request_id,
                                                      now=utcnow(), store=context.store, zone=context.settings.zone)
    session.commit()
    return RetentionPublic.model_validate(state)


@router.get("/disposals", response_model=list[DisposalPublic])
def list_disposals(session: SessionDep, actor: ActorDep) -> list[DisposalPublic]:
    """Pending disposal requests."""
    return [DisposalPublic.model_validate(r) for r in disposition.list_requests(session=session, actor=actor)]


@router.post("/disposals", response_model=DisposalPublic, status_code=201, responses=error_responses(404, 409))
def propose_disposal(body: DisposalCreate, session: SessionDep, actor: ActorDep,
                     context: ContextDep) -> DisposalPublic:
    """Propose destroying a due record (records manager)."""
    request = disposition.propose_disposal(session=session, actor=actor, evidence_id=body.evidence_id,
                                           reason=body.reason, now=utcnow(), store=context.store,
                                           zone=context.settings.zone)
    session.commit()
    return DisposalPublic.model_validate(request)


@router.post("/disposals/{request_id}/approve", response_model=CertificatePublic, responses=error_responses(404, 409))
def approve_disposal(request_id: uuid.UUID, session: SessionDep, actor: ActorDep,
                     context: ContextDep) -> CertificatePublic:
    """Approve (a second person) and carry out a disposal; returns the signed certificate."""
    certificate = disposition.approve_disposal(session=session, actor=actor, request_id=request_id, now=utcnow(),
                                               store=context.store, signer=context.signer,
                                               zone=context.settings.zone)
    session.commit()
    return CertificatePublic.model_validate(certificate)


@router.get("/certificates/{evidence_id}", response_model=CertificatePublic, responses=error_responses(404))
def get_certificate(evidence_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> CertificatePublic:
    """The disposal certificate of a destroyed record."""
    return CertificatePublic.model_validate(disposition.get_certificate(session=session, actor=actor,
                                                                        evidence_id=evidence_id))
