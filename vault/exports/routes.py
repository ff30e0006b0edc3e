"""HTTP routes for evidence bundles: build one (streamed ZIP) and read retained copies."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse

from vault.api.deps import ActorDep, ContextDep, SessionDep
from vault.api.errors import SIGNED_IN, error_responses
from vault.api.streaming import ClosingStreamingResponse
from vault.db import utcnow
from vault.exports import service
from vault.exports.schemas import ExportCreate, ExportPublic
from vault.exports.stream import ExportRun, open_sources
from vault.text import Name

router = APIRouter(prefix="/api/exports", tags=["exports"], responses=SIGNED_IN)


@router.post(
    "",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The bundle, a BagIt bag in a ZIP64 file"},
               **error_responses(404, 409, 410)},
)
def create_export(body: ExportCreate, session: SessionDep, actor: ActorDep, context: ContextDep) -> StreamingResponse:
    """Build an evidence bundle under an approved grant and stream it; the export is logged and a copy retained."""
    request = service.ExportRequest(body.case_number, body.purpose, body.recipient, body.evidence_ids, body.party,
                                    body.include_redacted, body.watermark)
    plan = service.prepare_export(session=session, actor=actor, context=context, request=request, now=utcnow())
    open_sources(context, plan)  # an outage is a 503 now, and the export is not logged as made
    session.commit()
    return ClosingStreamingResponse(
        ExportRun(context=context, actor=actor, plan=plan),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{plan.bag_name}.zip"',
            "X-Export-Id": str(plan.export_id),
        },
    )


@router.get("", response_model=list[ExportPublic], responses=error_responses(404))
def list_exports(session: SessionDep, actor: ActorDep, case_number: Name | None = None) -> list[ExportPublic]:
    """List retained copies (records managers and auditors), optionally of one case."""
    return [ExportPublic.of(c) for c in service.list_exports(session=session, actor=actor, case_number=case_number)]


@router.get("/{export_id}", response_model=ExportPublic, responses=error_responses(404))
def get_export(export_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> ExportPublic:
    """Return one retained copy: the bundle's SHA-256, size, signature, recipient and approval."""
    return ExportPublic.of(service.get_export(session=session, actor=actor, export_id=export_id))


@router.get(
    "/{export_id}/retained",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "The retained copy's stored document"},
               **error_responses(404)},
)
def get_retained_document(export_id: uuid.UUID, session: SessionDep, actor: ActorDep, context: ContextDep) -> Response:
    """Return the document kept for a retained copy: the bundle's digest, every file's digests, the signature."""
    body = service.read_retained_document(session=session, actor=actor, store=context.store, export_id=export_id)
    return Response(body, media_type="application/json")
