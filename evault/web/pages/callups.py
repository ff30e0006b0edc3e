"""The call-up register (调阅): what is due and overdue, answering each with an export, and registering new ones."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from evault.web.auth import CsrfDep, SignedInDep
from evault.web.forms import RECORD_ID
from evault.web.templating import render_page
from vault.api.deps import ContextDep, SessionDep
from vault.callups import service
from vault.db import utcnow
from vault.errors import Conflict, InvalidInput, NotFound, VaultError
from vault.identities.authz import Permission, has_permission
from vault.identities.sign_in import SignedIn

router = APIRouter(include_in_schema=False)


def _register_values(session: Session, person: SignedIn, context: ContextDep, **values: Any) -> dict[str, Any]:
    views = service.list_callups(session=session, actor=person.actor, now=utcnow(), zone=context.settings.zone)
    return {
        "due": [v for v in views if v.state != service.CallUpState.FULFILLED],
        "fulfilled": sorted((v for v in views if v.state == service.CallUpState.FULFILLED),
                            key=lambda v: v.callup.fulfilled_at or v.callup.registered_at, reverse=True),
        # The form is shown to those the service lets register; the service still checks.
        "may_register": has_permission(person.actor, Permission.MANAGE_CALLUPS),
        "working_days": context.settings.callup_working_days,
        "today": utcnow().astimezone(context.settings.zone).date(),
        "error": None, "fulfil_error": None, "done": None, "entered": {}, **values,
    }


@router.get("/callups")
def register(request: Request, person: SignedInDep, session: SessionDep, context: ContextDep,
             done: str | None = None) -> Response:
    """Show the call-ups due (overdue ones first and marked), the register form, and those fulfilled."""
    return render_page(request, "callups/register.html", person=person,
                       **_register_values(session, person, context, done=done))


def _case_numbers(text: str) -> list[str]:
    return [n for n in (part.strip() for part in re.split(r"[\n,;，；]+", text)) if n]


@router.post("/callups")
def register_callup(
    request: Request, person: CsrfDep, session: SessionDep, context: ContextDep,
    department: Annotated[str, Form(max_length=256)], document_number: Annotated[str, Form(max_length=128)],
    case_numbers: Annotated[str, Form(max_length=20000)], received_on: Annotated[str, Form(max_length=10)] = "",
    evidence_ids: Annotated[str, Form(max_length=20000)] = "", note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Register a call-up notice; its due date is counted in working days from receipt."""
    try:
        received = date.fromisoformat(received_on) if received_on else None
    except ValueError:
        received = None
    notice = service.CallUpInput(department, document_number, _case_numbers(case_numbers), received,
                                 [uuid.UUID(m) for m in RECORD_ID.findall(evidence_ids)] or None, note)
    try:
        if received_on and received is None:
            raise InvalidInput(f"'{received_on}' is not a date (YYYY-MM-DD)")
        service.register_callup(session=session, actor=person.actor, notice=notice, now=utcnow(),
                                working_days=context.settings.callup_working_days, zone=context.settings.zone)
    except VaultError as error:
        session.rollback()
        entered = {"department": department, "document_number": document_number, "case_numbers": case_numbers,
                   "received_on": received_on, "evidence_ids": evidence_ids, "note": note}
        return render_page(request, "callups/register.html", status_code=error.status, person=person,
                           **_register_values(session, person, context, error=error.message, entered=entered))
    session.commit()
    return RedirectResponse("/callups?done=registered", status_code=303)


@router.post("/callups/{callup_id}/fulfil")
def fulfil(request: Request, callup_id: uuid.UUID, person: CsrfDep, session: SessionDep, context: ContextDep,
           export_ids: Annotated[list[uuid.UUID], Form()]) -> Response:
    """Mark a call-up fulfilled with the filing-review export(s) that answer it; a refusal shows on the register."""
    try:
        service.fulfil_callup(session=session, actor=person.actor, callup_id=callup_id, export_ids=export_ids,
                              now=utcnow(), zone=context.settings.zone)
    except (InvalidInput, Conflict, NotFound) as error:
        session.rollback()
        return render_page(request, "callups/register.html", status_code=error.status, person=person,
                           **_register_values(session, person, context, fulfil_error=error.message))
    session.commit()
    return RedirectResponse("/callups?done=fulfilled", status_code=303)
