"""HTTP routes for reading and verifying the custody log."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from vault.api.deps import ActorDep, ContextDep, SessionDep
from vault.api.errors import SIGNED_IN, error_responses
from vault.custody import browse, service
from vault.custody.schemas import (
    CheckpointPublic,
    CustodyEventPublic,
    LogEntryCheckPublic,
    LogPagePublic,
    LogVerdictPublic,
    VerificationPublic,
)
from vault.db import utcnow
from vault.errors import NotFound
from vault.keys import public_pem_of
from vault.text import Name

router = APIRouter(prefix="/api/custody", tags=["custody"])

MAX_LOG_INDEX = 2**63 - 1  # log indexes are BIGINT: a larger one would reach the driver and fail there


@router.get("/events", response_model=list[CustodyEventPublic], responses=SIGNED_IN)
def list_events(
    session: SessionDep,
    actor: ActorDep,
    subject_id: Name | None = None,
    case_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    after_index: Annotated[int, Query(ge=-1, le=MAX_LOG_INDEX)] = -1,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[CustodyEventPublic]:
    """List log entries (auditors), filtered by subject, case or acting user."""
    events = service.list_events(
        session=session,
        actor=actor,
        subject_id=subject_id,
        case_id=case_id,
        actor_id=actor_id,
        after_index=after_index,
        limit=limit,
    )
    return [CustodyEventPublic.model_validate(e) for e in events]


@router.get("/checkpoint", response_model=CheckpointPublic, responses=SIGNED_IN | error_responses(404))
def latest_checkpoint(session: SessionDep, actor: ActorDep) -> CheckpointPublic:
    """Return the newest signed checkpoint."""
    checkpoint = service.latest_checkpoint(session)
    if checkpoint is None:
        raise NotFound("the custody log is empty")
    return CheckpointPublic.model_validate(checkpoint)


@router.get("/public-key")
def public_key(context: ContextDep) -> dict[str, object]:
    """Return the vault's Ed25519 public key, for verifiers, the log's C2SP verifier key (vkey), and retired keys."""
    retired = [{"key_id": key_id, "pem": public_pem_of(raw)} for key_id, raw in context.anchors.retired_keys.items()]
    return {"key_id": context.signer.key_id, "algorithm": "Ed25519", "pem": context.signer.public_pem(),
            "origin": context.anchors.origin, "vkey": context.anchors.key.vkey(), "retired": retired}


@router.get("/proof/{log_index}", responses=SIGNED_IN | error_responses(404))
def inclusion_proof(
    log_index: Annotated[int, Path(ge=0, le=MAX_LOG_INDEX)], session: SessionDep, actor: ActorDep
) -> dict[str, Any]:
    """Return an inclusion proof for one entry against the newest checkpoint (auditors)."""
    return service.prove_inclusion(session=session, actor=actor, log_index=log_index)


@router.get("/consistency", responses=SIGNED_IN | error_responses(404))
def consistency_proof(
    old_size: Annotated[int, Query(ge=0, le=MAX_LOG_INDEX)], session: SessionDep, actor: ActorDep,
    new_size: Annotated[int | None, Query(ge=0, le=MAX_LOG_INDEX)] = None,
) -> dict[str, Any]:
    """Return a consistency proof between two signed checkpoints (auditors)."""
    return service.prove_consistency(session=session, actor=actor, old_size=old_size, new_size=new_size)


@router.get("/verify", response_model=LogVerdictPublic, responses=SIGNED_IN)
def verify(session: SessionDep, actor: ActorDep, context: ContextDep) -> LogVerdictPublic:
    """Re-check every entry and checkpoint, and keep the verdict as the log's last verification (auditors)."""
    verdict, _ = browse.verify_now(session=session, actor=actor, anchors=context.anchors, via="api", now=utcnow())
    session.commit()
    return LogVerdictPublic(
        ok=verdict.ok, entries=verdict.entries, checkpoints=verdict.checkpoints, anchored=verdict.anchored,
        unanchored=verdict.unanchored, problems=verdict.problems, lost=verdict.lost
    )


@router.get("/verifications/latest", response_model=VerificationPublic | None, responses=SIGNED_IN)
def last_verification(session: SessionDep, actor: ActorDep) -> VerificationPublic | None:
    """Return the newest full verification of the log, whoever ran it and how (auditors); null if none ran yet."""
    run = browse.last_verification(session=session, actor=actor)
    return VerificationPublic.model_validate(run) if run else None


@router.get("/log", response_model=LogPagePublic, responses=SIGNED_IN | error_responses(422))
def browse_log(
    session: SessionDep, actor: ActorDep, context: ContextDep, before: int | None = None, limit: int = 50
) -> LogPagePublic:
    """Return log entries newest first, each with its inclusion proof checked against the latest checkpoint."""
    page = browse.browse_log(session=session, actor=actor, public_keys=context.anchors.public_keys, before=before,
                             limit=limit)
    return LogPagePublic(
        size=page.size,
        checkpoint=CheckpointPublic.model_validate(page.checkpoint) if page.checkpoint else None,
        checkpoint_signed=page.checkpoint_signed,
        entries=[
            LogEntryCheckPublic(
                log_index=c.entry.event.log_index, at=c.entry.event.at, actor=c.entry.actor,
                action=c.entry.event.action, subject=c.entry.subject, case_number=c.entry.case_number,
                details=c.entry.event.details, leaf_hash=c.entry.event.leaf_hash, included=c.included,
            )
            for c in page.checks
        ],
        older=page.older,
        last_verification=VerificationPublic.model_validate(page.last_verification) if page.last_verification
        else None,
    )
