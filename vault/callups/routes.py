"""HTTP routes for call-ups (调阅): register, list, read, fulfil with exports, and the overdue report."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from vault.api.deps import ActorDep, ContextDep, SessionDep
from vault.api.errors import SIGNED_IN, error_responses
from vault.callups import service
from vault.callups.schemas import CallUpCreate, CallUpFulfil, CallUpPublic
from vault.db import utcnow

router = APIRouter(prefix="/api/callups", tags=["callups"], responses=SIGNED_IN)


@router.post("", response_model=CallUpPublic, status_code=201, responses=error_responses(404, 409))
def register_callup(body: CallUpCreate, session: SessionDep, actor: ActorDep, context: ContextDep) -> CallUpPublic:
    """Register a call-up notice (调阅) with its due date, 5 working days from receipt (001 备案规定 第十五条)."""
    notice = service.CallUpInput(body.department, body.document_number, body.case_numbers, body.received_on,
                                 body.evidence_ids, body.note)
    view = service.register_callup(session=session, actor=actor, notice=notice, now=utcnow(),
                                   working_days=context.settings.callup_working_days, zone=context.settings.zone)
    session.commit()
    return CallUpPublic.of(view)


@router.get("", response_model=list[CallUpPublic])
def list_callups(
    session: SessionDep, actor: ActorDep, context: ContextDep, state: service.CallUpState | None = None
) -> list[CallUpPublic]:
    """List call-ups by due date; `state=overdue` is the overdue report."""
    views = service.list_callups(session=session, actor=actor, now=utcnow(), zone=context.settings.zone, state=state)
    return [CallUpPublic.of(v) for v in views]


@router.get("/overdue", response_model=list[CallUpPublic])
def overdue_callups(session: SessionDep, actor: ActorDep, context: ContextDep) -> list[CallUpPublic]:
    """Report the open call-ups past their due date, with how many working days late."""
    return list_callups(session, actor, context, service.CallUpState.OVERDUE)


@router.get("/{callup_id}", response_model=CallUpPublic, responses=error_responses(404))
def get_callup(callup_id: uuid.UUID, session: SessionDep, actor: ActorDep, context: ContextDep) -> CallUpPublic:
    """Return one call-up and where it stands."""
    view = service.get_callup(session=session, actor=actor, callup_id=callup_id, now=utcnow(),
                              zone=context.settings.zone)
    return CallUpPublic.of(view)


@router.post("/{callup_id}/fulfil", response_model=CallUpPublic, responses=error_responses(404, 409))
def fulfil_callup(
    callup_id: uuid.UUID, body: CallUpFulfil, session: SessionDep, actor: ActorDep, context: ContextDep
) -> CallUpPublic:
    """Mark a call-up fulfilled by filing-review export(s) holding every record it asks for."""
    view = service.fulfil_callup(session=session, actor=actor, callup_id=callup_id, export_ids=body.export_ids,
                                 now=utcnow(), zone=context.settings.zone)
    session.commit()
    return CallUpPublic.of(view)
