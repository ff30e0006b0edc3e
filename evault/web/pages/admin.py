"""Administration: users, tokens, handler certificates, scheduled jobs, and the health of the catalog and store.

This module holds the users and their tokens; admin_system.py the handlers, jobs and health pages (its router is
included here, so mounting this one mounts both).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from evault.web.auth import CsrfDep, SignedInDep
from evault.web.forms import end_refused
from evault.web.i18n import N_
from evault.web.pages import admin_system
from evault.web.templating import render_page
from vault.api.deps import SessionDep
from vault.db import utcnow
from vault.errors import InvalidInput, VaultError
from vault.identities import overview, service
from vault.identities.models import Role
from vault.identities.sign_in import SignedIn, set_password

router = APIRouter(include_in_schema=False)
router.include_router(admin_system.router)

NOTICES: dict[str, str] = {
    "created": N_("The user was created and can sign in with the password you set."),
    "role": N_("The role was changed; it applies from the user's next page."),
    "disabled": N_("The user was disabled: their sessions and tokens stopped working at once."),
    "enabled": N_("The user was enabled again; they need a new token for the API."),
    "password": N_("The password was reset and any lockout lifted."),
    "revoked": N_("The token was revoked; it stops working at once."),
    "linked": N_("The user is now linked to the handler certificate."),
}
Text = Annotated[str, Form(max_length=2000)]



def _users_page(request: Request, person: SignedIn, session: Session, *, status_code: int = 200,
                **values: Any) -> Response:
    users = overview.list_user_overviews(session=session, actor=person.actor, now=utcnow())
    return render_page(request, "admin/users.html", status_code=status_code, person=person, users=users,
                       roles=list(Role), notices=NOTICES, **({"error": None, "done": None, "chosen": {}} | values))


def _user_page(request: Request, person: SignedIn, session: Session, name: str, *, status_code: int = 200,
               **values: Any) -> Response:
    now = utcnow()
    seen = overview.user_overview(session=session, actor=person.actor, name=name, now=now)
    tokens = overview.user_tokens(session=session, actor=person.actor, user=seen.user, now=now)
    return render_page(request, "admin/user.html", status_code=status_code, person=person, seen=seen,
                       tokens=tokens, roles=list(Role), notices=NOTICES,
                       **({"error": None, "done": None, "secret": None} | values))


def _same_password(password: str, again: str) -> str:
    if password != again:
        raise InvalidInput("两次输入的密码不一致 (the two passwords differ)")
    return password


@router.get("/admin/users")
def users(request: Request, person: SignedInDep, session: SessionDep, done: str | None = None) -> Response:
    """List every user with their role, state, last sign-in and handler certificate, and a form to add one."""
    return _users_page(request, person, session, done=done)


@router.post("/admin/users")
def create_user(
    request: Request, person: CsrfDep, session: SessionDep, name: Annotated[str, Form(max_length=128)],
    role: Annotated[Role, Form()], password: Text, password_again: Text,
    display_name: Annotated[str, Form(max_length=128)] = "",
    handler_certificate: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Create a user with a role and an initial password (typed twice)."""
    try:
        _same_password(password, password_again)
        user = service.create_user(session=session, actor=person.actor, name=name, role=role,
                                   display_name=display_name.strip(),
                                   handler_certificate=handler_certificate.strip() or None)
        set_password(session=session, actor=person.actor, user=user, password=password, now=utcnow())
    except VaultError as error:
        chosen = {"name": name, "display_name": display_name, "role": role.value,
                  "handler_certificate": handler_certificate}
        return _users_page(request, person, session, status_code=error.status, error=end_refused(session, error),
                           chosen=chosen)
    session.commit()
    return RedirectResponse(f"/admin/users/{quote(user.name, safe='')}?done=created", status_code=303)


