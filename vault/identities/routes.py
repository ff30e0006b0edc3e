"""HTTP routes for users, tokens and the handler registry."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from vault.api.deps import ActorDep, ContextDep, SessionDep
from vault.api.errors import SIGNED_IN, error_responses
from vault.db import utcnow
from vault.identities import certificates, overview, service
from vault.identities.schemas import (
    CertificateChangeCreate,
    CertificateChangePublic,
    HandlerCreate,
    HandlerDetail,
    HandlerPublic,
    HandlerUpdate,
    PasswordSet,
    TokenCreate,
    TokenIssued,
    TokenPublic,
    UserCreate,
    UserDisable,
    UserHandlerLink,
    UserPublic,
    UserRoleChange,
)
from vault.identities.sign_in import set_password
from vault.text import Code, Document, Name

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


@router.get("/me/tokens", response_model=list[TokenPublic])
def list_my_tokens(session: SessionDep, actor: ActorDep) -> list[TokenPublic]:
    """List the signed-in user's API tokens (never their secrets)."""
    user = service.get_user(session=session, name=actor.name)
    return [TokenPublic.model_validate(t) for t in service.list_tokens(session=session, actor=actor, user=user)]


@router.get("/users/{name}/tokens", response_model=list[TokenPublic], responses=error_responses(404))
def list_user_tokens(name: Name, session: SessionDep, actor: ActorDep) -> list[TokenPublic]:
    """List a user's API tokens (admin, or the user themselves)."""
    user = service.get_user(session=session, name=name)
    return [TokenPublic.model_validate(t) for t in service.list_tokens(session=session, actor=actor, user=user)]


@router.post("/tokens/{token_id}/revoke", response_model=TokenPublic, responses=error_responses(404, 409))
def revoke_token(token_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> TokenPublic:
    """Revoke an API token (one's own, or anyone's for an admin); it stops working at once."""
    token = service.revoke_token(session=session, actor=actor, token_id=token_id, now=utcnow())
    session.commit()
    return TokenPublic.model_validate(token)


@router.post("/users/{name}/disable", response_model=UserPublic, responses=error_responses(404, 409))
def disable_user(name: Name, session: SessionDep, actor: ActorDep, body: UserDisable | None = None) -> UserPublic:
    """Disable a user (admin): their tokens are revoked and sign-in refused, at once."""
    user = service.get_user(session=session, name=name)
    reason = body.reason if body else ""
    service.set_user_active(session=session, actor=actor, user=user, active=False, reason=reason, now=utcnow())
    session.commit()
    return UserPublic.model_validate(user)


@router.post("/users/{name}/enable", response_model=UserPublic, responses=error_responses(404, 409))
def enable_user(name: Name, session: SessionDep, actor: ActorDep, body: UserDisable | None = None) -> UserPublic:
    """Enable a disabled user again (admin); they need a new token."""
    user = service.get_user(session=session, name=name)
    reason = body.reason if body else ""
    service.set_user_active(session=session, actor=actor, user=user, active=True, reason=reason, now=utcnow())
    session.commit()
    return UserPublic.model_validate(user)


@router.post("/users/{name}/password", status_code=204, responses=error_responses(404))
def set_user_password(name: Name, body: PasswordSet, session: SessionDep, actor: ActorDep) -> None:
    """Set one's own web sign-in password, or reset anyone's (admin); a reset also lifts a lockout."""
    user = service.get_user(session=session, name=name)
    set_password(session=session, actor=actor, user=user, password=body.password, now=utcnow())
    session.commit()


@router.post("/users/{name}/role", response_model=UserPublic, responses=error_responses(404, 409))
def change_role(name: Name, body: UserRoleChange, session: SessionDep, actor: ActorDep) -> UserPublic:
    """Change a user's role (admin; not one's own, and never the last admin's)."""
    user = service.get_user(session=session, name=name)
    service.change_user_role(session=session, actor=actor, user=user, role=body.role, reason=body.reason,
                             now=utcnow())
    session.commit()
    return UserPublic.model_validate(user)


@router.post("/users/{name}/handler", response_model=UserPublic, responses=error_responses(404))
def link_handler(name: Name, body: UserHandlerLink, session: SessionDep, actor: ActorDep) -> UserPublic:
    """Link a user to the registered handler holding a certificate (admin)."""
    user = service.get_user(session=session, name=name)
    user = service.link_user_to_handler(session=session, actor=actor, user=user,
                                        certificate_number=body.certificate_number)
    session.commit()
    return UserPublic.model_validate(user)


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


@router.get("/handlers/sample", response_model=None,
            responses={200: {"content": {"text/csv": {}}, "description": "the sample CSV"}})
def handler_sample(actor: ActorDep) -> Response:
    """Return a sample CSV for the import: its header and two example rows (the same as `evault handlers sample`)."""
    return Response(overview.handler_csv_sample(actor=actor), media_type="text/csv; charset=utf-8")


@router.get("/handlers/{certificate_number}", response_model=HandlerDetail, responses=error_responses(404))
def get_handler(
    certificate_number: Code,
    session: SessionDep,
    actor: ActorDep,
    context: ContextDep,
    on: Annotated[date | None, Query(description="day to judge validity on (default: today)")] = None,
) -> HandlerDetail:
    """Show a handler, their certificate's history, and whether it was valid on a day."""
    handler = service.find_handler(session=session, certificate_number=certificate_number)
    day = on or utcnow().astimezone(context.settings.zone).date()
    state = certificates.certificate_state(handler, day)
    return HandlerDetail(
        **HandlerPublic.model_validate(handler).model_dump(), on=day, valid_on=bool(state and state.valid_on(day)),
        status_on=state.status if state else None,
        valid_from_on=state.valid_from if state else None, valid_until_on=state.valid_until if state else None,
        history=[CertificateChangePublic.model_validate(e) for e in handler.certificate_changes],
    )


@router.patch("/handlers/{certificate_number}", response_model=HandlerPublic, responses=error_responses(404))
def update_handler(
    certificate_number: Code, body: HandlerUpdate, session: SessionDep, actor: ActorDep
) -> HandlerPublic:
    """Correct a handler's name, unit or category (admin); never the certificate's validity history."""
    handler = service.find_handler(session=session, certificate_number=certificate_number)
    changes = service.HandlerChanges(**body.model_dump(exclude_unset=True))
    handler = service.update_handler(session=session, actor=actor, handler=handler, changes=changes)
    session.commit()
    return HandlerPublic.model_validate(handler)


@router.post("/handlers/{certificate_number}/changes", response_model=CertificateChangePublic, status_code=201,
             responses=error_responses(404, 409))
def change_certificate(
    certificate_number: Code, body: CertificateChangeCreate, session: SessionDep, actor: ActorDep
) -> CertificateChangePublic:
    """Record a suspension, reinstatement, revocation, renewal or correction of a certificate (admin)."""
    handler = service.find_handler(session=session, certificate_number=certificate_number)
    change = certificates.CertificateChangeInput(**body.model_dump())
    event = certificates.change_certificate(session=session, actor=actor, handler=handler, change=change,
                                            now=utcnow())
    session.commit()
    return CertificateChangePublic.model_validate(event)
