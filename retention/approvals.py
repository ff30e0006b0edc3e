"""The two-person rule shared by every retention request that shortens something: look up, decide, refuse."""

from __future__ import annotations

import uuid
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from retention.errors import RequestNotPending, SecondPersonRequired
from retention.models import RequestStatus
from vault.errors import NotFound
from vault.identities.actor import Actor
from vault.identities.authz import Permission, has_permission, require


class _Request(Protocol):
    status: RequestStatus


RequestT = TypeVar("RequestT", bound=_Request)


def pending_request(session: Session, model: type[RequestT], request_id: uuid.UUID, label: str) -> RequestT:
    """Return a request still waiting for a decision; NotFound or RequestNotPending otherwise."""
    request = session.get(model, request_id)
    if request is None:
        raise NotFound(f"no {label} {request_id}")
    if request.status != RequestStatus.PENDING:
        raise RequestNotPending(f"{label} {request_id} is already {request.status.value}")
    return request


def require_decider(actor: Actor) -> None:
    """Refuse anyone who may neither manage retention nor approve dispositions."""
    if not has_permission(actor, Permission.MANAGE_RETENTION):
        require(actor, Permission.APPROVE_DISPOSITION)


def require_second_person(actor: Actor, requested_by_id: uuid.UUID | None, what: str) -> None:
    """Refuse a decider who is the requester (or no person at all)."""
    require_decider(actor)
    if actor.id is None or actor.id == requested_by_id:
        raise SecondPersonRequired(f"{what} must be approved by a second person, not the one who asked for it")
