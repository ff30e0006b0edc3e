"""HTTP routes: access requests and decisions, content under a grant, the auditor's access trail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import AwareDatetime
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from vault.access import content, inbox, report, service, trail
from vault.access.content import ContentPlan, Variant
from vault.access.jobs import flush_playback
from vault.access.models import RequestStatus
from vault.access.playback_buffer import PassKey
from vault.access.ranges import RangeNotSatisfiable
from vault.access.schemas import (
    AccessGrantPublic,
    AccessRequestCreate,
    AccessRequestPublic,
    ApproveBody,
    InboxItemPublic,
    LinkPublic,
    ReasonBody,
    TrailEntryPublic,
)
from vault.api.deps import ActorDep, BearerDep, ContextDep, SessionDep, get_viewer, session_scope
from vault.api.errors import SIGNED_IN, error_body, error_responses
from vault.api.streaming import ClosingStreamingResponse
from vault.context import VaultContext
from vault.db import utcnow
from vault.identities.actor import Actor
from vault.identities.sign_in import SESSION_COOKIE
from vault.storage.base import CHUNK_SIZE, BlobStore
from vault.text import Code, Name, safe_file_name

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/access", tags=["access"], responses=SIGNED_IN)
content_router = APIRouter(prefix="/api/evidence", tags=["access"], responses=SIGNED_IN)


@router.post("/requests", response_model=AccessRequestPublic, status_code=201, responses=error_responses(404, 409))
def create_request(
    body: AccessRequestCreate, session: SessionDep, actor: ActorDep, context: ContextDep
) -> AccessRequestPublic:
    """File an access request (查阅申请) for records or a whole case."""
    now = utcnow()
    request = service.request_access(
        session=session,
        actor=actor,
        evidence_ids=body.evidence_ids,
        case_number=body.case_number,
        purpose=body.purpose,
        mode=body.mode,
        duration_hours=body.duration_hours,
        reason=body.reason,
        now=now,
        max_hours=context.settings.access_max_grant_hours,
    )
    session.commit()
    return AccessRequestPublic.of(request, now)


@router.get("/requests", response_model=list[AccessRequestPublic])
def list_requests(
    session: SessionDep, actor: ActorDep, status: RequestStatus | None = None, mine: bool = False
) -> list[AccessRequestPublic]:
    """List requests: approvers and auditors see all (only their own with mine=true), everyone else their own."""
    now = utcnow()
    found = service.list_requests(session=session, actor=actor, status=status, mine=mine)
    return [AccessRequestPublic.of(r, now) for r in found]


@router.get("/inbox", response_model=list[InboxItemPublic])
def approver_inbox(session: SessionDep, actor: ActorDep) -> list[InboxItemPublic]:
    """List pending requests for approvers, oldest first, with a metadata preview of the records (not content)."""
    return [InboxItemPublic.of(i) for i in inbox.approver_inbox(session=session, actor=actor, now=utcnow())]


@router.get("/requests/{request_id}", response_model=AccessRequestPublic, responses=error_responses(404))
def get_request(request_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> AccessRequestPublic:
    """Return one request and its decision."""
    return AccessRequestPublic.of(service.get_request(session=session, actor=actor, request_id=request_id), utcnow())


@router.post("/requests/{request_id}/approve", response_model=AccessGrantPublic, status_code=201,
             responses=error_responses(404, 409))
def approve_request(
    request_id: uuid.UUID, body: ApproveBody, session: SessionDep, actor: ActorDep
) -> AccessGrantPublic:
    """Approve a request (approvers, never their own), possibly narrowing records, mode or duration."""
    now = utcnow()
    grant = service.approve_request(
        session=session,
        actor=actor,
        request_id=request_id,
        now=now,
        evidence_ids=body.evidence_ids,
        mode=body.mode,
        duration_hours=body.duration_hours,
        note=body.note,
    )
    session.commit()
    return AccessGrantPublic.of(grant, now)


@router.post("/requests/{request_id}/deny", response_model=AccessRequestPublic, responses=error_responses(404, 409))
def deny_request(request_id: uuid.UUID, body: ReasonBody, session: SessionDep, actor: ActorDep) -> AccessRequestPublic:
    """Deny a request with a reason."""
    now = utcnow()
    request = service.deny_request(session=session, actor=actor, request_id=request_id, reason=body.reason, now=now)
    session.commit()
    return AccessRequestPublic.of(request, now)


@router.get("/grants", response_model=list[AccessGrantPublic])
def list_grants(session: SessionDep, actor: ActorDep, include_inactive: bool = False,
                mine: bool = False) -> list[AccessGrantPublic]:
    """List grants in force (or all of them): approvers and auditors see everyone's (their own with mine=true)."""
    now = utcnow()
    grants = service.list_grants(session=session, actor=actor, now=now, active_only=not include_inactive, mine=mine)
    return [AccessGrantPublic.of(g, now) for g in grants]


