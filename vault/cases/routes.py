"""HTTP routes for cases (案件) and parties (当事人)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from vault.api.deps import ActorDep, ContextDep, SessionDep
from vault.api.errors import SIGNED_IN, error_responses
from vault.cases import service
from vault.cases.models import CaseStatus, Party
from vault.cases.schemas import CaseCreate, CasePublic, CaseStatusChange, PartyCreate, PartyPublic
from vault.keys import DataCipher
from vault.text import Name

router = APIRouter(prefix="/api", tags=["cases"], responses=SIGNED_IN)


@router.post("/cases", response_model=CasePublic, status_code=201, responses=error_responses(409))
def add_case(body: CaseCreate, session: SessionDep, actor: ActorDep) -> CasePublic:
    """Create a case."""
    case = service.add_case(
        session=session, actor=actor, case_number=body.case_number, case_type=body.case_type, title=body.title
    )
    session.commit()
    return CasePublic.model_validate(case)


@router.get("/cases", response_model=list[CasePublic], responses=error_responses(404))
def list_cases(
    session: SessionDep, actor: ActorDep, status: CaseStatus | None = None, case_number: Name | None = None
) -> list[CasePublic]:
    """List cases, or find one by its case number (案号)."""
    if case_number is not None:
        return [CasePublic.model_validate(service.lookup_case(session=session, actor=actor, case_number=case_number))]
    return [CasePublic.model_validate(c) for c in service.list_cases(session=session, actor=actor, status=status)]


@router.get("/cases/{case_id}", response_model=CasePublic, responses=error_responses(404))
def get_case(case_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> CasePublic:
    """Return one case."""
    return CasePublic.model_validate(service.get_case(session=session, actor=actor, case_id=case_id))


@router.post("/cases/{case_id}/status", response_model=CasePublic, responses=error_responses(404, 409))
def change_status(case_id: uuid.UUID, body: CaseStatusChange, session: SessionDep, actor: ActorDep) -> CasePublic:
    """Close, archive or reopen a case."""
    case = service.get_case(session=session, actor=actor, case_id=case_id)
    case = service.change_case_status(session=session, actor=actor, case=case, status=body.status)
    session.commit()
    return CasePublic.model_validate(case)


def _public(party: Party, cipher: DataCipher) -> PartyPublic:
    return PartyPublic(
        id=party.id,
        kind=party.kind,
        name=party.name,
        legal_representative=party.legal_representative,
        **service.masked_personal_data(party, cipher),
    )


@router.post("/parties", response_model=PartyPublic, status_code=201, responses=error_responses(404, 409))
def add_party(body: PartyCreate, session: SessionDep, actor: ActorDep, context: ContextDep) -> PartyPublic:
    """Create a party, optionally linked to a case."""
    case = service.find_case(session=session, case_number=body.case_number) if body.case_number else None
    data = service.PartyInput(
        kind=body.kind,
        name=body.name,
        legal_representative=body.legal_representative,
        id_number=body.id_number,
        phone=body.phone,
        address=body.address,
        bank_account=body.bank_account,
    )
    party = service.add_party(session=session, actor=actor, cipher=context.cipher, data=data, case=case)
    session.commit()
    return _public(party, context.cipher)
