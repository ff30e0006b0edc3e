"""Single sign-on: send the browser to the agency's identity provider, and open a session when it comes back."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from evault.web.auth import set_cookie
from evault.web.pages.sign_in import open_session, safe_next, sign_in_form
from vault.access.oidc_sign_in import begin_oidc_sign_in, finish_oidc_sign_in
from vault.api.deps import ContextDep, SessionDep
from vault.config import Settings
from vault.db import utcnow
from vault.errors import VaultError
from vault.identities.sign_in import start_web_session

router = APIRouter(include_in_schema=False)

# The sealed state, nonce and PKCE verifier (see vault/access/oidc_sign_in.py), and where to go afterwards. Both
# are SameSite=Lax: the provider sends the browser back with a top-level GET from its own site.
STATE_COOKIE = "evault_oidc_sign_in"
NEXT_COOKIE = "evault_oidc_next"


def _redirect_uri(request: Request, settings: Settings) -> str:
    return settings.oidc_redirect_url or str(request.url_for("oidc_callback"))


@router.get("/sign-in/oidc")
def oidc_sign_in(request: Request, context: ContextDep, next: str | None = None) -> Response:
    """Send the browser to the identity provider, the sign-in's secrets sealed in a short-lived cookie."""
    start = begin_oidc_sign_in(settings=context.settings, cipher=context.cipher,
                               redirect_uri=_redirect_uri(request, context.settings), now=utcnow())
    response = RedirectResponse(start.url, status_code=303)
    set_cookie(request, response, STATE_COOKIE, start.cookie, max_age=start.max_age)
    set_cookie(request, response, NEXT_COOKIE, safe_next(next), max_age=start.max_age)
    return response


@router.get("/sign-in/oidc/callback", name="oidc_callback")
def oidc_callback(request: Request, session: SessionDep, context: ContextDep) -> Response:
    """Finish the sign-in the provider sent back, then open a web session as the password form does."""
    now = utcnow()
    next_path = safe_next(request.cookies.get(NEXT_COOKIE))
    try:
        user = finish_oidc_sign_in(session=session, settings=context.settings, cipher=context.cipher,
                                   cookie=request.cookies.get(STATE_COOKIE), params=request.query_params, now=now)
    except VaultError as refusal:
        if not refusal.record_kept:
            raise
        session.commit()  # the failed sign-in's custody event stands
        response = sign_in_form(request, next_path=next_path, error=refusal.message, status_code=refusal.status)
    else:
        secret, _ = start_web_session(session=session, user=user, how="oidc", now=now)
        response = open_session(request, session, secret=secret, next_path=next_path)
    for name in (STATE_COOKIE, NEXT_COOKIE):  # one sign-in, one use
        response.delete_cookie(name, path="/")
    return response
