"""Finding footage: the home page (what is waiting for me), search, a case, a record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from evault.web.auth import SignedInDep
from evault.web.search_form import ACTIVITIES, CONFIDENTIALITIES, FLAG_NAMES, PAGE_SIZE, SORT_KEYS, SearchForm
from evault.web.templating import render_page
from evault.web.timeline import WIDTH, lay_out
from ingest.continuity import list_discontinuities
from ingest.rules import IngestRules
from retention.holds import list_holds
from retention.models import LegalHold, RetentionState
from retention.report import build_report
from retention.service import get_retention
from vault.access.models import RequestStatus
from vault.access.service import active_grant, list_grants, list_requests
from vault.api.deps import ContextDep, SessionDep
from vault.cases.models import Case
from vault.cases.service import get_case, lookup_case
from vault.context import VaultContext
from vault.custody.service import list_events
from vault.db import utcnow
from vault.errors import InvalidInput, NotFound, PermissionDenied
from vault.evidence.models import DerivativeKind, Evidence
from vault.evidence.search import MAX_PAGE_SIZE, EvidenceQuery, SortKey, SortOrder, search_evidence
from vault.evidence.service import get_evidence, open_flag_rows
from vault.identities.authz import Permission, has_permission
from vault.identities.sign_in import SignedIn

router = APIRouter(include_in_schema=False)

# A reviewer's grant "expires soon" within this many hours: time enough to finish or ask again.
EXPIRING_WITHIN = timedelta(hours=72)


@dataclass(frozen=True)
class Waiting:
    """What the home page lists for one role (each part empty for the other roles)."""

    pending_requests: list[Any]
    expiring_grants: list[Any]
    flagged_records: list[Evidence]
    flagged_total: int
    report: Any | None


def _waiting(session: Session, context: VaultContext, person: SignedIn, now: datetime) -> Waiting:
    actor = person.actor
    pending = list_requests(session=session, actor=actor, status=RequestStatus.PENDING) \
        if has_permission(actor, Permission.DECIDE_ACCESS) else []
    expiring = [g for g in list_grants(session=session, actor=actor, now=now) if g.grantee_id == actor.id
                and g.expires_at <= now + EXPIRING_WITHIN] if has_permission(actor, Permission.REQUEST_ACCESS) else []
    flagged, total = [], 0
    if has_permission(actor, Permission.UPLOAD_EVIDENCE):  # officers: flags on their own uploads
        found = search_evidence(session=session, actor=actor, query=EvidenceQuery(flagged=True), page_size=50)
        flagged, total = found.items, found.total
    report = build_report(session=session, actor=actor, now=now, zone=context.settings.zone) \
        if has_permission(actor, Permission.MANAGE_RETENTION) else None
    return Waiting(pending_requests=pending, expiring_grants=expiring, flagged_records=flagged, flagged_total=total,
                   report=report)


@router.get("/")
def home(request: Request, person: SignedInDep, session: SessionDep, context: ContextDep) -> Response:
    """Show what is waiting for the signed-in person."""
    now = utcnow()
    return render_page(request, "search/home.html", person=person, now=now,
                       waiting=_waiting(session, context, person, now))


def _thumbnails(session: Session, person: SignedIn, records: list[Evidence], now: datetime) -> set[uuid.UUID]:
    """Return the records whose thumbnail the person may see: a thumbnail is a frame of footage (grant needed)."""
    return {e.id for e in records if any(d.kind == DerivativeKind.THUMBNAIL for d in e.derivatives)
            and active_grant(session, person.actor, e.id, download=False, now=now) is not None}


@router.get("/search")
def search(request: Request, person: SignedInDep, session: SessionDep, context: ContextDep) -> Response:
    """Search records; htmx asks for the results alone, a plain form submit gets the whole page."""
    form = SearchForm.of(dict(request.query_params))
    error, found, thumbnails = None, None, set()
    try:
        found = search_evidence(session=session, actor=person.actor, query=form.query(context.settings.zone),
                                page=form.page, page_size=PAGE_SIZE, cipher=context.cipher)
        thumbnails = _thumbnails(session, person, found.items, utcnow())
    except (InvalidInput, NotFound, PermissionDenied) as refused:
        error = refused.message
    partial = request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") == "results"
    return render_page(request, "search/results.html" if partial else "search/search.html", person=person,
                       form=form, found=found, error=error, thumbnails=thumbnails, activities=ACTIVITIES,
                       flag_names=FLAG_NAMES, confidentialities=CONFIDENTIALITIES, sort_keys=SORT_KEYS)


def _find_case(session: Session, person: SignedIn, ref: str) -> Case:
    try:
        case_id = uuid.UUID(ref)
    except ValueError:
        return lookup_case(session=session, actor=person.actor, case_number=ref)
    return get_case(session=session, actor=person.actor, case_id=case_id)


def _retention(session: Session, context: VaultContext, person: SignedIn,
               records: list[Evidence]) -> dict[uuid.UUID, RetentionState]:
    if not has_permission(person.actor, Permission.READ_ALL_EVIDENCE_METADATA):
        return {}
    now = utcnow()
    states = {e.id: get_retention(session=session, actor=person.actor, evidence_id=e.id, now=now,
                                  zone=context.settings.zone) for e in records}
    session.commit()  # a state computed for the first time is kept, as GET /api/retention/evidence/{id} does
    return states


def _holds(session: Session, person: SignedIn, case_id: uuid.UUID | None, ids: set[uuid.UUID]) -> list[LegalHold]:
    if not has_permission(person.actor, Permission.READ_ALL_EVIDENCE_METADATA):
        return []
    return [h for h in list_holds(session=session, actor=person.actor)
            if (case_id is not None and h.case_id == case_id) or h.evidence_id in ids]


@router.get("/cases/{ref:path}")
def case_page(ref: str, request: Request, person: SignedInDep, session: SessionDep, context: ContextDep) -> Response:
    """Show a case (by case number in any spelling, or id): its records, timelines, flags, retention and holds."""
    case = _find_case(session, person, ref)
    query = EvidenceQuery(case_number=case.case_number, sort=SortKey.CAPTURE_START, order=SortOrder.ASC)
    found = search_evidence(session=session, actor=person.actor, query=query, page_size=MAX_PAGE_SIZE)
    breaks = list_discontinuities(session=session, actor=person.actor, case=case,
                                  tolerance=IngestRules.of(context.settings).continuity_tolerance)
    retention = _retention(session, context, person, found.items)
    kept = sorted(s.retain_until for s in retention.values() if s.retain_until is not None)
    return render_page(request, "search/case.html", person=person, case=case, found=found,
                       tracks=lay_out(found.items, breaks), width=WIDTH, retention=retention, kept=kept,
                       permanent=any(s.permanent for s in retention.values()),
                       holds=_holds(session, person, case.id, {e.id for e in found.items}),
                       flag_rows={e.id: open_flag_rows(e) for e in found.items},
                       may_edit=has_permission(person.actor, Permission.MANAGE_CASES),
                       may_hold=has_permission(person.actor, Permission.MANAGE_RETENTION))


@router.get("/evidence/{evidence_id}")
def record_page(evidence_id: uuid.UUID, request: Request, person: SignedInDep, session: SessionDep,
                context: ContextDep) -> Response:
    """Show a record: metadata, digests, flags with reasons, why it is kept, its custody trail for those allowed."""
    evidence = get_evidence(session=session, actor=person.actor, evidence_id=evidence_id)
    state = _retention(session, context, person, [evidence]).get(evidence.id)
    trail = list_events(session=session, actor=person.actor, subject_id=str(evidence.id)) \
        if has_permission(person.actor, Permission.READ_AUDIT_LOG) else None
    return render_page(request, "search/record.html", person=person, evidence=evidence, state=state, trail=trail,
                       holds=_holds(session, person, evidence.case_id, {evidence.id}),
                       flags=open_flag_rows(evidence), thumbnail=evidence.id in _thumbnails(
                           session, person, [evidence], utcnow()),
                       may_request=has_permission(person.actor, Permission.REQUEST_ACCESS),
                       may_redact=has_permission(person.actor, Permission.EDIT_COPIES),
                       may_hold=has_permission(person.actor, Permission.MANAGE_RETENTION))
