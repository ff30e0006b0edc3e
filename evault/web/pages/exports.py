"""The export wizard (choose, coverage before building, progress, download) and the retained copies (复制留存)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from evault.web.auth import CsrfDep, SignedInDep
from evault.web.forms import end_refused, read_record_ids
from evault.web.i18n import N_
from evault.web.pages import callups
from evault.web.templating import render_page
from evault.web.vocabulary import ACCESS_PURPOSE_NAMES, EXPORT_PURPOSE_NAMES
from vault.api.deps import ContextDep, SessionDep
from vault.callups.service import get_callup
from vault.db import utcnow
from vault.errors import InvalidInput, NotFound, VaultError
from vault.exports import coverage, service, spool
from vault.exports.models import ExportPurpose
from vault.exports.stream import open_sources
from vault.exports.versions import WITHHELD_TEXT
from vault.identities.sign_in import SignedIn

router = APIRouter(include_in_schema=False)
# The call-up register lives in its own module; it rides on this router so the app factory need not change.
router.include_router(callups.router)
log = structlog.get_logger(__name__)

GAP_NAMES: dict[str, str] = {
    coverage.Gap.NO_GRANT: N_("No approval covers this record for this purpose"),
    coverage.Gap.EXPIRED: N_("The approval for this purpose has expired"),
    coverage.Gap.REVOKED: N_("The approval for this purpose was revoked"),
    coverage.Gap.VIEW_ONLY: N_("The approval allows viewing only, not download or copy"),
    coverage.Gap.OTHER_PURPOSE: N_("Approved for another purpose only"),
    coverage.Gap.CONFIDENTIAL: N_("Confidential record: a party copy may not include it (000, article 9)"),
    coverage.Gap.DISPOSED: N_("Disposed of (destroyed): nothing is left to export"),
}
LABELS = {"purpose_names": EXPORT_PURPOSE_NAMES, "grant_purpose_names": ACCESS_PURPOSE_NAMES, "gap_names": GAP_NAMES}


def _page(request: Request, person: SignedIn, template: str, *, status_code: int = 200, **values: Any) -> Response:
    return render_page(request, template, status_code=status_code, person=person, **LABELS, **values)




@router.get("/exports")
def list_exports(request: Request, person: SignedInDep, session: SessionDep) -> Response:
    """List the retained copies of every bundle handed out, newest first."""
    copies = service.list_exports(session=session, actor=person.actor)
    return _page(request, person, "exports/list.html", copies=copies,
                 case_numbers=coverage.case_numbers(session=session, copies=copies))


def _choice(session: Session, person: SignedIn, zone: ZoneInfo, callup: uuid.UUID | None, case: str, purpose: str,
            recipient: str, evidence: list[uuid.UUID]) -> dict[str, Any]:
    """Return step 1's values, from the query or from the call-up being answered."""
    answering = None
    if callup is not None:
        answering = get_callup(session=session, actor=person.actor, callup_id=callup, now=utcnow(), zone=zone)
        case = case or answering.callup.case_numbers[0]
        purpose, recipient = ExportPurpose.FILING_REVIEW.value, recipient or answering.callup.department
        evidence = evidence or [uuid.UUID(i) for i in answering.callup.evidence_ids or []]
    found, records = coverage.case_records(session=session, actor=person.actor, case_number=case) if case \
        else (None, [])
    return {"case": found, "case_number": found.case_number if found else case, "records": records,
            "purpose": purpose, "recipient": recipient, "chosen": {str(i) for i in evidence},
            "callup": answering, "purposes": coverage.export_purposes(actor=person.actor)}


@router.get("/exports/new")
def wizard(
    request: Request, person: SignedInDep, session: SessionDep, context: ContextDep,
    case: Annotated[str, Query(max_length=128)] = "", purpose: Annotated[str, Query(max_length=32)] = "",
    recipient: Annotated[str, Query(max_length=512)] = "", callup: uuid.UUID | None = None,
    evidence: Annotated[list[uuid.UUID], Query()] = [],  # noqa: B006 - FastAPI copies query defaults
) -> Response:
    """Step 1: choose a case or its records, a purpose and a recipient (pre-filled when answering a call-up)."""
    zone = context.settings.zone
    try:
        values = _choice(session, person, zone, callup, case.strip(), purpose, recipient, evidence)
    except (NotFound, InvalidInput) as error:
        values = _choice(session, person, zone, None, "", purpose, recipient, []) | {"case_number": case}
        return _page(request, person, "exports/new.html", status_code=404, error=error.message, **values)
    return _page(request, person, "exports/new.html", error=None, **values)


def _coverage_page(request: Request, person: SignedIn, session: SessionDep, *, case_number: str, purpose: str,
                   recipient: str, evidence_ids: list[str], callup: str, error: str | None = None,
                   status_code: int = 200, options: dict[str, Any] | None = None) -> Response:
    ids = read_record_ids(evidence_ids)
    options = options or {"party": "", "include_redacted": False, "watermark": False}
    found = coverage.export_coverage(session=session, actor=person.actor, case_number=case_number,
                                     purpose=service.parse_purpose(purpose), evidence_ids=ids or None, now=utcnow(),
                                     party=options["party"] or None, include_redacted=options["include_redacted"])
    return _page(request, person, "exports/coverage.html", status_code=status_code, coverage=found,
                 recipient=recipient, chosen_ids=ids, callup=callup, error=error, options=options,
                 withheld_text=WITHHELD_TEXT)


