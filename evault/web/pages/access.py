"""Access pages: the request form, the approver's inbox, one's own requests and grants, and the player."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from evault.web.auth import CsrfDep, SignedInDep
from evault.web.forms import end_refused, read_record_ids
from evault.web.i18n import N_
from evault.web.templating import render_page
from evault.web.vocabulary import ACCESS_PURPOSE_NAMES, REQUEST_STATUS_NAMES
from vault.access import inbox, player, service
from vault.access.inbox import preview_record
from vault.access.jobs import flush_playback
from vault.access.models import REQUEST_PURPOSES, AccessMode, AccessPurpose
from vault.api.deps import ContextDep, SessionDep
from vault.cases.service import lookup_case
from vault.db import utcnow
from vault.errors import InvalidInput, VaultError
from vault.evidence.service import get_evidence
from vault.identities.sign_in import SignedIn

router = APIRouter(include_in_schema=False)

MODE_NAMES: dict[str, str] = {AccessMode.VIEW: N_("View"), AccessMode.VIEW_DOWNLOAD: N_("View and download")}
LABELS = {"purpose_names": ACCESS_PURPOSE_NAMES, "mode_names": MODE_NAMES, "status_names": REQUEST_STATUS_NAMES}


def _page(request: Request, person: SignedIn, template: str, *, status_code: int = 200, **values: Any) -> Response:
    return render_page(request, template, status_code=status_code, person=person, **LABELS, **values)




def _form_values(session: Session, person: SignedIn, evidence: list[uuid.UUID], case: str | None) -> dict[str, Any]:
    records = [preview_record(get_evidence(session=session, actor=person.actor, evidence_id=i)) for i in evidence]
    case_number = lookup_case(session=session, actor=person.actor, case_number=case).case_number if case else ""
    return {"records": records, "case_number": case_number, "purposes": REQUEST_PURPOSES}


@router.get("/access/requests/new")
def request_form(
    request: Request, person: SignedInDep, session: SessionDep, context: ContextDep,
    evidence: Annotated[list[uuid.UUID], Query()] = [],  # noqa: B006 - FastAPI copies query defaults
    case: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """Show the access request form, with records (?evidence=) or a case (?case=) already chosen."""
    return _page(request, person, "access/request_form.html", error=None,
                 max_hours=context.settings.access_max_grant_hours, chosen={},
                 **_form_values(session, person, evidence, case))


@router.post("/access/requests")
def file_request(
    request: Request, person: CsrfDep, session: SessionDep, context: ContextDep,
    purpose: Annotated[AccessPurpose, Form()], mode: Annotated[AccessMode, Form()],
    duration_hours: Annotated[int, Form(ge=1)], reason: Annotated[str, Form(max_length=4000)],
    evidence_ids: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    case_number: Annotated[str, Form(max_length=128)] = "",
    scope: Annotated[str, Form(max_length=16)] = "records",
) -> Response:
    """File the request and go to one's requests; a refusal is shown on the form."""
    max_hours = context.settings.access_max_grant_hours
    whole_case = scope == "case"
    try:
        ids = [] if whole_case else read_record_ids(evidence_ids)
        filed = service.request_access(
            session=session, actor=person.actor, evidence_ids=ids or None,
            case_number=case_number.strip() or None if whole_case else None, purpose=purpose, mode=mode,
            duration_hours=duration_hours, reason=reason, now=utcnow(), max_hours=max_hours)
    except VaultError as error:
        message = end_refused(session, error)
        chosen = {"purpose": purpose.value, "mode": mode.value, "duration_hours": duration_hours, "reason": reason,
                  "scope": scope, "pasted": " ".join(evidence_ids)}
        values = _form_values(session, person, [], None) | {"case_number": case_number}
        return _page(request, person, "access/request_form.html", status_code=error.status, error=message,
                     max_hours=max_hours, chosen=chosen, **values)
    session.commit()
    return RedirectResponse(f"/access/mine?filed={filed.id}", status_code=303)


@router.get("/access/mine")
def my_access(request: Request, person: SignedInDep, session: SessionDep,
              filed: uuid.UUID | None = None) -> Response:
    """Show one's own requests (newest first) and grants, with links to play what is granted."""
    now = utcnow()
    return _page(request, person, "access/mine.html", now=now, filed=filed,
                 requests=service.list_requests(session=session, actor=person.actor, mine=True),
                 grants=service.list_grants(session=session, actor=person.actor, now=now, active_only=False,
                                            mine=True))


@router.get("/access/inbox")
def approver_inbox(request: Request, person: SignedInDep, session: SessionDep,
                   done: str | None = None) -> Response:
    """Show pending requests to decide, oldest first, and the grants in force that may be revoked."""
    now = utcnow()
    return _page(request, person, "access/inbox.html", now=now, done=done,
                 items=inbox.approver_inbox(session=session, actor=person.actor, now=now),
                 grants=service.list_grants(session=session, actor=person.actor, now=now))


@router.post("/access/requests/{request_id}/approve")
def approve(
    request_id: uuid.UUID, person: CsrfDep, session: SessionDep,
    duration_hours: Annotated[int, Form(ge=1)], mode: Annotated[AccessMode, Form()],
    evidence_ids: Annotated[list[uuid.UUID], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Approve a request, narrowed to the records, duration and mode the approver left chosen."""
    if not evidence_ids:
        raise InvalidInput("至少保留一条记录，或改为不予批准 (keep at least one record, or deny the request)")
    service.approve_request(session=session, actor=person.actor, request_id=request_id, now=utcnow(),
                            evidence_ids=evidence_ids, mode=mode, duration_hours=duration_hours, note=note)
    session.commit()
    return RedirectResponse("/access/inbox?done=approved", status_code=303)


@router.post("/access/requests/{request_id}/deny")
def deny(request_id: uuid.UUID, person: CsrfDep, session: SessionDep,
         reason: Annotated[str, Form(max_length=4000)] = "") -> Response:
    """Deny a request with its reason."""
    service.deny_request(session=session, actor=person.actor, request_id=request_id, reason=reason, now=utcnow())
    session.commit()
    return RedirectResponse("/access/inbox?done=denied", status_code=303)


@router.post("/access/grants/{grant_id}/revoke")
def revoke(grant_id: uuid.UUID, person: CsrfDep, session: SessionDep, context: ContextDep,
           reason: Annotated[str, Form(max_length=4000)] = "") -> Response:
    """Revoke a grant in force, with its reason."""
    flush_playback(context)  # the summaries the revocation writes then hold every range served until now
    service.revoke_grant(session=session, actor=person.actor, grant_id=grant_id, reason=reason, now=utcnow())
    session.commit()
    context.playback.drop_passes(grant_id)  # this process stops at once; others within the recheck time
    return RedirectResponse("/access/inbox?done=revoked", status_code=303)


@router.get("/evidence/{evidence_id}/play")
def play(request: Request, evidence_id: uuid.UUID, person: SignedInDep, session: SessionDep,
         context: ContextDep) -> Response:
    """Show the player for a granted record, or which approval is missing and a way to request it."""
    now = utcnow()
    view = player.open_player(session=session, actor=person.actor, evidence_id=evidence_id, now=now,
                              self_view=context.settings.uploader_self_view)
    template = "access/player.html" if view.playable else "access/player_refused.html"
    return _page(request, person, template, status_code=200 if view.playable else 403, view=view, now=now,
                 evidence=view.evidence, preview=preview_record(view.evidence))
