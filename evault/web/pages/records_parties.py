"""Party pages for records managers: search, create, show (masked, or revealed once and logged), edit, link."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from evault.web.auth import CsrfDep, SignedInDep
from evault.web.forms import refusal_for_form
from evault.web.i18n import N_
from evault.web.templating import render_page
from vault.api.deps import ContextDep, SessionDep
from vault.cases import search, service
from vault.cases.models import Party, PartyKind
from vault.errors import VaultError
from vault.identities.authz import Permission, has_permission, require
from vault.identities.sign_in import SignedIn
from vault.keys import DataCipher

router = APIRouter(include_in_schema=False)

PARTY_KIND_NAMES: dict[str, str] = {PartyKind.PERSON: N_("Natural person"), PartyKind.ORGANISATION: N_("Organisation")}
PERSONAL_FIELDS = ("id_number", "phone", "address", "bank_account")
_STATUS = {"permission_denied": 403, "conflict": 409, "not_found": 404}


def _page(request: Request, person: SignedIn, template: str, *, status_code: int = 200, **values: Any) -> Response:
    return render_page(request, template, status_code=status_code, person=person, party_kind_names=PARTY_KIND_NAMES,
                       kinds=list(PartyKind), **values)



@router.get("/parties")
def parties(
    request: Request, person: SignedInDep, session: SessionDep, context: ContextDep,
    name: Annotated[str, Query(max_length=256)] = "", id_number: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """Find parties by any part of the name, or (for those who may see personal data) by a whole ID number."""
    if id_number.strip():
        found = search.find_parties_by_id_number(session=session, actor=person.actor, cipher=context.cipher,
                                                 id_number=id_number)
    else:
        found = service.list_parties(session=session, actor=person.actor, name=name or None)
    rows = [(party, service.masked_personal_data(party, context.cipher)) for party in found]
    return _page(request, person, "records/parties.html", rows=rows, name=name, id_number=id_number,
                 may_search_id=has_permission(person.actor, Permission.REVEAL_PERSONAL_DATA))


@router.get("/parties/new")
def new_party(request: Request, person: SignedInDep) -> Response:
    """Show the form for a new party (records managers)."""
    require(person.actor, Permission.MANAGE_PARTIES)
    return _page(request, person, "records/party_new.html", error=None, chosen={})


@router.post("/parties/new")
def create_party(
    request: Request, person: CsrfDep, session: SessionDep, context: ContextDep,
    kind: Annotated[PartyKind, Form()], name: Annotated[str, Form(max_length=256)],
    legal_representative: Annotated[str, Form(max_length=128)] = "",
    id_number: Annotated[str, Form(max_length=64)] = "", phone: Annotated[str, Form(max_length=32)] = "",
    address: Annotated[str, Form(max_length=512)] = "", bank_account: Annotated[str, Form(max_length=64)] = "",
    case_number: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Create the party (personal data encrypted), optionally on a case, and show it; a refusal stays on the form."""
    data = service.PartyInput(kind=kind, name=name, legal_representative=legal_representative,
                              id_number=id_number or None, phone=phone or None, address=address or None,
                              bank_account=bank_account or None)
    try:
        case = (service.lookup_case(session=session, actor=person.actor, case_number=case_number)
                if case_number.strip() else None)
        party = service.add_party(session=session, actor=person.actor, cipher=context.cipher, data=data, case=case)
    except VaultError as error:
        refused = refusal_for_form(session, error)
        chosen = {"kind": kind.value, "name": name, "legal_representative": legal_representative,
                  "id_number": id_number, "phone": phone, "address": address, "bank_account": bank_account,
                  "case_number": case_number}
        return _page(request, person, "records/party_new.html", status_code=_STATUS.get(refused["code"], 422),
                     error=refused, chosen=chosen)
    session.commit()
    return RedirectResponse(f"/parties/{party.id}?saved=created", status_code=303)


