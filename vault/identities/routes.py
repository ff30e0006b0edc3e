"""HTTP routes for users, tokens and the handler registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from vault.api.deps import ActorDep, SessionDep
from vault.api.errors import SIGNED_IN, error_responses
from vault.identities import service
from vault.identities.schemas import (
    HandlerCreate,
    HandlerPublic,
    TokenCreate,
    TokenIssued,
    UserCreate,
    UserPublic,
)
from vault.text import Document, Name

router = APIRouter(prefix="/api", tags=["identities"], responses=SIGNED_IN)


@router.get("/me", response_model=UserPublic)
def me(session: SessionDep, actor: ActorDep) -> UserPublic:
    """Return the signed-in user."""
    return UserPublic.model_validate(service.get_user(session=session, name=actor.name))


@router.get("/users", response_model=list[UserPublic])
def list_users(session: SessionDep, actor: ActorDep) -> list[UserPublic]:
    """List users (admin)."""
    return [UserPublic.model_validate(u) for u in service.list_users(session=session, actor=actor)]


@router.post("/users", response_model=UserPublic, status_code=201, responses=error_responses(404, 409))
def create_user(body: UserCreate, session: SessionDep, actor: ActorDep) -> UserPublic:
    """Create a user (admin)."""
    user = service.create_user(
        session=session,
        actor=actor,
        name=body.name,
        role=body.role,
        display_name=body.display_name,
        handler_certificate=body.handler_certificate,
    )
    session.commit()
    return UserPublic.model_validate(user)


@router.post("/users/{name}/tokens", response_model=TokenIssued, status_code=201, responses=error_responses(404))
def create_token(name: Name, body: TokenCreate, session: SessionDep, actor: ActorDep) -> TokenIssued:
    """Issue an API token for a user; the secret is returned once."""
    user = service.get_user(session=session, name=name)
    secret = service.issue_token(session=session, actor=actor, user=user, label=body.label)
    session.commit()
    return TokenIssued(token=secret)


@router.get("/handlers", response_model=list[HandlerPublic])
def list_handlers(session: SessionDep, actor: ActorDep) -> list[HandlerPublic]:
    """List registered handlers."""
    return [HandlerPublic.model_validate(h) for h in service.list_handlers(session=session)]


@router.post("/handlers", response_model=HandlerPublic, status_code=201, responses=error_responses(409))
def add_handler(body: HandlerCreate, session: SessionDep, actor: ActorDep) -> HandlerPublic:
    """Register a handler and their certificate (admin)."""
    data = service.parse_handler({k: str(v.value if hasattr(v, "value") else v) for k, v in body.model_dump().items()})
    handler = service.add_handler(session=session, actor=actor, data=data)
    session.commit()
    return HandlerPublic.model_validate(handler)


@router.post("/handlers/import", response_model=list[HandlerPublic], status_code=201, responses=error_responses(409))
def import_handlers(
    session: SessionDep, actor: ActorDep, csv_text: Annotated[Document, Body(media_type="text/csv")]
) -> list[HandlerPublic]:
    """Import handlers from CSV (certificate_number,name,unit,category,valid_from,valid_until,status)."""
    handlers = service.import_handlers_csv(session=session, actor=actor, text=csv_text)
    session.commit()
    return [HandlerPublic.model_validate(h) for h in handlers]
