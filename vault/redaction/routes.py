"""HTTP routes: draft, detect, decide, render, submit and approve edits; stream a rendered edit; its provenance."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, Response, StreamingResponse

from vault.access.ranges import RangeNotSatisfiable
from vault.access.routes import content_disposition
from vault.api.deps import ActorDep, ContextDep, SessionDep, ViewerDep
from vault.api.errors import SIGNED_IN, error_body, error_responses
from vault.api.streaming import ClosingStreamingResponse
from vault.db import utcnow
from vault.errors import Conflict
from vault.redaction import rendering, service
from vault.redaction.schemas import EditCreate, EditDecision, EditPublic, SuggestionDecision
from vault.redaction.spec import EditSpec
from vault.text import Code

router = APIRouter(prefix="/api", tags=["edits"], responses=SIGNED_IN)


@router.post("/evidence/{evidence_id}/edits", response_model=EditPublic, status_code=201,
             responses=error_responses(403, 404, 410, 422))
def create_edit(evidence_id: uuid.UUID, body: EditCreate, session: SessionDep, actor: ActorDep) -> EditPublic:
    """Start a clip or redacted copy of an original you may download (records managers, reviewers)."""
    edit = service.create_edit(session=session, actor=actor, evidence_id=evidence_id, spec=body.spec, now=utcnow())
    session.commit()
    return EditPublic.model_validate(edit)


@router.get("/evidence/{evidence_id}/edits", response_model=list[EditPublic], responses=error_responses(403))
def list_edits(evidence_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> list[EditPublic]:
    """List an original's edits, newest first."""
    return [EditPublic.model_validate(e) for e in service.list_edits(session=session, actor=actor,
                                                                      evidence_id=evidence_id)]


@router.get("/edits/submitted", response_model=list[EditPublic], responses=error_responses(403))
def list_submitted(session: SessionDep, actor: ActorDep) -> list[EditPublic]:
    """List the edits waiting for an approver's decision."""
    return [EditPublic.model_validate(e) for e in service.list_submitted(session=session, actor=actor)]


@router.get("/edits/{edit_id}", response_model=EditPublic, responses=error_responses(404))
def get_edit(edit_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> EditPublic:
    """Return one edit: its spec, suggestions, progress and provenance."""
    return EditPublic.model_validate(service.get_edit(session=session, actor=actor, edit_id=edit_id))


@router.put("/edits/{edit_id}/spec", response_model=EditPublic, responses=error_responses(403, 404, 409, 422))
def change_spec(edit_id: uuid.UUID, body: EditSpec, session: SessionDep, actor: ActorDep) -> EditPublic:
    """Replace the edit's clip, regions and audio ranges (its editor; it must be rendered again)."""
    edit = service.change_spec(session=session, actor=actor, edit_id=edit_id, spec=body, now=utcnow())
    session.commit()
    return EditPublic.model_validate(edit)


@router.post("/edits/{edit_id}/faces", response_model=EditPublic, status_code=202,
             responses=error_responses(403, 404, 409))
def detect_faces(edit_id: uuid.UUID, session: SessionDep, actor: ActorDep, context: ContextDep) -> EditPublic:
    """Look for faces in the original, in the background; they come back as suggestions, none applied."""
    edit, _ = service.own_edit(session=session, actor=actor, edit_id=edit_id, now=utcnow())
    session.commit()
    rendering.start_detection(context, edit.id)
    session.refresh(edit)
    return EditPublic.model_validate(edit)


@router.post("/edits/{edit_id}/suggestions/{suggestion_id}", response_model=EditPublic,
             responses=error_responses(403, 404, 409, 422))
def decide_suggestion(edit_id: uuid.UUID, suggestion_id: Code, body: SuggestionDecision, session: SessionDep,
                      actor: ActorDep) -> EditPublic:
    """Accept a suggested face as a region to hide (with its reason), or reject it."""
    edit = service.decide_suggestion(session=session, actor=actor, edit_id=edit_id, suggestion_id=suggestion_id,
                                     accept=body.accept, reason=body.reason, reason_text=body.reason_text,
                                     method=body.method, now=utcnow())
    session.commit()
    return EditPublic.model_validate(edit)


@router.post("/edits/{edit_id}/render", response_model=EditPublic, status_code=202,
             responses=error_responses(403, 404, 409))
def render(edit_id: uuid.UUID, session: SessionDep, actor: ActorDep, context: ContextDep) -> EditPublic:
    """Render the edit into an H.264 derivative in the background; poll the edit for its progress."""
    edit = service.mark_for_render(session=session, actor=actor, edit_id=edit_id, now=utcnow())
    session.commit()
    rendering.start_render(context, edit.id)
    return EditPublic.model_validate(edit)


@router.post("/edits/{edit_id}/submit", response_model=EditPublic, responses=error_responses(403, 404, 409))
def submit(edit_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> EditPublic:
    """Send the rendered edit to an approver (a second person)."""
    edit = service.submit_edit(session=session, actor=actor, edit_id=edit_id, now=utcnow())
    session.commit()
    return EditPublic.model_validate(edit)


@router.post("/edits/{edit_id}/decision", response_model=EditPublic, responses=error_responses(403, 404, 409, 422))
def decide(edit_id: uuid.UUID, body: EditDecision, session: SessionDep, actor: ActorDep) -> EditPublic:
    """Approve or reject a submitted edit (approvers other than its editor)."""
    edit = service.decide_edit(session=session, actor=actor, edit_id=edit_id, approve=body.approve,
                               reason=body.reason, now=utcnow())
    session.commit()
    return EditPublic.model_validate(edit)


@router.get("/edits/{edit_id}/provenance", responses=error_responses(404, 409))
def provenance(edit_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> dict[str, Any]:
    """Return the provenance spec of a rendered edit: original and output hashes, the spec, people and tools."""
    edit = service.get_edit(session=session, actor=actor, edit_id=edit_id)
    if edit.provenance is None:
        raise Conflict(f"edit {edit_id} has not been rendered yet", details={"status": edit.status.value})
    return edit.provenance


RangeHeader = Annotated[str | None, Header(alias="Range")]


@router.get("/edits/{edit_id}/video", response_class=StreamingResponse, responses=error_responses(404, 409, 416))
def video(edit_id: uuid.UUID, session: SessionDep, actor: ViewerDep, context: ContextDep,
          range_header: RangeHeader = None) -> Response:
    """Stream a rendered edit to its editor or an approver; honours Range (the player's seeks)."""
    try:
        edit, derivative, byte_range = service.open_output(session=session, actor=actor, edit_id=edit_id,
                                                           range_header=range_header, now=utcnow())
    except RangeNotSatisfiable as exc:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=416,
                            headers={"Content-Range": f"bytes */{exc.size}", "Accept-Ranges": "bytes"})
    chunks = context.store.open_range(derivative.storage_key, derivative.version_id, start=byte_range.start,
                                      end=byte_range.end) if byte_range.length > 0 else iter(())
    session.commit()
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(max(byte_range.length, 0)),
               "Content-Disposition": content_disposition("inline", f"{edit.id}-{derivative.kind.value}.mp4"),
               "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    if byte_range.partial:
        headers["Content-Range"] = byte_range.content_range()
    return ClosingStreamingResponse(chunks, status_code=206 if byte_range.partial else 200, media_type="video/mp4",
                             headers=headers)
