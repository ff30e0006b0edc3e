"""The two-person queues: disposal requests (with their recovery window and certificate) and reclassifications."""

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
from evault.web.templating import render_page
from evault.web.vocabulary import RETENTION_CLASS_NAMES
from retention import disposition, reclassification, recovery
from retention.models import DisposalStatus, RetentionClass
from retention.report import disposal_queue, reclassification_queue
from vault.api.deps import ContextDep, SessionDep
from vault.errors import InvalidInput, VaultError
from vault.identities.authz import Permission, has_permission
from vault.identities.sign_in import SignedIn

router = APIRouter(include_in_schema=False)




def abilities(person: SignedIn) -> dict[str, bool]:
    """Return which buttons to show (the services decide; this only spares people buttons that would refuse)."""
    return {"may_manage": has_permission(person.actor, Permission.MANAGE_RETENTION),
            "may_approve": has_permission(person.actor, Permission.APPROVE_DISPOSITION)}


def _queues(request: Request, person: SignedIn, session: Session, now: datetime, *, error: str | None = None,
            status_code: int = 200, done: str | None = None) -> Response:
    actor = person.actor
    return render_page(
        request, "retention/queues.html", status_code=status_code, person=person, now=now, error=error, done=done,
        pending=disposal_queue(session=session, actor=actor, statuses=(DisposalStatus.PENDING,)),
        windows=disposal_queue(session=session, actor=actor, statuses=(DisposalStatus.PENDING_DESTRUCTION,)),
        executed=disposal_queue(session=session, actor=actor, statuses=(DisposalStatus.EXECUTED,),
                                newest_first=True, limit=50),
        closed=disposal_queue(session=session, actor=actor, newest_first=True, limit=50,
                              statuses=(DisposalStatus.CANCELLED, DisposalStatus.REJECTED)),
        shortenings=reclassification_queue(session=session, actor=actor),
        class_names=RETENTION_CLASS_NAMES, **abilities(person))


@router.get("/retention/queues")
def queues(request: Request, person: SignedInDep, session: SessionDep, now: NowDep,
           done: str | None = None) -> Response:
    """Show disposal and reclassification requests waiting for a second person, and the recovery windows."""
    return _queues(request, person, session, now, done=done)


def _decided(request: Request, person: SignedIn, session: SessionDep, now: datetime, done: str,
             decide: Any) -> Response:
    """Run one decision; commit and go back to the queues, or show the service's refusal on them."""
    try:
        decide()
    except VaultError as error:
        return _queues(request, person, session, now, error=end_refused(session, error), status_code=error.status)
    session.commit()
    return RedirectResponse(f"/retention/queues?done={done}", status_code=303)


@router.post("/retention/disposals/{request_id}/approve")
def approve_disposal(request: Request, request_id: uuid.UUID, person: CsrfDep, session: SessionDep,
                     context: ContextDep, now: NowDep) -> Response:
    """Approve a disposal (a second person): it waits out the recovery window before it is carried out."""
    return _decided(request, person, session, now, "approved", lambda: disposition.approve_disposal(
        session=session, actor=person.actor, request_id=request_id, now=now, store=context.store,
        signer=context.signer, recovery_days=context.settings.disposal_recovery_days, zone=context.settings.zone))


@router.post("/retention/disposals/{request_id}/cancel")
def cancel_disposal(request: Request, request_id: uuid.UUID, person: CsrfDep, session: SessionDep, now: NowDep,
                    reason: Annotated[str, Form(max_length=4000)] = "") -> Response:
    """Cancel a disposal not carried out yet, with a reason: the record is kept."""
    return _decided(request, person, session, now, "cancelled", lambda: recovery.cancel_disposal(
        session=session, actor=person.actor, request_id=request_id, reason=reason, now=now))


@router.post("/retention/reclassifications")
def request_reclassification(
    request: Request, person: CsrfDep, session: SessionDep, context: ContextDep, now: NowDep,
    evidence_id: Annotated[str, Form(max_length=64)], to_class: Annotated[RetentionClass, Form()],
    reason: Annotated[str, Form(max_length=4000)],
) -> Response:
    """Reclassify a record: a longer retention applies at once, a shorter one waits here for a second person."""
    def decide() -> None:
        try:
            record = uuid.UUID(evidence_id.strip())
        except ValueError:
            raise InvalidInput("记录编号格式不正确 (record IDs are UUIDs)") from None
        if not reason.strip():
            raise InvalidInput("请填写理由 (a reclassification needs a reason)")
        reclassification.request_reclassification(
            session=session, actor=person.actor, evidence_id=record, to_class=to_class, reason=reason.strip(),
            now=now, store=context.store, zone=context.settings.zone)

    return _decided(request, person, session, now, "reclassified", decide)


@router.post("/retention/reclassifications/{request_id}/approve")
def approve_reclassification(request: Request, request_id: uuid.UUID, person: CsrfDep, session: SessionDep,
                             context: ContextDep, now: NowDep) -> Response:
    """Approve a shortening of a retention (a second person)."""
    return _decided(request, person, session, now, "approved", lambda: reclassification.approve_reclassification(
        session=session, actor=person.actor, request_id=request_id, now=now, store=context.store,
        zone=context.settings.zone))


@router.post("/retention/reclassifications/{request_id}/reject")
def reject_reclassification(request: Request, request_id: uuid.UUID, person: CsrfDep, session: SessionDep,
                            now: NowDep, reason: Annotated[str, Form(max_length=4000)] = "") -> Response:
    """Reject (or withdraw) a pending shortening; the retention stays as it is."""
    return _decided(request, person, session, now, "rejected", lambda: reclassification.reject_reclassification(
        session=session, actor=person.actor, request_id=request_id, reason=reason, now=now))


@router.get("/retention/certificates/{evidence_id}")
def certificate(request: Request, evidence_id: uuid.UUID, person: SignedInDep, session: SessionDep,
                context: ContextDep) -> Response:
    """Show the signed disposal certificate (销毁清册) of a destroyed record."""
    found = disposition.get_certificate(session=session, actor=person.actor, evidence_id=evidence_id)
    return render_page(request, "retention/certificate.html", person=person, certificate=found,
                       body=disposition.certificate_body(found),
                       verified=found.key_id in context.anchors.public_keys
                       and disposition.verify_certificate(found, context.anchors.public_keys[found.key_id]),
                       class_names=RETENTION_CLASS_NAMES)
