"""Administration of the handler registry (执法证), and the scheduled jobs and health pages."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from evault.health_status import migration_state
from evault.jobs_status import list_job_status
from evault.scheduler import default_jobs
from evault.web.auth import CsrfDep, SignedInDep
from evault.web.clock import NowDep
from evault.web.forms import end_refused
from evault.web.i18n import N_
from evault.web.templating import render_page
from vault.api.deps import ContextDep, SessionDep
from vault.api.health import health_report
from vault.db import utcnow
from vault.errors import InvalidInput, VaultError
from vault.identities import certificates, overview, service
from vault.identities.authz import Permission, require
from vault.identities.models import CertificateChange
from vault.identities.sign_in import SignedIn
from vault.text import check_text

router = APIRouter(include_in_schema=False)

MAX_CSV_BYTES = 2_000_000
CHANGE_NAMES: dict[str, str] = {
    CertificateChange.ISSUED: N_("Issued"), CertificateChange.SUSPENDED: N_("Suspended"),
    CertificateChange.REINSTATED: N_("Reinstated"), CertificateChange.REVOKED: N_("Certificate revoked"),
    CertificateChange.RENEWED: N_("Renewed"), CertificateChange.CORRECTED: N_("Corrected"),
}
STATUS_NAMES: dict[str, str] = {"valid": N_("Valid"), "suspended": N_("Suspended"),
                                "revoked": N_("Certificate revoked")}
JOB_STATES: dict[str, str] = {"ok": N_("OK"), "running": N_("Running"), "failed": N_("Failed"),
                              "overdue": N_("Overdue"), "never": N_("Never run")}
OUTCOME_NAMES: dict[str, str] = {"running": N_("Running"), "succeeded": N_("Succeeded"), "failed": N_("Failed"),
                                 "abandoned": N_("Abandoned: its worker stopped, the run was taken over")}
LABELS = {"change_names": CHANGE_NAMES, "status_names": STATUS_NAMES}



def _handlers_page(request: Request, person: SignedIn, session: Session, *, status_code: int = 200,
                   **values: Any) -> Response:
    handlers = overview.handler_registry(session=session, actor=person.actor)
    return render_page(request, "admin/handlers.html", status_code=status_code, person=person, handlers=handlers,
                       **LABELS, **({"error": None, "imported": None} | values))


@router.get("/admin/handlers")
def handlers(request: Request, person: SignedInDep, session: SessionDep, imported: int | None = None) -> Response:
    """List the registered handlers and their certificates, with the CSV import."""
    return _handlers_page(request, person, session, imported=imported)


@router.get("/admin/handlers/sample.csv")
def sample_csv(person: SignedInDep) -> Response:
    """Download the sample CSV: the columns the import reads, with two example rows."""
    return Response(overview.handler_csv_sample(actor=person.actor), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="handlers-sample.csv"'})


async def _csv_text(upload: UploadFile) -> str:
    data = await upload.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise InvalidInput("CSV 文件过大 (the CSV file is larger than 2 MB)")
    try:
        return check_text(data.decode("utf-8"))
    except ValueError:  # not UTF-8, or text the catalog cannot keep (a NUL)
        raise InvalidInput("CSV 文件须为 UTF-8 文本 (the CSV file must be UTF-8 text)") from None


@router.post("/admin/handlers/import")
async def import_csv(request: Request, person: CsrfDep, session: SessionDep, csv_file: UploadFile) -> Response:
    """Import handlers from a CSV file: every row is checked first, and one bad row refuses the whole file."""
    try:
        text = await _csv_text(csv_file)
        added = service.import_handlers_csv(session=session, actor=person.actor, text=text)
    except VaultError as error:
        return _handlers_page(request, person, session, status_code=error.status, error=end_refused(session, error))
    session.commit()
    return RedirectResponse(f"/admin/handlers?imported={len(added)}", status_code=303)


def _handler_page(request: Request, person: SignedIn, session: Session, number: str, *, status_code: int = 200,
                  **values: Any) -> Response:
    handler = overview.registry_handler(session=session, actor=person.actor, certificate_number=number)
    return render_page(request, "admin/handler.html", status_code=status_code, person=person, handler=handler,
                       kinds=[kind for kind in CertificateChange if kind != CertificateChange.ISSUED],
                       **LABELS, **({"error": None, "done": None, "chosen": {}} | values))


@router.get("/admin/handlers/{number}")
def handler(request: Request, number: str, person: SignedInDep, session: SessionDep,
            done: str | None = None) -> Response:
    """Show one handler's certificate and its dated history, with the form to record a change."""
    return _handler_page(request, person, session, number, done=done)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value.strip() else None
    except ValueError:
        raise InvalidInput("日期格式应为 YYYY-MM-DD (dates are YYYY-MM-DD)") from None


@router.post("/admin/handlers/{number}/changes")
def change_certificate(
    request: Request, number: str, person: CsrfDep, session: SessionDep, context: ContextDep, now: NowDep,
    kind: Annotated[CertificateChange, Form()], effective_on: Annotated[str, Form(max_length=10)],
    reason: Annotated[str, Form(max_length=2000)], valid_from: Annotated[str, Form(max_length=10)] = "",
    valid_until: Annotated[str, Form(max_length=10)] = "", voids: Annotated[str, Form(max_length=36)] = "",
) -> Response:
    """Record a suspension, reinstatement, revocation, renewal or correction, with its reason."""
    try:
        found = overview.registry_handler(session=session, actor=person.actor, certificate_number=number)
        change = certificates.CertificateChangeInput(
            kind=kind, effective_on=_day(effective_on) or now.astimezone(context.settings.zone).date(), reason=reason,
            valid_from=_day(valid_from), valid_until=_day(valid_until), voids=_voids(voids))
        certificates.change_certificate(session=session, actor=person.actor, handler=found, change=change, now=now)
    except VaultError as error:
        chosen = {"kind": kind.value, "effective_on": effective_on, "reason": reason, "valid_from": valid_from,
                  "valid_until": valid_until, "voids": voids}
        return _handler_page(request, person, session, number, status_code=error.status,
                             error=end_refused(session, error), chosen=chosen)
    session.commit()
    return RedirectResponse(f"/admin/handlers/{quote(number, safe='')}?done={kind.value}", status_code=303)


def _voids(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value.strip() else None
    except ValueError:
        raise InvalidInput("更正所指记录编号格式不正确 (the entry to void is not a history entry ID)") from None


@router.get("/admin/jobs")
def jobs(request: Request, person: SignedInDep, session: SessionDep, context: ContextDep) -> Response:
    """Show every scheduled job: its schedule, its last run and whether it failed or is overdue."""
    require(person.actor, Permission.MANAGE_USERS)  # an admin page; auditors read the same at GET /api/jobs
    statuses = list_job_status(session=session, actor=person.actor, jobs=default_jobs(), now=utcnow(),
                               zone=context.settings.zone)
    summaries = {s.name: json.dumps(s.last.summary, ensure_ascii=False, indent=2, sort_keys=True)
                 for s in statuses if s.last is not None and s.last.summary}
    return render_page(request, "admin/jobs.html", person=person, jobs=statuses, summaries=summaries,
                       job_states=JOB_STATES, outcome_names=OUTCOME_NAMES)


@router.get("/admin/health")
def health(request: Request, person: SignedInDep, session: SessionDep, context: ContextDep) -> Response:
    """Show whether the catalog database, the store and the custody log are healthy, and the schema's state."""
    report = health_report(context=context, session=session, actor=person.actor)
    return render_page(request, "admin/health.html", person=person, report=report,
                       migrations=migration_state(session))
