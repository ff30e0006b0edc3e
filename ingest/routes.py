"""HTTP routes of the ingest: tus uploads, single-request uploads, receipts, re-tagging, continuity."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, BackgroundTasks, Header, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope, Send

from ingest import clearance, receipts
from ingest.continuity import list_discontinuities
from ingest.docks.routes import router as docks_router
from ingest.errors import InvalidHeader, InvalidTusRequest, TusVersionUnsupported, UnsupportedMedia, WrongContentType
from ingest.jobs import make_thumbnail
from ingest.models import FlagClearanceRequest
from ingest.retagging import retag_evidence
from ingest.rules import IngestRules
from ingest.schemas import DiscontinuityPublic, FlagRequestDecision, FlagRequestPublic, SignedReceipt, TagsUpdate
from ingest.service import IngestOutcome, lock_ingested
from ingest.uploads import service as uploads
from ingest.uploads.locking import acquire_upload_lock, body_until_released, release_marker, upload_lock
from vault.api.deps import ActorDep, ContextDep, SessionDep, UploaderDep
from vault.api.errors import SIGNED_IN, error_responses
from vault.cases.service import lookup_case
from vault.context import VaultContext
from vault.db import utcnow
from vault.errors import ChecksumMismatch, VaultError
from vault.evidence.schemas import EvidencePublic
from vault.identities.actor import Actor
from vault.text import Name

TUS_VERSION = "1.0.0"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
_DIGITS = re.compile(r"[0-9]{1,19}")


class TusRoute(APIRoute):
    """Adds Tus-Resumable to every response, refusals included (tus 1.0 requires it)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle the request, adding the header as the response starts (refusals keep their normal path)."""

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"tus-resumable", TUS_VERSION.encode())]
            await send(message)

        await super().handle(scope, receive, send_with_version)


router = APIRouter(tags=["ingest"])
tus = APIRouter(prefix="/api/uploads", route_class=TusRoute)


def _check_tus(version: str | None) -> None:
    if version != TUS_VERSION:
        raise TusVersionUnsupported(f"send Tus-Resumable: {TUS_VERSION}", details={"supported": [TUS_VERSION]})


def _integer(value: str | None, name: str, refusal: type[VaultError] = InvalidTusRequest) -> int | None:
    # str.isdigit() passes "²", which int() refuses, and int() reads "٣" as 3: only ASCII digits are a number here.
    if value is None:
        return None
    if not _DIGITS.fullmatch(value):
        raise refusal(f"{name} must be a non-negative integer in ASCII digits", details={"header": name})
    return int(value)


@tus.options("", status_code=204)
def tus_options(context: ContextDep) -> Response:
    """Advertise the tus version, extensions, checksum algorithms and maximum size."""
    return Response(status_code=204, headers={
        "Tus-Version": TUS_VERSION, "Tus-Extension": "creation,termination,checksum",
        "Tus-Max-Size": str(context.settings.max_upload_bytes),
        "Tus-Checksum-Algorithm": ",".join(sorted(uploads.CHECKSUM_ALGORITHMS))})


@tus.post("", status_code=201, responses=SIGNED_IN | error_responses(400, 409, 412, 413, 415))
def create_upload(
    session: SessionDep, actor: UploaderDep, context: ContextDep,
    upload_length: Annotated[str | None, Header()] = None, upload_metadata: Annotated[str | None, Header()] = None,
    tus_resumable: Annotated[str | None, Header()] = None,
) -> Response:
    """Open a resumable upload (tus creation); 200 with the record when the declared sha256 is already stored."""
    _check_tus(tus_resumable)
    upload = uploads.create_upload(session=session, actor=actor, context=context,
                                   length=_integer(upload_length, "Upload-Length"), metadata_header=upload_metadata,
                                   now=utcnow())
    session.commit()
    headers = {"Location": f"/api/uploads/{upload.id}", "Upload-Offset": str(upload.offset)}
    if upload.duplicate:
        return Response(status_code=200, headers={**headers, "Evault-Evidence-Id": str(upload.evidence_id)})
    return Response(status_code=201, headers=headers)


@tus.head("/{upload_id}", responses=SIGNED_IN | error_responses(404))
def upload_status(upload_id: uuid.UUID, session: SessionDep, actor: UploaderDep, context: ContextDep) -> Response:
    """Report how many bytes of an upload are durable (tus core)."""
    upload = uploads.get_upload(session=session, actor=actor, upload_id=upload_id)
    headers = {"Upload-Offset": str(uploads.current_offset(context=context, upload=upload)),
               "Upload-Length": str(upload.length), "Cache-Control": "no-store"}
    if upload.evidence_id is not None:
        headers["Evault-Evidence-Id"] = str(upload.evidence_id)
    return Response(status_code=200, headers=headers)


@tus.patch("/{upload_id}", status_code=204,
           responses=SIGNED_IN | error_responses(400, 404, 409, 412, 413, 415, 423, 460))
async def append_upload(
    upload_id: uuid.UUID, request: Request, session: SessionDep, actor: UploaderDep, context: ContextDep,
    background: BackgroundTasks,
    upload_offset: Annotated[str | None, Header()] = None, content_type: Annotated[str | None, Header()] = None,
    upload_checksum: Annotated[str | None, Header()] = None, tus_resumable: Annotated[str | None, Header()] = None,
) -> Response:
    """Append bytes; the PATCH that completes the upload answers only once the record is committed."""
    _check_tus(tus_resumable)
    if (content_type or "").split(";")[0].strip().lower() != OFFSET_CONTENT_TYPE:
        raise WrongContentType(f"a PATCH must be sent as {OFFSET_CONTENT_TYPE}")
    offset = _integer(upload_offset, "Upload-Offset")
    if offset is None:
        raise InvalidTusRequest("Upload-Offset is required", details={"header": "Upload-Offset"})
    held = await anyio.to_thread.run_sync(acquire_upload_lock, context, upload_id)
    ended = False
    try:  # the lock is held until the new offset (and the record, for the last PATCH) is committed
        body = body_until_released(request.receive, release_marker(context.settings.uploads_dir, upload_id))
        upload = await uploads.append_to_upload(session=session, actor=actor, context=context, upload_id=upload_id,
                                                offset=offset, chunks=body, checksum_header=upload_checksum,
                                                now=utcnow())
        await anyio.to_thread.run_sync(session.commit)
        headers = {"Upload-Offset": str(upload.offset)}
        if upload.offset == upload.length:
            try:
                outcome = await anyio.to_thread.run_sync(lambda: _finish(session, actor, context, upload_id))
            except (UnsupportedMedia, ChecksumMismatch):
                ended = True  # refused: the upload and its staged bytes are gone
                raise
            ended = True
            headers["Evault-Evidence-Id"] = str(outcome.evidence.id)
            if not outcome.duplicate:
                background.add_task(make_thumbnail, context, outcome.evidence.id)
    finally:
        await anyio.to_thread.run_sync(lambda: held.release(upload_ended=ended))
    return Response(status_code=204, headers=headers)


def _finish(session: Session, actor: Actor, context: VaultContext, upload_id: uuid.UUID) -> IngestOutcome:
    """Register the upload's record, commit it, then lock the original: only then is the upload acknowledged."""
    outcome = uploads.finalize_upload(session=session, actor=actor, context=context, upload_id=upload_id,
                                      now=utcnow())
    session.commit()
    uploads.lock_finalized(context=context, outcome=outcome, upload_id=upload_id)
    return outcome


