"""HTTP routes of this vault as a witness (c2sp.org/tlog-witness): no session needed, the log's signature is the
authentication. Bodies are the protocol's text, not JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from vault.api.deps import ContextDep, SessionDep
from vault.api.errors import error_responses
from vault.custody.witness import SIZE_MEDIA_TYPE, parse_trusted_logs
from vault.custody.witness_service import MalformedSubmission, SizeConflict, cosign_checkpoint, witness_identity
from vault.db import utcnow

router = APIRouter(prefix="/api/witness", tags=["witness"])

# A checkpoint with 63 proof lines and 16 signatures is a few kilobytes.
MAX_SUBMISSION_BYTES = 64 * 1024

_TEXT = {"schema": {"type": "string"}}
ADD_CHECKPOINT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The witness's cosignature lines (note signature lines)", "content": {"text/plain": _TEXT}},
    409: {"description": "The tree size this witness last cosigned for the log", "content": {SIZE_MEDIA_TYPE: _TEXT}},
    **error_responses(400, 403, 404, 422, 503),
}
ADD_CHECKPOINT_BODY = {"requestBody": {"required": True, "content": {"text/plain": _TEXT}}}


async def read_submission(request: Request) -> bytes:
    """Read the raw request body, refusing one larger than any real submission."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SUBMISSION_BYTES:
            raise MalformedSubmission(f"an add-checkpoint body is at most {MAX_SUBMISSION_BYTES} bytes")
    return bytes(body)


Submission = Annotated[bytes, Depends(read_submission)]


class WitnessKeyPublic(BaseModel):
    """The witness's cosignature/v1 verifier key, to put in another vault's EVAULT_WITNESSES."""

    name: str
    vkey: str


@router.post(
    "/add-checkpoint",
    response_class=Response,
    responses=ADD_CHECKPOINT_RESPONSES,
    openapi_extra=ADD_CHECKPOINT_BODY,
)
def add_checkpoint(body: Submission, session: SessionDep, context: ContextDep) -> Response:
    """Check a log's checkpoint against the latest one cosigned for it, and cosign it (tlog-witness)."""
    identity = witness_identity(name=context.settings.witness_name, signer=context.signer)
    trusted = parse_trusted_logs(context.settings.witness_trusted_logs)
    try:
        signature = cosign_checkpoint(session=session, body=body, identity=identity, trusted=trusted, now=utcnow())
    except SizeConflict as conflict:
        session.commit() if conflict.record_kept else session.rollback()
        # Exactly this media type, no charset: clients compare it (tlog-witness).
        return Response(f"{conflict.size}\n", status_code=409, headers={"Content-Type": SIZE_MEDIA_TYPE})
    session.commit()
    return Response(signature.line(), headers={"Content-Type": "text/plain; charset=utf-8"})


@router.get("/vkey", response_model=WitnessKeyPublic, responses=error_responses(404))
def witness_vkey(context: ContextDep) -> WitnessKeyPublic:
    """Return this witness's cosignature verifier key (404 when witnessing is off)."""
    identity = witness_identity(name=context.settings.witness_name, signer=context.signer)
    return WitnessKeyPublic(name=identity.name, vkey=identity.key.vkey())
