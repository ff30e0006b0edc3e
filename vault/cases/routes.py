"""HTTP routes for cases (案件) and parties (当事人)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from vault.api.deps import ActorDep, ContextDep, SessionDep
from vault.api.errors import SIGNED_IN, error_responses
from vault.cases import service
from vault.cases.models import CaseStatus, Party
from vault.cases.schemas import (
    CaseCreate,
    CasePublic,
    CaseStatusChange,
    PartyCaseLink,
    PartyCreate,
    PartyDetail,
    PartyPublic,
    PartyUpdate,
)
from vault.identities.actor import Actor
from vault.keys import DataCipher
from vault.text import Name, Title

router = APIRouter(prefix="/api", tags=["cases"], responses=SIGNED_IN)


@router.post("/cases", response_model=CasePublic, status_code=201, responses=error_responses(409))
def add_case(body: CaseCreate, session: SessionDep, actor: ActorDep) -> CasePublic:
    """Create a case."""
    case = service.add_case(
        session=session, actor=actor, case_number=body.case_number, case_type=body.case_type, title=body.title,
        handling_unit=body.handling_unit,
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


@router.get("/parties", response_model=list[PartyPublic], responses=error_responses(404))
def list_parties(
    session: SessionDep, actor: ActorDep, context: ContextDep,
    name: Annotated[Title | None, Query(description="any part of the party's name")] = None,
    case_number: Annotated[Name | None, Query(description="parties on this case (案号, any bracket variant)")] = None,
) -> list[PartyPublic]:
    """List parties (当事人) by name or case, personal data masked."""
    case = service.lookup_case(session=session, actor=actor, case_number=case_number) if case_number else None
    parties = service.list_parties(session=session, actor=actor, name=name, case=case)
    return [_public(p, context.cipher) for p in parties]


def _detail(session: Session, actor: Actor, party: Party, cipher: DataCipher, reveal: bool) -> PartyDetail:
    personal = (service.reveal_personal_data(session=session, actor=actor, cipher=cipher, party=party) if reveal
                else service.masked_personal_data(party, cipher))
    cases = [case.case_number for case in service.party_cases(session=session, party=party)]
    return PartyDetail(id=party.id, kind=party.kind, name=party.name, legal_representative=party.legal_representative,
                       created_at=party.created_at, revealed=reveal, cases=cases, **personal)


@router.get("/parties/{party_id}", response_model=PartyDetail, responses=error_responses(404))
def get_party(
    party_id: uuid.UUID, session: SessionDep, actor: ActorDep, context: ContextDep,
    reveal: Annotated[bool, Query(description="unmasked personal data (records managers; logged)")] = False,
) -> PartyDetail:
    """Show a party and its cases; personal data masked, or unmasked for those allowed, which is logged."""
    party = service.get_party(session=session, actor=actor, party_id=party_id)
    detail = _detail(session, actor, party, context.cipher, reveal)
    session.commit()
    return detail


@router.patch("/parties/{party_id}", response_model=PartyDetail, responses=error_responses(404))
def update_party(
    party_id: uuid.UUID, body: PartyUpdate, session: SessionDep, actor: ActorDep, context: ContextDep
) -> PartyDetail:
    """Change a party's name, kind, legal representative or personal data (records managers; logged)."""
    party = service.get_party(session=session, actor=actor, party_id=party_id)
    changes = service.PartyChanges(**body.model_dump(exclude_unset=True))
    party = service.update_party(session=session, actor=actor, cipher=context.cipher, party=party, changes=changes)
    session.commit()
    return _detail(session, actor, party, context.cipher, reveal=False)


@router.post("/parties/{party_id}/cases", response_model=PartyDetail, status_code=201,
             responses=error_responses(404, 409))
def link_party(
    party_id: uuid.UUID, body: PartyCaseLink, session: SessionDep, actor: ActorDep, context: ContextDep
) -> PartyDetail:
    """Link a party to one more case (records managers); a party may be on several cases."""
    party = service.get_party(session=session, actor=actor, party_id=party_id)
    case = service.lookup_case(session=session, actor=actor, case_number=body.case_number)
    service.link_party_to_case(session=session, actor=actor, party=party, case=case)
    session.commit()
    return _detail(session, actor, party, context.cipher, reveal=False)
