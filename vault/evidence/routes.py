"""HTTP routes for evidence metadata."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from vault.api.deps import ActorDep, SessionDep
from vault.api.errors import SIGNED_IN, error_responses
from vault.cases.service import lookup_case
from vault.evidence import service
from vault.evidence.schemas import EvidencePublic
from vault.text import Name

router = APIRouter(prefix="/api/evidence", tags=["evidence"], responses=SIGNED_IN)


@router.get("", response_model=list[EvidencePublic], responses=error_responses(404))
def list_evidence(
    session: SessionDep, actor: ActorDep, case_number: Name | None = None, limit: int = 100, offset: int = 0
) -> list[EvidencePublic]:
    """List records the caller may see (officers: their own uploads)."""
    case = lookup_case(session=session, actor=actor, case_number=case_number) if case_number else None
    records = service.list_evidence(session=session, actor=actor, case=case, limit=limit, offset=offset)
    return [EvidencePublic.of(e) for e in records]


@router.get("/{evidence_id}", response_model=EvidencePublic, responses=error_responses(404))
def get_evidence(evidence_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> EvidencePublic:
    """Return one record's metadata."""
    return EvidencePublic.of(service.get_evidence(session=session, actor=actor, evidence_id=evidence_id))
