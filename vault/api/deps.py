"""FastAPI dependencies shared by every router: context, session, the signed-in actor."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from vault.access.oidc import authenticate_oidc, looks_like_jwt
from vault.context import VaultContext
from vault.db import utcnow
from vault.errors import PermissionDenied, Unauthenticated, VaultError
from vault.identities.actor import Actor
from vault.identities.models import User
from vault.identities.service import authenticate_token
from vault.identities.sign_in import SESSION_COOKIE, SessionLimits, SignedIn, resume_web_session

_bearer = HTTPBearer(
    auto_error=False, description="API token (evt_...) from `evault tokens create`, or an OpenID Connect JWT"
)


async def get_context(request: Request) -> VaultContext:
    """Return the process-wide vault context (async: a sync dependency would cost every request a thread hop)."""
    context: VaultContext = request.app.state.vault
    return context


ContextDep = Annotated[VaultContext, Depends(get_context)]


def get_session(context: ContextDep) -> Iterator[Session]:
    """Yield a session; roll back on error unless the refusal itself was recorded in the custody log."""
    session = context.sessions()
    try:
        yield session
    except VaultError as exc:
        if exc.record_kept:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def session_scope(context: VaultContext) -> AbstractContextManager[Session]:
    """Return get_session as a context manager, for a route that does all its work in one thread-pool trip."""
    return contextmanager(get_session)(context)


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_actor(request: Request, context: ContextDep, credentials: BearerDep) -> Actor:
    """Authenticate the bearer token and return the acting user.

    Uses its own short session: on SQLite every transaction holds the write lock, so a streaming route
    must be able to authenticate without keeping a session open for the whole transfer.
    """
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("send an API token as `Authorization: Bearer <token>`")
    with context.sessions() as session:
        actor = Actor.of(_authenticate(session, context, credentials.credentials))
    request.state.actor = actor.name
    return actor


def _authenticate(session: Session, context: VaultContext, secret: str) -> User:
    """Accept an API token, or an OpenID Connect JWT when an issuer is configured."""
    if looks_like_jwt(secret):
        signed_in = authenticate_oidc(session=session, settings=context.settings, token=secret)
        if signed_in is not None:
            user, changed = signed_in
            if changed:
                session.commit()  # provisioning at sign-in is its own unit of work
            return user
    return authenticate_token(session=session, secret=secret, now=utcnow())


ActorDep = Annotated[Actor, Depends(get_actor)]


def signed_in_by_cookie(request: Request, context: ContextDep) -> SignedIn | None:
    """Return who the web app's session cookie belongs to, or None; uses its own short session, as get_actor."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with context.sessions() as session:
        web_session = resume_web_session(session=session, secret=cookie, now=utcnow(),
                                         limits=SessionLimits.of(context.settings))
        if web_session is None:
            return None
        person = SignedIn.of(web_session)
        session.commit()  # the session's last-seen time
    request.state.actor = person.actor.name
    return person


def get_viewer(
    request: Request,
    context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """Authenticate a bearer token, or else the web app's session cookie (a `<video>` cannot send a header).

    Only read-only content routes accept the cookie; everything that changes state needs a token or a
    CSRF-checked form.
    """
    if credentials is not None and credentials.credentials:
        return get_actor(request, context, credentials)
    person = signed_in_by_cookie(request, context)
    if person is not None:
        return person.actor
    raise Unauthenticated("send an API token as `Authorization: Bearer <token>`, or sign in to the web app")


ViewerDep = Annotated[Actor, Depends(get_viewer)]


CSRF_HEADER = "X-CSRF-Token"


def csrf_token_matches(sent: str | None, person: SignedIn) -> bool:
    """Tell whether a request carried this session's CSRF token (compared in constant time)."""
    return bool(sent) and secrets.compare_digest(str(sent).encode(), person.csrf_token.encode())


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(PermissionDenied):
    """A state-changing request came with the session cookie but without that session's CSRF token."""

    code = "csrf_token_invalid"


def get_uploader(
    request: Request,
    context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """Authenticate a bearer token, or else the session cookie of the web app's upload page.

    Only the tus upload routes and the receipt reads accept the cookie; every state-changing method must then
    carry the session's CSRF token in X-CSRF-Token, so another site cannot make a signed-in browser upload.
    """
    if credentials is not None and credentials.credentials:
        return get_actor(request, context, credentials)
    person = signed_in_by_cookie(request, context)
    if person is None:
        raise Unauthenticated("send an API token as `Authorization: Bearer <token>`, or sign in to the web app")
    if request.method not in _SAFE_METHODS and not csrf_token_matches(request.headers.get(CSRF_HEADER), person):
        raise CsrfRefused("页面已过期或来源不明，请刷新页面后重试 (send the session's CSRF token as X-CSRF-Token)")
    return person.actor


UploaderDep = Annotated[Actor, Depends(get_uploader)]