@tus.delete("/{upload_id}", status_code=204, responses=SIGNED_IN | error_responses(404, 409, 412))
def terminate_upload(upload_id: uuid.UUID, session: SessionDep, actor: UploaderDep, context: ContextDep,
                     tus_resumable: Annotated[str | None, Header()] = None) -> Response:
    """Abandon an unfinished upload and delete its staged bytes (tus termination)."""
    _check_tus(tus_resumable)
    with upload_lock(context, upload_id):
        uploads.terminate_upload(session=session, actor=actor, context=context, upload_id=upload_id, now=utcnow())
        session.commit()
    return Response(status_code=204)


@tus.get("/{upload_id}/receipt", response_model=SignedReceipt, responses=SIGNED_IN | error_responses(404, 409))
def upload_receipt(upload_id: uuid.UUID, session: SessionDep, actor: UploaderDep, context: ContextDep) -> Any:
    """Return the signed ingest receipt of a completed upload."""
    return receipts.upload_receipt(session=session, actor=actor, signer=context.signer, upload_id=upload_id)


router.include_router(tus)
router.include_router(docks_router)


@router.post("/api/evidence", status_code=201, response_model=SignedReceipt,
             responses=SIGNED_IN | error_responses(400, 409, 413, 415))
async def upload_evidence(
    request: Request, session: SessionDep, actor: ActorDep, context: ContextDep, background: BackgroundTasks
) -> Any:
    """Upload one file in a single streamed request (Evault-Meta-* headers); 200 for bytes already stored."""
    length = _integer(request.headers.get("content-length"), "Content-Length", InvalidHeader)
    outcome, staged = await uploads.receive_single(
        session=session, actor=actor, context=context, headers=dict(request.headers), chunks=request.stream(),
        content_length=length, now=utcnow())
    await anyio.to_thread.run_sync(session.commit)
    await anyio.to_thread.run_sync(lambda: lock_ingested(store=context.store, outcome=outcome, staged=staged,
                                                         steps=context.metrics.ingest_steps))
    if not outcome.duplicate:
        background.add_task(make_thumbnail, context, outcome.evidence.id)  # after the response: acks stay fast
    body = receipts.receipt_of(outcome, context.signer)
    return JSONResponse(body, status_code=200 if outcome.duplicate else 201)