def _party_page(request: Request, person: SignedIn, session: Session, cipher: DataCipher, party: Party, *,
                personal: dict[str, str | None] | None = None, error: dict[str, str] | None = None,
                chosen: dict[str, str] | None = None, saved: str = "") -> Response:
    revealed = personal is not None
    shown = personal if personal is not None else service.masked_personal_data(party, cipher)
    return _page(request, person, "records/party.html",
                 status_code=_STATUS.get(error["code"], 422) if error else 200,
                 party=party, personal=shown, revealed=revealed, error=error, chosen=chosen or {}, saved=saved,
                 cases=service.party_cases(session=session, party=party),
                 may_reveal=has_permission(person.actor, Permission.REVEAL_PERSONAL_DATA),
                 may_manage=has_permission(person.actor, Permission.MANAGE_PARTIES))


@router.get("/parties/{party_id}")
def show_party(request: Request, party_id: uuid.UUID, person: SignedInDep, session: SessionDep,
               context: ContextDep, saved: str = "") -> Response:
    """Show a party with personal data masked, its cases, and the forms to edit and link it."""
    party = service.get_party(session=session, actor=person.actor, party_id=party_id)
    return _party_page(request, person, session, context.cipher, party, saved=saved)


@router.post("/parties/{party_id}/reveal")
def reveal_party(request: Request, party_id: uuid.UUID, person: CsrfDep, session: SessionDep,
                 context: ContextDep) -> Response:
    """Show the party's personal data unmasked for this one page view, logged as the API's ?reveal=true is."""
    party = service.get_party(session=session, actor=person.actor, party_id=party_id)
    personal = service.reveal_personal_data(session=session, actor=person.actor, cipher=context.cipher, party=party)
    session.commit()
    return _party_page(request, person, session, context.cipher, party, personal=personal)


@router.post("/parties/{party_id}")
def save_party(
    request: Request, party_id: uuid.UUID, person: CsrfDep, session: SessionDep, context: ContextDep,
    kind: Annotated[PartyKind, Form()], name: Annotated[str, Form(max_length=256)],
    legal_representative: Annotated[str, Form(max_length=128)] = "",
    id_number: Annotated[str, Form(max_length=64)] = "", phone: Annotated[str, Form(max_length=32)] = "",
    address: Annotated[str, Form(max_length=512)] = "", bank_account: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Save changes; personal data fields left empty keep what is stored (it is never put back into the form)."""
    party = service.get_party(session=session, actor=person.actor, party_id=party_id)
    given = {"id_number": id_number, "phone": phone, "address": address, "bank_account": bank_account}
    changes = service.PartyChanges(kind=kind, name=name, legal_representative=legal_representative,
                                   **{field: value for field, value in given.items() if value.strip()})
    try:
        service.update_party(session=session, actor=person.actor, cipher=context.cipher, party=party,
                             changes=changes)
    except VaultError as error:
        refused = refusal_for_form(session, error)
        party = service.get_party(session=session, actor=person.actor, party_id=party_id)
        chosen = {"kind": kind.value, "name": name, "legal_representative": legal_representative}
        return _party_page(request, person, session, context.cipher, party, error=refused, chosen=chosen)
    session.commit()
    return RedirectResponse(f"/parties/{party.id}?saved=saved", status_code=303)


@router.post("/parties/{party_id}/cases")
def link_party(request: Request, party_id: uuid.UUID, person: CsrfDep, session: SessionDep, context: ContextDep,
               case_number: Annotated[str, Form(max_length=128)]) -> Response:
    """Link the party to one more case (any bracket variant of its number); a refusal is shown on the page."""
    party = service.get_party(session=session, actor=person.actor, party_id=party_id)
    try:
        case = service.lookup_case(session=session, actor=person.actor, case_number=case_number)
        service.link_party_to_case(session=session, actor=person.actor, party=party, case=case)
    except VaultError as error:
        refused = refusal_for_form(session, error)
        party = service.get_party(session=session, actor=person.actor, party_id=party_id)
        return _party_page(request, person, session, context.cipher, party, error=refused,
                           chosen={"case_number": case_number})
    session.commit()
    return RedirectResponse(f"/parties/{party.id}?saved=linked", status_code=303)
