"""Cases and parties for records managers: create, edit, link and search, with personal data masked."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from evault.web.auth import CsrfDep, SignedInDep
from evault.web.forms import refusal_for_form
from evault.web.i18n import N_
from evault.web.pages import records_parties
from evault.web.templating import render_page
from evault.web.vocabulary import CASE_TYPE_NAMES
from vault.api.deps import ContextDep, SessionDep
from vault.cases import search, service
from vault.cases.models import CaseStatus, CaseType
from vault.errors import VaultError
from vault.identities.authz import Permission, require
from vault.identities.sign_in import SignedIn

router = APIRouter(include_in_schema=False)
router.include_router(records_parties.router)

PAGE_SIZE = 20
CASE_STATUS_NAMES: dict[str, str] = {
    CaseStatus.OPEN: N_("Open"), CaseStatus.CLOSED: N_("Closed (结案)"), CaseStatus.ARCHIVED: N_("Archived (归档)"),
}
LABELS = {"case_type_names": CASE_TYPE_NAMES, "case_status_names": CASE_STATUS_NAMES}


def _page(request: Request, person: SignedIn, template: str, *, status_code: int = 200, **values: Any) -> Response:
    return render_page(request, template, status_code=status_code, person=person, **LABELS, **values)



def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _day_start(day: date | None, zone: ZoneInfo) -> datetime | None:
    return datetime.combine(day, time(), tzinfo=zone) if day else None


@router.get("/cases")
def cases(
    request: Request, person: SignedInDep, session: SessionDep, context: ContextDep,
    case_number: Annotated[str, Query(max_length=128)] = "", title: Annotated[str, Query(max_length=512)] = "",
    status: Annotated[str, Query(max_length=16)] = "", party: Annotated[str, Query(max_length=256)] = "",
    opened_from: Annotated[str, Query(max_length=10)] = "", opened_to: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1)] = 1, saved: str = "",
) -> Response:
    """Search cases by case number (any bracket variant), title, status, party and opening date, a page at a time."""
    zone = context.settings.zone
    day_from, day_to = _day(opened_from), _day(opened_to)
    query = search.CaseQuery(
        case_number=case_number, title=title, party_name=party,
        status=CaseStatus(status) if status in set(CaseStatus) else None,
        opened_from=_day_start(day_from, zone),
        opened_before=_day_start(day_to + timedelta(days=1) if day_to else None, zone))
    found = search.search_cases(session=session, actor=person.actor, query=query,
                                offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    filters = {"case_number": case_number, "title": title, "status": status, "party": party,
               "opened_from": opened_from, "opened_to": opened_to}
    return _page(request, person, "records/cases.html", found=found, filters=filters, page=page, saved=saved,
                 pages=max(1, -(-found.total // PAGE_SIZE)),
                 link=lambda n: "/cases?" + urlencode(filters | {"page": n}),
                 statuses=list(CaseStatus))


@router.get("/cases/new")
def new_case(request: Request, person: SignedInDep, context: ContextDep) -> Response:
    """Show the form for a new case (records managers), the agency as its handling unit to begin with."""
    require(person.actor, Permission.MANAGE_CASES)
    return _page(request, person, "records/case_new.html", error=None, case_types=list(CaseType),
                 chosen={"handling_unit": context.settings.agency_name})


@router.post("/cases/new")
def create_case(
    request: Request, person: CsrfDep, session: SessionDep,
    case_number: Annotated[str, Form(max_length=256)], case_type: Annotated[str, Form(max_length=32)],
    title: Annotated[str, Form(max_length=512)] = "", status: Annotated[str, Form(max_length=16)] = "open",
    handling_unit: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """Create the case under its canonical number and go to the search with it; a refusal stays on the form."""
    try:
        number = service.require_agency_format(case_number)
        case = service.add_case(session=session, actor=person.actor, case_number=number,
                                case_type=service.parse_case_type(case_type), title=title.strip(),
                                handling_unit=handling_unit)
        if status and status != CaseStatus.OPEN:
            service.change_case_status(session=session, actor=person.actor, case=case, status=CaseStatus(status))
    except (VaultError, ValueError) as error:
        refused = refusal_for_form(session, error) if isinstance(error, VaultError) else {
            "code": "invalid_input", "message": str(error)}
        chosen = {"case_number": case_number, "case_type": case_type, "title": title, "status": status,
                  "handling_unit": handling_unit}
        return _page(request, person, "records/case_new.html", status_code=_status(refused), error=refused,
                     chosen=chosen, case_types=list(CaseType))
    session.commit()
    return RedirectResponse("/cases?" + urlencode({"case_number": case.case_number, "saved": "created"}),
                            status_code=303)


def _status(refused: dict[str, str]) -> int:
    return {"permission_denied": 403, "conflict": 409, "not_found": 404}.get(refused["code"], 422)


def _edit_page(request: Request, person: SignedIn, session: Session, case_id: uuid.UUID, *,
               error: dict[str, str] | None = None, chosen: dict[str, str] | None = None) -> Response:
    case = service.get_case(session=session, actor=person.actor, case_id=case_id)
    chosen = chosen or {"title": case.title, "case_type": case.case_type.value, "status": case.status.value,
                        "handling_unit": case.handling_unit}
    return _page(request, person, "records/case_edit.html", status_code=_status(error) if error else 200,
                 case=case, error=error, chosen=chosen, case_types=list(CaseType), statuses=list(CaseStatus))


@router.get("/cases/{case_id}/edit")
def edit_case(request: Request, case_id: uuid.UUID, person: SignedInDep, session: SessionDep) -> Response:
    """Show the form to change a case's title, type and status (records managers)."""
    require(person.actor, Permission.MANAGE_CASES)
    return _edit_page(request, person, session, case_id)


@router.post("/cases/{case_id}/edit")
def save_case(
    request: Request, case_id: uuid.UUID, person: CsrfDep, session: SessionDep,
    case_type: Annotated[str, Form(max_length=32)], status: Annotated[str, Form(max_length=16)],
    title: Annotated[str, Form(max_length=512)] = "", handling_unit: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """Save title, type and unit, then change the status through the status rules (close, archive, reopen)."""
    case = service.get_case(session=session, actor=person.actor, case_id=case_id)
    try:
        service.update_case(session=session, actor=person.actor, case=case, title=title,
                            case_type=service.parse_case_type(case_type), handling_unit=handling_unit)
        if status != case.status.value:
            service.change_case_status(session=session, actor=person.actor, case=case, status=CaseStatus(status))
    except (VaultError, ValueError) as error:
        refused = refusal_for_form(session, error) if isinstance(error, VaultError) else {
            "code": "invalid_input", "message": str(error)}
        return _edit_page(request, person, session, case_id, error=refused,
                          chosen={"title": title, "case_type": case_type, "status": status,
                                  "handling_unit": handling_unit})
    session.commit()
    return RedirectResponse("/cases?" + urlencode({"case_number": case.case_number, "saved": "saved"}),
                            status_code=303)