def _change(request: Request, person: SignedIn, session: Session, name: str, done: str, back: str,
            change: Any) -> Response:
    """Apply one change to a user; go back to the list or their page, or show the refusal there."""
    try:
        change(service.get_user(session=session, name=name))
    except VaultError as error:
        message = end_refused(session, error)
        if back == "user":
            return _user_page(request, person, session, name, status_code=error.status, error=message)
        return _users_page(request, person, session, status_code=error.status, error=message)
    session.commit()
    return RedirectResponse(f"/admin/users/{quote(name, safe='')}?done={done}" if back == "user"
                            else f"/admin/users?done={done}", status_code=303)


@router.post("/admin/users/{name}/role")
def change_role(request: Request, name: str, person: CsrfDep, session: SessionDep, role: Annotated[Role, Form()],
                reason: Text = "", back: Annotated[str, Form(max_length=8)] = "list") -> Response:
    """Give a user another role, with a reason."""
    return _change(request, person, session, name, "role", back, lambda user: service.change_user_role(
        session=session, actor=person.actor, user=user, role=role, reason=reason, now=utcnow()))


@router.post("/admin/users/{name}/disable")
def disable(request: Request, name: str, person: CsrfDep, session: SessionDep, reason: Text = "",
            back: Annotated[str, Form(max_length=8)] = "list") -> Response:
    """Disable a user: their browser sessions and tokens stop working at once."""
    return _change(request, person, session, name, "disabled", back, lambda user: service.set_user_active(
        session=session, actor=person.actor, user=user, active=False, reason=reason, now=utcnow()))


@router.post("/admin/users/{name}/enable")
def enable(request: Request, name: str, person: CsrfDep, session: SessionDep, reason: Text = "",
           back: Annotated[str, Form(max_length=8)] = "list") -> Response:
    """Enable a disabled user again."""
    return _change(request, person, session, name, "enabled", back, lambda user: service.set_user_active(
        session=session, actor=person.actor, user=user, active=True, reason=reason, now=utcnow()))


@router.post("/admin/users/{name}/password")
def reset_password(request: Request, name: str, person: CsrfDep, session: SessionDep, password: Text,
                   password_again: Text, back: Annotated[str, Form(max_length=8)] = "user") -> Response:
    """Reset a user's password (typed twice); this also lifts a lockout."""
    return _change(request, person, session, name, "password", back, lambda user: set_password(
        session=session, actor=person.actor, user=user, password=_same_password(password, password_again),
        now=utcnow()))


@router.post("/admin/users/{name}/handler")
def link_handler(request: Request, name: str, person: CsrfDep, session: SessionDep,
                 certificate_number: Annotated[str, Form(max_length=64)]) -> Response:
    """Link a user to the registered handler holding a certificate (执法证号)."""
    return _change(request, person, session, name, "linked", "user", lambda user: service.link_user_to_handler(
        session=session, actor=person.actor, user=user, certificate_number=certificate_number.strip()))


@router.get("/admin/users/{name}")
def user(request: Request, name: str, person: SignedInDep, session: SessionDep, done: str | None = None) -> Response:
    """Show one user: their account, handler certificate and API tokens, with the forms to change them."""
    return _user_page(request, person, session, name, done=done)


@router.post("/admin/users/{name}/tokens")
def issue_token(request: Request, name: str, person: CsrfDep, session: SessionDep,
                label: Annotated[str, Form(max_length=128)] = "") -> Response:
    """Issue an API token and show its secret on this one answer only (never again, never logged)."""
    try:
        target = service.get_user(session=session, name=name)
        secret = service.issue_token(session=session, actor=person.actor, user=target, label=label.strip())
    except VaultError as error:
        return _user_page(request, person, session, name, status_code=error.status, error=end_refused(session, error))
    session.commit()
    return _user_page(request, person, session, name, status_code=201, secret=secret)


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: uuid.UUID, person: CsrfDep, session: SessionDep,
                 user: Annotated[str, Form(max_length=128)]) -> Response:
    """Revoke an API token; it stops working at once."""
    try:
        service.revoke_token(session=session, actor=person.actor, token_id=token_id, now=utcnow())
    except VaultError as error:
        return _user_page(request, person, session, user, status_code=error.status, error=end_refused(session, error))
    session.commit()
    return RedirectResponse(f"/admin/users/{quote(user, safe='')}?done=revoked", status_code=303)
