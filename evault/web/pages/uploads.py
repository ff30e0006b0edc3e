"""An officer's own uploads: flags with reasons, completing tags, and the review of flag-clearing changes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from evault.web.auth import CsrfDep, SignedInDep
from evault.web.forms import end_refused
from evault.web.templating import render_page
from ingest import clearance
from ingest.metadata import Activity
from ingest.models import FlagClearanceRequest
from ingest.retagging import (
    FORM_TAG_KEYS,
    list_flag_reviews,
    list_own_uploads,
    retag_evidence,
    tag_form_values,
)
from ingest.rules import IngestRules
from vault.api.deps import ContextDep, SessionDep
from vault.db import utcnow
from vault.errors import InvalidInput, VaultError
from vault.evidence.service import get_evidence, open_flag_rows
from vault.identities.sign_in import SignedIn

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
ACTIVITIES = tuple(a.value for a in Activity)
TEXT = Annotated[str, Form(max_length=4000)]
DONE = {"approve": "approved", "reject": "rejected"}



@router.get("/uploads")
def my_uploads(
    request: Request, person: SignedInDep, session: SessionDep, context: ContextDep,
    flagged: bool = False, page: Annotated[int, Query(ge=1)] = 1, done: str | None = None,
    evidence: uuid.UUID | None = None,
) -> Response:
    """List the officer's own uploads, newest first, with open flags, their reasons and pending reviews."""
    found = list_own_uploads(session=session, actor=person.actor, flagged_only=flagged, page=page,
                             page_size=PAGE_SIZE)
    return render_page(request, "uploads/mine.html", person=person, found=found, flagged=flagged, done=done,
                       changed=evidence, self_view=context.settings.uploader_self_view)


def _local_to_iso(value: str, zone: ZoneInfo) -> str:
    """Turn a datetime-local field (the agency's wall clock) into an ISO time with its offset."""
    if not value.strip():
        return ""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput("外勤返回时间格式不正确 (the field return time is not a date and time)",
                           details={"key": "field_return_at"}) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).isoformat()


def _changes(given: dict[str, Any], current: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """Return only what the form changed, as the tag service takes it (unchanged tags are not re-applied)."""
    changes: dict[str, Any] = {}
    for key in FORM_TAG_KEYS:
        value = given[key]
        if value == current[key] or (isinstance(value, str) and value.strip() == str(current[key]).strip()):
            continue
        changes[key] = _local_to_iso(value, zone) if key == "field_return_at" else value
    return changes


def _form_page(request: Request, person: SignedIn, session: Session, evidence_id: uuid.UUID, *,
               values: dict[str, Any], status_code: int = 200, **extra: Any) -> Response:
    evidence = get_evidence(session=session, actor=person.actor, evidence_id=evidence_id)
    pending = clearance.list_clearance_requests(session=session, actor=person.actor, evidence_id=evidence_id)
    values = {"error": None, "requested": None, "reason": "", **extra, "values": values}
    return render_page(request, "uploads/tags.html", status_code=status_code, person=person, evidence=evidence,
                       flags=open_flag_rows(evidence), pending=pending, activities=ACTIVITIES, **values)


@router.get("/uploads/{evidence_id}/tags")
def tag_form(request: Request, evidence_id: uuid.UUID, person: SignedInDep, session: SessionDep,
             context: ContextDep, requested: uuid.UUID | None = None) -> Response:
    """Show the form that completes or corrects a record's tags, with its open flags and pending reviews."""
    values = tag_form_values(session=session, actor=person.actor, evidence_id=evidence_id,
                             zone=context.settings.zone)
    return _form_page(request, person, session, evidence_id, values=values, requested=requested)


@router.post("/uploads/{evidence_id}/tags")
def save_tags(
    request: Request, evidence_id: uuid.UUID, person: CsrfDep, session: SessionDep, context: ContextDep,
    case_number: TEXT = "", party: TEXT = "", handlers: TEXT = "", activity: TEXT = "", recorder_serial: TEXT = "",
    party_informed: Annotated[bool, Form()] = False, field_return_at: TEXT = "", late_reason: TEXT = "",
    reason: TEXT = "",
) -> Response:
    """Apply a plain completion at once; a change that would clear a compliance flag goes to review instead."""
    zone = context.settings.zone
    given = {"case_number": case_number, "party": party, "handlers": handlers, "activity": activity,
             "recorder_serial": recorder_serial, "party_informed": party_informed,
             "field_return_at": field_return_at, "late_reason": late_reason}
    current = tag_form_values(session=session, actor=person.actor, evidence_id=evidence_id, zone=zone)
    try:
        outcome = retag_evidence(session=session, actor=person.actor, evidence_id=evidence_id,
                                 changes=_changes(given, current, zone), rules=IngestRules.of(context.settings),
                                 now=utcnow(), reason=reason)
    except VaultError as error:
        message = end_refused(session, error)
        return _form_page(request, person, session, evidence_id, values=given, status_code=error.status,
                          error=message, reason=reason)
    session.commit()
    if isinstance(outcome, FlagClearanceRequest):
        return RedirectResponse(f"/uploads/{evidence_id}/tags?requested={outcome.id}", status_code=303)
    return RedirectResponse(f"/uploads?done=tagged&evidence={evidence_id}", status_code=303)


def _reviews_page(request: Request, person: SignedIn, session: Session, *, status_code: int = 200,
                  done: str | None = None, error: str | None = None) -> Response:
    reviews = list_flag_reviews(session=session, actor=person.actor)
    return render_page(request, "uploads/reviews.html", status_code=status_code, person=person, reviews=reviews,
                       done=done, error=error)


@router.get("/uploads/reviews")
def review_queue(request: Request, person: SignedInDep, session: SessionDep, done: str | None = None) -> Response:
    """List the tag changes waiting for a second person's decision because they would clear compliance flags."""
    return _reviews_page(request, person, session, done=done)


@router.post("/uploads/reviews/{request_id}/{decision}")
def decide_review(request: Request, request_id: uuid.UUID, decision: str, person: CsrfDep, session: SessionDep,
                  context: ContextDep, reason: TEXT = "") -> Response:
    """Approve (the change applies and the flags clear) or reject (nothing changes) a request, with a reason."""
    try:
        if decision == "approve":
            clearance.approve_clearance(session=session, actor=person.actor, request_id=request_id, reason=reason,
                                        rules=IngestRules.of(context.settings), now=utcnow())
        elif decision == "reject":
            clearance.reject_clearance(session=session, actor=person.actor, request_id=request_id, reason=reason,
                                       now=utcnow())
        else:
            raise InvalidInput("决定只能是批准或驳回 (approve or reject)", details={"decision": decision})
    except VaultError as error:
        message = end_refused(session, error)
        return _reviews_page(request, person, session, status_code=error.status, error=message)
    session.commit()
    return RedirectResponse(f"/uploads/reviews?done={DONE[decision]}", status_code=303)
