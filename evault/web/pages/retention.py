"""The retention dashboard and legal holds; the two-person queues are in retention_queues.py, mounted here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from evault.web.auth import CsrfDep, SignedInDep
from evault.web.clock import NowDep
from evault.web.forms import end_refused
from evault.web.pages import retention_queues
from evault.web.pages.retention_queues import abilities
from evault.web.templating import render_page
from retention import holds
from retention.disposition import propose_disposal
from retention.models import DisposalStatus
from retention.report import build_report, disposal_queue, list_archiving_deadlines, reclassification_queue
from vault.api.deps import ContextDep, SessionDep
from vault.cases.service import lookup_case
from vault.errors import InvalidInput, VaultError
from vault.identities.sign_in import SignedIn

router = APIRouter(include_in_schema=False)
router.include_router(retention_queues.router)


def _dashboard(request: Request, person: SignedIn, session: Session, context: Any, now: datetime, *,
               error: str | None = None, status_code: int = 200, done: str | None = None) -> Response:
    zone = context.settings.zone
    report = build_report(session=session, actor=person.actor, now=now, zone=zone)
    waiting = [line for line in disposal_queue(session=session, actor=person.actor,
                                               statuses=(DisposalStatus.PENDING,))
               if line.request.proposed_by_id != person.actor.id]
    shortenings = [line for line in reclassification_queue(session=session, actor=person.actor)
                   if line.request.requested_by_id != person.actor.id]
    return render_page(
        request, "retention/dashboard.html", status_code=status_code, person=person, now=now, report=report,
        deadlines=list_archiving_deadlines(session=session, actor=person.actor, now=now, zone=zone),
        waiting=waiting, shortenings=shortenings, error=error, done=done, **abilities(person))


@router.get("/retention")
def dashboard(request: Request, person: SignedInDep, session: SessionDep, context: ContextDep, now: NowDep,
              done: str | None = None) -> Response:
    """Show what is due, coming due, held, overdue for archiving and failed fixity, and what waits for approval."""
    return _dashboard(request, person, session, context, now, done=done)


@router.post("/retention/disposals")
def propose(request: Request, person: CsrfDep, session: SessionDep, context: ContextDep, now: NowDep,
            evidence_id: Annotated[uuid.UUID, Form()], reason: Annotated[str, Form(max_length=4000)]) -> Response:
    """Propose destroying a due record; a refusal (logged by the service) is shown on the dashboard."""
    try:
        if not reason.strip():
            raise InvalidInput("请填写销毁理由 (a disposal proposal needs a reason)")
        propose_disposal(session=session, actor=person.actor, evidence_id=evidence_id, reason=reason.strip(),
                         now=now, store=context.store, zone=context.settings.zone)
    except VaultError as error:
        return _dashboard(request, person, session, context, now, error=end_refused(session, error),
                          status_code=error.status)
    session.commit()
    return RedirectResponse("/retention/queues?done=proposed", status_code=303)


def _holds_page(request: Request, person: SignedIn, session: Session, *, error: str | None = None,
                status_code: int = 200, done: str | None = None, chosen: dict[str, str] | None = None) -> Response:
    lines = holds.hold_lines(session=session, actor=person.actor)
    return render_page(
        request, "retention/holds.html", status_code=status_code, person=person, error=error, done=done,
        active=[line for line in lines if line.hold.released_at is None],
        released=[line for line in lines if line.hold.released_at is not None], chosen=chosen or {},
        **abilities(person))


@router.get("/retention/holds")
def holds_page(request: Request, person: SignedInDep, session: SessionDep, done: str | None = None,
               evidence: uuid.UUID | None = None, case: str | None = None) -> Response:
    """List active and released legal holds, with the form to place one (?evidence= or ?case= fills it)."""
    chosen = {"scope": "case", "target": case} if case else {"scope": "record", "target": str(evidence or "")}
    return _holds_page(request, person, session, done=done, chosen=chosen)


def _hold_target(session: Session, person: SignedIn, scope: str, target: str) -> dict[str, uuid.UUID]:
    if scope == "case":
        return {"case_id": lookup_case(session=session, actor=person.actor, case_number=target.strip()).id}
    try:
        return {"evidence_id": uuid.UUID(target.strip())}
    except ValueError:
        raise InvalidInput("记录编号格式不正确 (record IDs are UUIDs)") from None


@router.post("/retention/holds")
def place(request: Request, person: CsrfDep, session: SessionDep, context: ContextDep, now: NowDep,
          target: Annotated[str, Form(max_length=200)], reason: Annotated[str, Form(max_length=4000)],
          scope: Annotated[str, Form(max_length=16)] = "record") -> Response:
    """Place a legal hold on a record or a whole case, with its reason."""
    try:
        holds.place_hold(session=session, actor=person.actor, reason=reason, now=now, store=context.store,
                         zone=context.settings.zone, **_hold_target(session, person, scope, target))
    except VaultError as error:
        return _holds_page(request, person, session, error=end_refused(session, error), status_code=error.status,
                           chosen={"scope": scope, "target": target, "reason": reason})
    session.commit()
    return RedirectResponse("/retention/holds?done=placed", status_code=303)


@router.post("/retention/holds/{hold_id}/release")
def release(request: Request, hold_id: uuid.UUID, person: CsrfDep, session: SessionDep, context: ContextDep,
            now: NowDep, reason: Annotated[str, Form(max_length=4000)] = "") -> Response:
    """Release a legal hold, with its reason."""
    try:
        holds.release_hold(session=session, actor=person.actor, hold_id=hold_id, reason=reason, now=now,
                           store=context.store, zone=context.settings.zone)
    except VaultError as error:
        return _holds_page(request, person, session, error=end_refused(session, error), status_code=error.status)
    session.commit()
    return RedirectResponse("/retention/holds?done=released", status_code=303)
