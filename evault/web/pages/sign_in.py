"""Signing in and out with a password, and choosing the language."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from evault.web.auth import CsrfDep, set_cookie
from evault.web.i18n import LANGUAGE_COOKIE, LANGUAGES
from evault.web.templating import render_page
from vault.access.oidc_sign_in import oidc_sign_in_enabled
from vault.api.deps import ContextDep, CsrfRefused, SessionDep
from vault.db import utcnow
from vault.identities.models import WebSession
from vault.identities.sign_in import (
    SESSION_COOKIE,
    AccountLocked,
    LockoutPolicy,
    SignInFailed,
    end_web_session,
    sign_in_with_password,
    start_web_session,
)

router = APIRouter(include_in_schema=False)

# Before anyone signs in there is no session to bind a CSRF token to: the sign-in form uses a double-submit cookie.
SIGN_IN_CSRF_COOKIE = "evault_sign_in_csrf"


def safe_next(target: str | None) -> str:
    """Return a local path to go to after signing in; anything else goes home (no open redirects)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")) and "\n" not in target:
        return target
    return "/"


def sign_in_form(request: Request, *, next_path: str, error: str | None = None, status_code: int = 200,
                 name: str = "") -> Response:
    """Show the sign-in form with a fresh double-submit CSRF token."""
    token = secrets.token_urlsafe(32)
    response = render_page(request, "sign_in.html", status_code=status_code, person=None, csrf_token=token,
                           next_path=next_path, error=error, name=name,
                           single_sign_on=oidc_sign_in_enabled(request.app.state.vault.settings))
    set_cookie(request, response, SIGN_IN_CSRF_COOKIE, token, samesite="strict")
    return response


@router.get("/sign-in")
def sign_in_page(request: Request, next: str | None = None) -> Response:
    """Show the sign-in form."""
    return sign_in_form(request, next_path=safe_next(next))


@router.post("/sign-in")
def sign_in(
    request: Request,
    session: SessionDep,
    context: ContextDep,
    name: Annotated[str, Form(max_length=128)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = "/",
) -> Response:
    """Check name and password; on success start a session and go where the person was heading."""
    expected = request.cookies.get(SIGN_IN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf_token.encode(), expected.encode()):
        raise CsrfRefused("表单已过期，请刷新页面后重试 (the sign-in form expired; reload it)")
    now = utcnow()
    try:
        user = sign_in_with_password(session=session, name=name, password=password, now=now,
                                     policy=LockoutPolicy.of(context.settings))
    except (SignInFailed, AccountLocked) as refusal:
        session.commit()  # the failure count and its custody event stand
        return sign_in_form(request, next_path=safe_next(next_path), error=refusal.message, name=name,
                            status_code=refusal.status)
    secret, _ = start_web_session(session=session, user=user, how="password", now=now)
    return open_session(request, session, secret=secret, next_path=next_path)


def open_session(request: Request, session: SessionDep, *, secret: str, next_path: str) -> Response:
    """Commit a new browser session and hand its cookie to the browser."""
    session.commit()
    response = RedirectResponse(safe_next(next_path), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, secret)
    response.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/")
    return response


@router.post("/sign-out")
def sign_out(request: Request, person: CsrfDep, session: SessionDep) -> Response:
    """End the session for good and go back to the sign-in page."""
    web_session = session.get(WebSession, person.session_id)
    if web_session is not None:
        end_web_session(session=session, web_session=web_session, now=utcnow())
        session.commit()
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/language/{language}")
def choose_language(request: Request, language: str, next: str | None = None) -> Response:
    """Remember the chosen language for this browser and go back."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if language in LANGUAGES:
        set_cookie(request, response, LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600)
    return response
