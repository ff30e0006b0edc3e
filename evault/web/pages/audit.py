"""The auditor's pages: the trail search with its exports, and the custody log with inclusion checks."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from evault.web.auth import CsrfDep, SignedInDep
from evault.web.templating import render_page
from vault.access import report
from vault.access.trail import ALL_ACTIONS, KNOWN_ACTIONS, TrailFilter, local_moment, search_trail
from vault.api.deps import ContextDep, SessionDep
from vault.custody.browse import browse_log, verify_now
from vault.db import utcnow
from vault.errors import InvalidInput

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
FILTERS = ("record", "case", "user", "since", "until", "action")
ACTION_CHOICES = sorted(KNOWN_ACTIONS)
_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


def _wanted(values: dict[str, str], context: ContextDep) -> TrailFilter:
    """Turn the form's text fields into a trail filter; an empty field filters nothing."""
    zone = context.settings.zone
    record = values.get("record", "").strip()
    try:
        evidence_id = uuid.UUID(record) if record else None
    except ValueError as exc:
        raise InvalidInput(f"not a record id: {record!r}") from exc
    action = values.get("action", "").strip()
    return TrailFilter(
        evidence_id=evidence_id,
        case_number=values.get("case", "").strip() or None,
        user_name=values.get("user", "").strip() or None,
        since=local_moment(values["since"], zone) if values.get("since") else None,
        until=local_moment(values["until"], zone, end=True) if values.get("until") else None,
        actions=(action,) if action else (),
    )


def _link(values: dict[str, str], **changed: str | int) -> str:
    merged = {**values, **{k: str(v) for k, v in changed.items()}}
    return "/audit/trail?" + urlencode({k: v for k, v in merged.items() if v})


@router.get("/audit/trail")
def trail_page(
    request: Request, person: SignedInDep, session: SessionDep, context: ContextDep,
    page: Annotated[int, Query(ge=1, le=2**40)] = 1,
) -> Response:
    """Search the trail by record, case, user, dates and action; results with readable names (auditors)."""
    values = {k: request.query_params.get(k, "") for k in FILTERS}
    found = search_trail(session=session, actor=person.actor, wanted=_wanted(values, context), now=utcnow(),
                         idle_seconds=context.settings.playback_idle_seconds, offset=(page - 1) * PAGE_SIZE,
                         limit=PAGE_SIZE)
    session.commit()  # idle playback sessions were summarised into the log
    last_page = max(1, -(-found.total // PAGE_SIZE))
    return render_page(
        request, "audit/trail.html", person=person, values=values, found=found, actions=ACTION_CHOICES,
        all_actions=ALL_ACTIONS, page=page, last_page=last_page, link=lambda **c: _link(values, **c),
        previous=_link(values, page=page - 1) if page > 1 else None,
        following=_link(values, page=page + 1) if page < last_page else None, summarise=report.summarise,
    )


@router.post("/audit/trail/export")
async def export_trail(
    request: Request, person: CsrfDep, session: SessionDep, context: ContextDep, fmt: Annotated[str, Form()],
) -> Response:
    """Download the whole matching trail as CSV or PDF; the export is logged (auditors)."""
    form = await request.form()
    values = {k: str(form.get(k) or "") for k in FILTERS}
    if fmt not in _MEDIA_TYPES:
        raise InvalidInput("export as csv or pdf", details={"formats": sorted(_MEDIA_TYPES)})
    body = report.export_trail(session=session, actor=person.actor, wanted=_wanted(values, context), fmt=fmt,
                               now=utcnow(), idle_seconds=context.settings.playback_idle_seconds,
                               zone=context.settings.zone, agency=context.settings.agency_name)
    session.commit()
    stamp = utcnow().astimezone(context.settings.zone).strftime("%Y%m%d-%H%M%S")
    headers = {"Content-Disposition": f'attachment; filename="access-trail-{stamp}.{fmt}"',
               "Cache-Control": "no-store"}
    return Response(body, media_type=_MEDIA_TYPES[fmt], headers=headers)


@router.get("/audit/log")
def log_page(
    request: Request, person: SignedInDep, session: SessionDep, context: ContextDep,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    """Browse the custody log, newest first, each entry's inclusion proof checked (auditors)."""
    found = browse_log(session=session, actor=person.actor, public_keys=context.anchors.public_keys,
                       before=before, limit=PAGE_SIZE)
    limit = context.settings.audit_web_verify_max_entries
    return render_page(request, "audit/log.html", person=person, found=found, can_verify=found.size <= limit,
                       verify_limit=limit, before=before)


@router.post("/audit/log/verify")
def verify_log_now(person: CsrfDep, session: SessionDep, context: ContextDep) -> Response:
    """Verify the whole log now and keep the verdict, then show the log page again (auditors)."""
    verify_now(session=session, actor=person.actor, anchors=context.anchors, via="web", now=utcnow(),
               max_entries=context.settings.audit_web_verify_max_entries)
    session.commit()
    return RedirectResponse("/audit/log", status_code=303)
