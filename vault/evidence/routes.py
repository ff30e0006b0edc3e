"""HTTP routes for evidence metadata."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from vault.api.deps import ActorDep, ContextDep, SessionDep
from vault.api.errors import SIGNED_IN, error_responses
from vault.evidence import service
from vault.evidence.schemas import EvidencePublic, EvidenceSearchParams
from vault.evidence.search import search_evidence

router = APIRouter(prefix="/api/evidence", tags=["evidence"], responses=SIGNED_IN)


_TOTAL = {"X-Total-Count": {"description": "how many records match in all", "schema": {"type": "integer"}}}


@router.get("", response_model=list[EvidencePublic],
            responses={200: {"headers": _TOTAL}, **error_responses(404)})
def list_evidence(
    session: SessionDep, actor: ActorDep, context: ContextDep, response: Response,
    params: Annotated[EvidenceSearchParams, Query()],
) -> list[EvidencePublic]:
    """Search the records the caller may see (officers: their own uploads); one page, the total in X-Total-Count."""
    page, page_size, offset = params.window()
    found = search_evidence(session=session, actor=actor, query=params.query(), cipher=context.cipher, page=page,
                            page_size=page_size, offset=offset)
    response.headers["X-Total-Count"] = str(found.total)
    return [EvidencePublic.of(e) for e in found.items]


@router.get("/{evidence_id}", response_model=EvidencePublic, responses=error_responses(404))
def get_evidence(evidence_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> EvidencePublic:
    """Return one record's metadata."""
    return EvidencePublic.of(service.get_evidence(session=session, actor=actor, evidence_id=evidence_id))