@router.get("/grants/{grant_id}", response_model=AccessGrantPublic, responses=error_responses(404))
def get_grant(grant_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> AccessGrantPublic:
    """Return one grant."""
    return AccessGrantPublic.of(service.get_grant(session=session, actor=actor, grant_id=grant_id), utcnow())


@router.post("/grants/{grant_id}/revoke", response_model=AccessGrantPublic, responses=error_responses(404, 409))
def revoke_grant(grant_id: uuid.UUID, body: ReasonBody, session: SessionDep, actor: ActorDep,
                 context: ContextDep) -> AccessGrantPublic:
    """Revoke a grant early (approvers)."""
    flush_playback(context)  # the summaries the revocation writes then hold every range served until now
    now = utcnow()
    grant = service.revoke_grant(session=session, actor=actor, grant_id=grant_id, reason=body.reason, now=now)
    session.commit()
    context.playback.drop_passes(grant.id)  # this process stops at once; others within the recheck time
    return AccessGrantPublic.of(grant, now)


def _trail_filter(evidence_id: uuid.UUID | None, case_number: str | None, user: str | None,
                  since: datetime | None, until: datetime | None, action: list[Code] | None) -> trail.TrailFilter:
    return trail.TrailFilter(evidence_id=evidence_id, case_number=case_number, user_name=user, since=since,
                             until=until, actions=tuple(action or ()))


ActionQuery = Annotated[list[Code] | None, Query(description="custody action names (`evidence:viewed`); `*` for all; "
                                                             "none: the access events")]


@router.get("/trail", response_model=list[TrailEntryPublic], responses=error_responses(404))
def access_trail(
    session: SessionDep,
    actor: ActorDep,
    context: ContextDep,
    response: Response,
    evidence_id: uuid.UUID | None = None,
    case_number: Name | None = None,
    user: Name | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    action: ActionQuery = None,
    offset: Annotated[int, Query(ge=0, le=trail.MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=trail.MAX_PAGE)] = trail.MAX_PAGE,
) -> list[TrailEntryPublic]:
    """Search the custody trail by record, case, user, time and action, with readable names (auditors).

    Every given filter must hold. The total number of matching events is in the X-Total-Count header."""
    page = trail.search_trail(
        session=session,
        actor=actor,
        wanted=_trail_filter(evidence_id, case_number, user, since, until, action),
        now=utcnow(),
        idle_seconds=context.settings.playback_idle_seconds,
        offset=offset,
        limit=limit,
    )
    session.commit()
    response.headers["X-Total-Count"] = str(page.total)
    return [
        TrailEntryPublic(
            log_index=e.event.log_index, at=e.event.at, actor_name=e.event.actor_name, action=e.event.action,
            subject_type=e.event.subject_type, subject_id=e.event.subject_id, case_id=e.event.case_id,
            summary=report.summarise(e.event), details=e.event.details, actor=e.actor, subject=e.subject,
            record=e.record, case_number=e.case_number,
        )
        for e in page.entries
    ]


_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


@router.get("/trail.{fmt}", response_model=None, responses=error_responses(404))
def export_trail(
    fmt: Code,
    session: SessionDep,
    actor: ActorDep,
    context: ContextDep,
    evidence_id: uuid.UUID | None = None,
    case_number: Name | None = None,
    user: Name | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    action: ActionQuery = None,
) -> Response:
    """Export the whole matching trail as CSV (details as JSON), PDF or a printable HTML report (auditors)."""
    body = report.export_trail(
        session=session,
        actor=actor,
        wanted=_trail_filter(evidence_id, case_number, user, since, until, action),
        fmt=fmt,
        now=utcnow(),
        idle_seconds=context.settings.playback_idle_seconds,
        zone=context.settings.zone,
        agency=context.settings.agency_name,
    )
    session.commit()
    if fmt == "html":
        return HTMLResponse(body)
    headers = {"Content-Disposition": f'attachment; filename="access-trail.{fmt}"'}
    return Response(body, media_type=_MEDIA_TYPES[fmt], headers=headers)


def content_disposition(kind: str, filename: str) -> str:
    """Return a Content-Disposition value with an ASCII fallback and the UTF-8 name (RFC 6266 / 8187)."""
    filename = safe_file_name(filename, fallback="file")  # the browser writes it to a disk: one bounded component
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename) or "file"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _digested(chunks: Iterator[bytes], plan: ContentPlan) -> Iterator[bytes]:
    digest = hashlib.sha256()
    try:
        for chunk in chunks:
            digest.update(chunk)
            yield chunk
    finally:
        getattr(chunks, "close", lambda: None)()  # closing this generator must release the stored file too
    if not hmac.compare_digest(digest.hexdigest(), plan.sha256):
        log.error("content.digest_mismatch", evidence_id=str(plan.evidence_id), variant=plan.variant.value)