@router.get("/api/evidence/{evidence_id}/receipt", response_model=SignedReceipt,
            responses=SIGNED_IN | error_responses(404))
def evidence_receipt(evidence_id: uuid.UUID, session: SessionDep, actor: UploaderDep, context: ContextDep) -> Any:
    """Return a signed receipt for a stored record."""
    return receipts.evidence_receipt(session=session, actor=actor, signer=context.signer, evidence_id=evidence_id)


_REQUESTED: dict[int | str, dict[str, Any]] = {
    202: {"model": FlagRequestPublic, "description": "The change would clear compliance flags: it awaits a decision."}}


@router.patch("/api/evidence/{evidence_id}/tags", response_model=EvidencePublic,
              responses=SIGNED_IN | error_responses(404, 409) | _REQUESTED)
def retag(evidence_id: uuid.UUID, body: TagsUpdate, session: SessionDep, actor: ActorDep,
          context: ContextDep) -> Any:
    """Complete or correct a record's tags; each change is logged and the flags are re-evaluated.

    A change that would clear a compliance flag is not applied: 202 with the request an approver decides.
    """
    outcome = retag_evidence(session=session, actor=actor, evidence_id=evidence_id,
                             changes=body.model_dump(exclude_unset=True, exclude={"reason"}),
                             rules=IngestRules.of(context.settings), now=utcnow(), reason=body.reason)
    session.commit()
    if isinstance(outcome, FlagClearanceRequest):
        return JSONResponse(FlagRequestPublic.of(outcome).model_dump(mode="json"), status_code=202)
    return EvidencePublic.of(outcome)


@router.get("/api/flag-requests", response_model=list[FlagRequestPublic], responses=SIGNED_IN)
def flag_requests(session: SessionDep, actor: ActorDep, pending_only: bool = True,
                  evidence_id: uuid.UUID | None = None) -> list[FlagRequestPublic]:
    """List flag clearance requests on records the caller may see (pending ones unless pending_only=false)."""
    found = clearance.list_clearance_requests(session=session, actor=actor, pending_only=pending_only,
                                              evidence_id=evidence_id)
    return [FlagRequestPublic.of(r) for r in found]


@router.get("/api/flag-requests/{request_id}", response_model=FlagRequestPublic,
            responses=SIGNED_IN | error_responses(404))
def flag_request(request_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> FlagRequestPublic:
    """Return one flag clearance request."""
    return FlagRequestPublic.of(clearance.get_clearance_request(session=session, actor=actor, request_id=request_id))


@router.post("/api/flag-requests/{request_id}/approve", response_model=FlagRequestPublic,
             responses=SIGNED_IN | error_responses(404, 409))
def approve_flag_request(request_id: uuid.UUID, body: FlagRequestDecision, session: SessionDep, actor: ActorDep,
                         context: ContextDep) -> FlagRequestPublic:
    """Approve a request (never the uploader's or the requester's own): its tag change applies, the flags clear."""
    request = clearance.approve_clearance(session=session, actor=actor, request_id=request_id, reason=body.reason,
                                          rules=IngestRules.of(context.settings), now=utcnow())
    session.commit()
    return FlagRequestPublic.of(request)


@router.post("/api/flag-requests/{request_id}/reject", response_model=FlagRequestPublic,
             responses=SIGNED_IN | error_responses(404, 409))
def reject_flag_request(request_id: uuid.UUID, body: FlagRequestDecision, session: SessionDep,
                        actor: ActorDep) -> FlagRequestPublic:
    """Reject a request: tags and flags stay as they are."""
    request = clearance.reject_clearance(session=session, actor=actor, request_id=request_id, reason=body.reason,
                                         now=utcnow())
    session.commit()
    return FlagRequestPublic.of(request)


@router.get("/api/ingest/gaps", response_model=list[DiscontinuityPublic], responses=SIGNED_IN | error_responses(404))
def recording_gaps(session: SessionDep, actor: ActorDep, context: ContextDep, case_number: Name | None = None,
                   recorder_serial: Name | None = None) -> list[DiscontinuityPublic]:
    """List gaps and overlaps between consecutive segments, per case and/or recorder."""
    case = lookup_case(session=session, actor=actor, case_number=case_number) if case_number else None
    found = list_discontinuities(session=session, actor=actor, case=case, recorder_serial=recorder_serial,
                                 tolerance=IngestRules.of(context.settings).continuity_tolerance)
    return [DiscontinuityPublic.of(d) for d in found]
