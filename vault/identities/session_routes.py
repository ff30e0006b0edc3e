"""HTTP routes for a command line's sign-in: what the vault is, and signing in and out with a token."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vault.api.deps import ContextDep, SessionDep
from vault.api.errors import error_responses
from vault.config import Settings
from vault.db import utcnow
from vault.errors import Unauthenticated
from vault.identities.schemas import About, OidcAbout, SignInMethods, TokenSignedIn, TokenSignInRequest, UserPublic
from vault.identities.token_sign_in import sign_in_for_token, sign_out_token

router = APIRouter(prefix="/api", tags=["sign-in"])
_bearer = HTTPBearer(auto_error=False)


def _version() -> str:
    try:
        return version("evidence-vault")
    except PackageNotFoundError:
        return "unknown"


def _oidc(settings: Settings) -> OidcAbout | None:
    if not settings.oidc_issuer:
        return None
    issuer = settings.oidc_issuer.rstrip("/")
    # The endpoints are the issuer's own: the client reads them from its discovery document when these are None.
    return OidcAbout(issuer=issuer, client_id=settings.oidc_cli_client_id or settings.oidc_client_id,
                     device_authorization_endpoint=None, token_endpoint=None, scope=settings.oidc_scopes)


@router.get("/about", response_model=About)
def about(context: ContextDep) -> About:
    """Say which vault this is, for whom, in which zone, under which key, and how one signs in (no sign-in)."""
    settings = context.settings
    return About(version=_version(), agency_name=settings.agency_name, timezone=settings.timezone,
                 key_id=context.signer.key_id, sign_in=SignInMethods(password=True, oidc=_oidc(settings)))


@router.post("/sign-in/token", response_model=TokenSignedIn, status_code=201,
             responses=error_responses(401, 422, 503))
def sign_in_token(body: TokenSignInRequest, session: SessionDep, context: ContextDep) -> TokenSignedIn:
    """Sign in with a name and password; answer a token that expires. A wrong name or password is one 401."""
    signed_in = sign_in_for_token(session=session, settings=context.settings, name=body.name,
                                  password=body.password, label=body.label, now=utcnow())
    session.commit()
    return TokenSignedIn(token=signed_in.secret, user=UserPublic.model_validate(signed_in.user),
                         expires_at=signed_in.expires_at)


@router.post("/sign-out/token", status_code=204, responses=error_responses(401, 503))
def sign_out_token_route(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """End the presented token's session for good (an expired one too: signing out must always work)."""
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("send the token to end as `Authorization: Bearer <token>`")
    sign_out_token(session=session, secret=credentials.credentials, now=utcnow())
    session.commit()