def _open_body(store: BlobStore, plan: ContentPlan) -> Iterator[bytes]:
    """Open the bytes to send; a store outage raises here (503), before any status line goes out."""
    rng = plan.byte_range
    if rng.length <= 0:
        return iter(())
    return store.open_range(plan.key, plan.version_id, start=rng.start, end=rng.end)


def _read(
    variant: Variant, evidence_id: uuid.UUID, session: Session, actor: Actor, context: VaultContext,
    range_header: str | None,
) -> tuple[ContentPlan, Iterator[bytes]]:
    """Check and log the read, commit, and open its bytes."""
    settings = context.settings
    plan = content.open_content(
        session=session, actor=actor, evidence_id=evidence_id, variant=variant, range_header=range_header,
        now=utcnow(), self_view=settings.uploader_self_view, idle_seconds=settings.playback_idle_seconds,
        buffer=context.playback,
    )
    chunks = _open_body(context.store, plan)  # before the read is logged: a read that cannot start is not one
    try:
        session.commit()
    except BaseException:
        getattr(chunks, "close", lambda: None)()
        raise
    if plan.opened is not None:  # the view is in the catalog: its next ranges may wait in memory
        context.playback.opened(plan.opened)
    return plan, chunks


def _respond(plan: ContentPlan, chunks: Iterator[bytes]) -> Response:
    rng = plan.byte_range
    kind = "attachment" if plan.variant == Variant.DOWNLOAD else "inline"
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(max(rng.length, 0)),
        "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(plan.sha256)).decode()}:",
        "Content-Disposition": content_disposition(kind, plan.filename),
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Evault-Variant": plan.variant.value,
    }
    if rng.partial:
        headers["Content-Range"] = rng.content_range()
    status = 206 if rng.partial else 200
    body = chunks if rng.partial else _digested(chunks, plan)
    if rng.length <= CHUNK_SIZE:  # a player's typical range: one read, one body, no trips to the thread pool
        return Response(b"".join(body), status_code=status, media_type=plan.media_type, headers=headers)
    return ClosingStreamingResponse(body, status_code=status, media_type=plan.media_type, headers=headers)


def _unsatisfiable(exc: RangeNotSatisfiable) -> Response:
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=416,
                        headers={"Content-Range": f"bytes */{exc.size}", "Accept-Ranges": "bytes"})


def _pass_key(
    variant: Variant, evidence_id: uuid.UUID, request: Request, credentials: HTTPAuthorizationCredentials | None
) -> PassKey | None:
    """Name the credential get_viewer would authenticate (bearer first, then the cookie) by its digest."""
    if variant == Variant.DOWNLOAD:  # every download is its own custody event
        return None
    if credentials is not None and credentials.credentials:
        secret = f"bearer {credentials.credentials}"
    elif cookie := request.cookies.get(SESSION_COOKIE):
        secret = f"cookie {cookie}"
    else:
        return None
    return PassKey(hashlib.sha256(secret.encode()).hexdigest(), evidence_id, variant.value)


def _serve_with_pass(
    key: PassKey, request: Request, context: VaultContext, range_header: str | None
) -> Response | None:
    """Serve a range under a recent check of the same view without the catalog; None when it must be checked."""
    now = utcnow()
    found = content.read_with_pass(buffer=context.playback, key=key, range_header=range_header, now=now)
    if found is None:
        return None
    plan, read_pass = found
    chunks = _open_body(context.store, plan)
    if not context.playback.note(read_pass.view, plan.byte_range, now, context.settings.playback_idle_seconds):
        getattr(chunks, "close", lambda: None)()  # the view went idle: open a new one through the catalog
        return None
    request.state.actor = read_pass.actor_name
    return _respond(plan, chunks)


