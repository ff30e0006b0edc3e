"""Officers upload in the browser: a recorder folder over tus, tags for the batch, verified receipts."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from evault.web.auth import CsrfDep, SignedInDep
from evault.web.templating import render_page
from ingest.metadata import Activity, declared_moments, parse_metadata, refuse_future
from ingest.rules import IngestRules
from vault.api.deps import ContextDep
from vault.api.errors import error_body
from vault.db import utcnow
from vault.errors import InvalidInput
from vault.identities.authz import Permission, require

router = APIRouter(include_in_schema=False)

CHUNK_SIZE = 8 * 1024 * 1024  # per PATCH: a dropped link costs at most this much again
_SEPARATORS = re.compile(r"[\s,，、;；]+")


@router.get("/upload")
def upload_page(request: Request, person: SignedInDep, context: ContextDep) -> Response:
    """Show the upload page: tags for the batch, a drop zone, a row per file."""
    require(person.actor, Permission.UPLOAD_EVIDENCE)
    return render_page(request, "upload/page.html", person=person, activities=list(Activity),
                       chunk_size=CHUNK_SIZE, zone=context.settings.timezone)


def _handlers(value: str) -> str:
    """Join certificate numbers typed with spaces, commas or new lines as the metadata's comma list."""
    return ",".join(dict.fromkeys(part for part in _SEPARATORS.split(value) if part))


def _return_time(value: str, context: ContextDep) -> str:
    """Read a datetime-local value as the agency's wall-clock time; return it with its UTC offset."""
    if not value.strip():
        return ""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput("'field_return_at' is not a date and time", details={"key": "field_return_at"}) from None
    return moment.replace(tzinfo=context.settings.zone).isoformat()


@router.post("/upload/check")
def check_tags(
    person: CsrfDep, context: ContextDep,
    case_number: Annotated[str, Form(max_length=1000)] = "", party: Annotated[str, Form(max_length=1000)] = "",
    handlers: Annotated[str, Form(max_length=2000)] = "", activity: Annotated[str, Form(max_length=64)] = "",
    recorder_serial: Annotated[str, Form(max_length=1000)] = "",
    party_informed: Annotated[str, Form(max_length=8)] = "",
    field_return_at: Annotated[str, Form(max_length=64)] = "", late_reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Validate the batch's tags as the tus endpoint will; answer the Upload-Metadata pairs or the refusal."""
    require(person.actor, Permission.UPLOAD_EVIDENCE)
    try:
        raw = {"case_number": case_number, "party": party, "handlers": _handlers(handlers), "activity": activity,
               "recorder_serial": recorder_serial, "party_informed": party_informed,
               "field_return_at": _return_time(field_return_at, context), "late_reason": late_reason}
        raw = {key: value.strip() for key, value in raw.items() if value.strip()}
        meta = parse_metadata({**raw, "filename": "check"})
        refuse_future(declared_moments(meta), now=utcnow(), tolerance=IngestRules.of(context.settings).clock_tolerance)
    except InvalidInput as error:  # the page names the field from details.key in the person's language
        return JSONResponse(error_body(error.code, error.message, error.details), status_code=422)
    return JSONResponse({"metadata": raw})