@router.get("/exports/coverage")
def check_coverage(
    request: Request, person: SignedInDep, session: SessionDep, context: ContextDep,
    purpose: Annotated[str, Query(max_length=32)], case_number: Annotated[str, Query(max_length=128)] = "",
    recipient: Annotated[str, Query(max_length=512)] = "",
    evidence_ids: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies query defaults
    callup: Annotated[str, Query(max_length=64)] = "", party: Annotated[str, Query(max_length=256)] = "",
    include_redacted: bool = False, watermark: bool = False,
) -> Response:
    """Step 2: show which approval covers each record for this purpose, and what is missing, before building."""
    options = {"party": party, "include_redacted": include_redacted, "watermark": watermark}
    try:
        return _coverage_page(request, person, session, case_number=case_number, purpose=purpose,
                              recipient=recipient, evidence_ids=evidence_ids, callup=callup, options=options)
    except VaultError as error:
        values = _choice(session, person, context.settings.zone, None, "", purpose, recipient, [])
        return _page(request, person, "exports/new.html", status_code=error.status, error=error.message,
                     **values | {"case_number": case_number})


@router.post("/exports")
def build_export(
    request: Request, person: CsrfDep, session: SessionDep, context: ContextDep,
    case_number: Annotated[str, Form(max_length=128)], purpose: Annotated[str, Form(max_length=32)],
    recipient: Annotated[str, Form(max_length=512)] = "",
    evidence_ids: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    callup: Annotated[str, Form(max_length=64)] = "", party: Annotated[str, Form(max_length=256)] = "",
    include_redacted: Annotated[bool, Form()] = False, watermark: Annotated[bool, Form()] = False,
) -> Response:
    """Step 3: prepare the export as the API does, commit it, and build the bundle in the background."""
    options = {"party": party, "include_redacted": include_redacted, "watermark": watermark}
    try:
        ids = read_record_ids(evidence_ids)
        asked = service.ExportRequest(case_number, service.parse_purpose(purpose), recipient, ids or None,
                                      party or None, include_redacted, watermark)
        plan = service.prepare_export(session=session, actor=person.actor, context=context, request=asked,
                                      now=utcnow())
        open_sources(context, plan)  # a store outage is refused now, and the export is not logged as made
    except VaultError as error:
        message = end_refused(session, error)
        return _coverage_page(request, person, session, case_number=case_number, purpose=purpose,
                              recipient=recipient, evidence_ids=evidence_ids, callup=callup, error=message,
                              status_code=error.status, options=options)
    session.commit()
    spool.start_build(context=context, actor=person.actor, plan=plan)
    suffix = f"?callup={callup}" if callup else ""
    return RedirectResponse(f"/exports/{plan.export_id}/progress{suffix}", status_code=303)


def _progress_values(session: Session, person: SignedIn, context: ContextDep, export_id: uuid.UUID,
                     callup: uuid.UUID | None) -> dict[str, Any]:
    progress = spool.build_progress(context=context, actor=person.actor, export_id=export_id)
    copy = None
    if progress.state != spool.BuildState.BUILDING:
        try:
            copy = service.get_export(session=session, actor=person.actor, export_id=export_id)
        except NotFound:
            copy = None
    return {"export_id": export_id, "progress": progress, "copy": copy, "callup": callup}


@router.get("/exports/{export_id}/progress")
def build_page(request: Request, export_id: uuid.UUID, person: SignedInDep, session: SessionDep,
               context: ContextDep, callup: uuid.UUID | None = None) -> Response:
    """Show the bundle being built; the bar polls until it is ready to download."""
    values = _progress_values(session, person, context, export_id, callup)
    return _page(request, person, "exports/progress.html", **values)


@router.get("/exports/{export_id}/progress/bar")
def build_bar(request: Request, export_id: uuid.UUID, person: SignedInDep, session: SessionDep,
              context: ContextDep, callup: uuid.UUID | None = None) -> Response:
    """Return the progress fragment htmx swaps in every second."""
    values = _progress_values(session, person, context, export_id, callup)
    return _page(request, person, "exports/_bar.html", **values)


@router.get("/exports/{export_id}/download")
def download(export_id: uuid.UUID, person: SignedInDep, session: SessionDep, context: ContextDep) -> Response:
    """Hand the built bundle to the person who built it, then remove it from the spool."""
    copy = service.get_export(session=session, actor=person.actor, export_id=export_id)
    path = spool.bundle_path(context, export_id)
    if path is None or copy.actor_id != person.actor.id:
        raise NotFound(f"bundle {export_id} is no longer waiting for download by you; build it again if needed")
    log.info("export.downloaded", export_id=str(export_id), sha256=copy.bundle_sha256, actor=person.actor.name)
    return FileResponse(path, media_type="application/zip", filename=copy.bundle_name,
                        background=BackgroundTask(spool.discard_bundle, context=context, export_id=export_id))


@router.get("/exports/{export_id}")
def export_detail(request: Request, export_id: uuid.UUID, person: SignedInDep, session: SessionDep,
                  context: ContextDep) -> Response:
    """Show a retained copy (复制留存): the bundle's SHA-256, what was handed over, to whom, under which approval."""
    copy = service.get_export(session=session, actor=person.actor, export_id=export_id)
    document = json.loads(service.read_retained_document(session=session, actor=person.actor, store=context.store,
                                                         export_id=export_id))
    waiting = spool.bundle_path(context, export_id) is not None and copy.actor_id == person.actor.id
    return _page(request, person, "exports/detail.html", copy=copy, document=document, waiting=waiting,
                 case_number=coverage.case_numbers(session=session, copies=[copy])[copy.case_id])