def _serve(
    variant: Variant, evidence_id: uuid.UUID, request: Request, context: VaultContext,
    credentials: HTTPAuthorizationCredentials | None, range_header: str | None,
) -> Response:
    key = _pass_key(variant, evidence_id, request, credentials)
    try:
        if key is not None and (served := _serve_with_pass(key, request, context, range_header)) is not None:
            return served
        actor = get_viewer(request, context, credentials)
        with session_scope(context) as session:
            plan, chunks = _read(variant, evidence_id, session, actor, context, range_header)
    except RangeNotSatisfiable as exc:
        return _unsatisfiable(exc)
    if key is not None:
        content.remember_read(buffer=context.playback, key=key, actor=actor, plan=plan, now=utcnow(),
                              recheck_seconds=context.settings.playback_recheck_seconds)
    return _respond(plan, chunks)


async def _serve_in_one_trip(
    variant: Variant, evidence_id: uuid.UUID, request: Request, context: VaultContext,
    credentials: HTTPAuthorizationCredentials | None, range_header: str | None,
) -> Response:
    """Authenticate, check, log and read in one trip to the thread pool: each sync dependency was a trip of its own,
    and a player sends a request per range."""
    return await run_in_threadpool(_serve, variant, evidence_id, request, context, credentials, range_header)


RangeHeader = Annotated[str | None, Header(alias="Range")]


@content_router.get("/{evidence_id}/play", response_class=StreamingResponse, responses=error_responses(404, 410, 416))
async def play(evidence_id: uuid.UUID, request: Request, context: ContextDep, credentials: BearerDep,
               range_header: RangeHeader = None) -> Response:
    """Stream the original if a browser can play it, else its proxy; honours Range (seeking)."""
    return await _serve_in_one_trip(Variant.PLAY, evidence_id, request, context, credentials, range_header)


@content_router.get("/{evidence_id}/original", response_class=StreamingResponse,
                    responses=error_responses(404, 410, 416))
async def original(evidence_id: uuid.UUID, request: Request, context: ContextDep, credentials: BearerDep,
                   range_header: RangeHeader = None) -> Response:
    """Stream the original (video, audio or photo) inline under a grant; honours Range."""
    return await _serve_in_one_trip(Variant.ORIGINAL, evidence_id, request, context, credentials, range_header)


@content_router.get("/{evidence_id}/proxy", response_class=StreamingResponse, responses=error_responses(404, 410, 416))
async def proxy(evidence_id: uuid.UUID, request: Request, context: ContextDep, credentials: BearerDep,
                range_header: RangeHeader = None) -> Response:
    """Stream the browser proxy (a derived file, never the original) under a grant; honours Range."""
    return await _serve_in_one_trip(Variant.PROXY, evidence_id, request, context, credentials, range_header)


@content_router.get("/{evidence_id}/thumbnail", response_class=StreamingResponse,
                    responses=error_responses(404, 410, 416))
async def thumbnail(evidence_id: uuid.UUID, request: Request, context: ContextDep, credentials: BearerDep,
                    range_header: RangeHeader = None) -> Response:
    """Return the thumbnail under a grant."""
    return await _serve_in_one_trip(Variant.THUMBNAIL, evidence_id, request, context, credentials, range_header)


@content_router.get("/{evidence_id}/download", response_class=StreamingResponse,
                    responses=error_responses(404, 410, 416))
async def download(evidence_id: uuid.UUID, request: Request, context: ContextDep, credentials: BearerDep,
                   range_header: RangeHeader = None) -> Response:
    """Download the original bit for bit under a view-and-download grant, with its Repr-Digest (RFC 9530)."""
    return await _serve_in_one_trip(Variant.DOWNLOAD, evidence_id, request, context, credentials, range_header)


@content_router.post("/{evidence_id}/links", response_model=LinkPublic, status_code=201,
                     responses=error_responses(404, 409, 410))
def issue_link(evidence_id: uuid.UUID, session: SessionDep, actor: ActorDep, context: ContextDep,
               variant: Variant = Variant.PLAY) -> LinkPublic:
    """Issue a presigned direct URL (S3 stores) valid at most presign_seconds, after the grant check."""
    settings = context.settings
    link = content.issue_link(
        session=session, actor=actor, store=context.store, evidence_id=evidence_id, variant=variant, now=utcnow(),
        max_seconds=settings.presign_seconds, self_view=settings.uploader_self_view,
    )
    session.commit()
    return LinkPublic(url=link.url, expires_at=link.expires_at, variant=link.variant.value, grant_id=link.grant_id)
