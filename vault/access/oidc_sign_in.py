"""OpenID Connect sign-in (authorization code + PKCE): send the browser to the provider, then finish on its return.

What must survive between the two requests (state, nonce, PKCE verifier) travels in a short-lived cookie sealed
with the vault's AES-GCM data key: it binds the sign-in to the browser that began it (a stolen callback URL is
useless elsewhere), needs no table, no clean-up job and no process-wide state, so any API instance can finish a
sign-in another began; and the verifier stays unreadable to the browser. The code is single-use at the provider,
so replaying a callback with the same cookie fails there.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx2
import structlog
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from cryptography.exceptions import InvalidTag
from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.access.oidc import OidcIdentity, OidcVerifier, id_token_verifier, resolve_user
from vault.config import Settings
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import NotFound, Unauthenticated, VaultError
from vault.identities.actor import Actor
from vault.identities.models import User
from vault.keys import DataCipher

log = structlog.get_logger(__name__)

SEAL_PURPOSE = "oidc-sign-in"
DISCOVERY_PATH = "/.well-known/openid-configuration"


class OidcNotConfigured(NotFound):
    """Single sign-on is not set up on this vault."""

    code = "oidc_not_configured"


class SignInStateInvalid(VaultError):
    """The callback does not belong to a sign-in this browser began (missing, expired or other state)."""

    code = "oidc_state_invalid"
    status = 400


class ProviderRefused(Unauthenticated):
    """The identity provider answered the sign-in with an error instead of a code."""

    code = "oidc_provider_refused"


class CodeRefused(Unauthenticated):
    """The provider would not exchange the code (used before, expired, or the PKCE verifier does not match)."""

    code = "oidc_code_refused"


class IdTokenRefused(Unauthenticated):
    """The ID token's signature, issuer, audience or lifetime does not hold."""

    code = "oidc_id_token_refused"


class NonceMismatch(Unauthenticated):
    """The ID token was not issued for this sign-in (its nonce differs)."""

    code = "oidc_nonce_mismatch"


class ProviderUnavailable(VaultError):
    """The identity provider could not be reached or answered nonsense."""

    code = "oidc_provider_unavailable"
    status = 502


@dataclass(frozen=True)
class SignInStart:
    """Where to send the browser, and the sealed cookie value that must come back with it."""

    url: str
    cookie: str
    max_age: int


def oidc_sign_in_enabled(settings: Settings) -> bool:
    """Return whether single sign-on is configured (an issuer and a client id)."""
    return bool(settings.oidc_issuer and settings.oidc_client_id)


def _client(settings: Settings, redirect_uri: str) -> OAuth2Client:
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
    return OAuth2Client(
        settings.oidc_client_id, secret, scope=settings.oidc_scopes, redirect_uri=redirect_uri,
        code_challenge_method="S256", timeout=settings.oidc_timeout_seconds,
        token_endpoint_auth_method="client_secret_basic" if secret else "none",
    )


def _discover(client: OAuth2Client, settings: Settings) -> dict[str, Any]:
    """Fetch the provider's endpoints; the document must name our issuer (OpenID Connect Discovery 4.3)."""
    issuer = (settings.oidc_issuer or "").rstrip("/")
    try:
        response = client.request("GET", issuer + DISCOVERY_PATH, withhold_token=True)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
    except (httpx2.HTTPError, ValueError) as exc:
        log.warning("oidc.discovery_failed", issuer=issuer, reason=type(exc).__name__)
        raise ProviderUnavailable(f"无法读取身份提供方的配置 (the discovery document failed): {exc}") from None
    if document.get("issuer") != settings.oidc_issuer:
        raise ProviderUnavailable("身份提供方的配置与 EVAULT_OIDC_ISSUER 不符 (discovery names another issuer)",
                                  details={"issuer": document.get("issuer")})
    return document


def begin_oidc_sign_in(*, settings: Settings, cipher: DataCipher, redirect_uri: str, now: datetime) -> SignInStart:
    """Return the provider's authorization URL (state, nonce, S256 challenge) and the cookie sealing them."""
    if not oidc_sign_in_enabled(settings):
        raise OidcNotConfigured("本单位未配置统一身份认证 (OpenID Connect sign-in is not configured)")
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    with _client(settings, redirect_uri) as client:
        endpoint = _discover(client, settings)["authorization_endpoint"]
        url, _ = client.create_authorization_url(endpoint, state=state, nonce=nonce, code_verifier=verifier)
    expires = now.timestamp() + settings.oidc_sign_in_seconds
    sealed = cipher.encrypt(json.dumps({"purpose": SEAL_PURPOSE, "state": state, "nonce": nonce,
                                        "verifier": verifier, "redirect_uri": redirect_uri, "expires": expires}))
    return SignInStart(url=str(url), cookie=sealed, max_age=settings.oidc_sign_in_seconds)


def _unseal(cipher: DataCipher, cookie: str | None, now: datetime) -> dict[str, Any]:
    try:  # tampering, truncation or a foreign cookie all read the same: no sign-in was begun here
        sealed = json.loads(cipher.decrypt(cookie or ""))
    except (InvalidTag, ValueError):
        sealed = None
    if not isinstance(sealed, dict) or sealed.get("purpose") != SEAL_PURPOSE:
        raise SignInStateInvalid("登录已失效，请重新登录 (no sign-in was begun in this browser)")
    if now.timestamp() > float(sealed["expires"]):
        raise SignInStateInvalid("登录已超时，请重新登录 (the sign-in took too long)")
    return sealed


def finish_oidc_sign_in(*, session: Session, settings: Settings, cipher: DataCipher, cookie: str | None,
                        params: Mapping[str, str], now: datetime) -> User:
    """Check the callback, exchange the code with the verifier, validate the ID token, and return the mapped user.

    The caller opens the web session (which logs `user:signed_in`). A refusal is logged as `user:sign_in_failed`
    and raised with `record_kept` set, so the caller commits that record.
    """
    if not oidc_sign_in_enabled(settings):
        raise OidcNotConfigured("本单位未配置统一身份认证 (OpenID Connect sign-in is not configured)")
    identity: OidcIdentity | None = None
    try:
        sealed = _unseal(cipher, cookie, now)
        if "error" in params:
            raise ProviderRefused(f"身份提供方拒绝了登录 (the identity provider refused): {params['error']}",
                                  details={"error": params["error"]})
        if not hmac.compare_digest(params.get("state", "").encode(), sealed["state"].encode()):
            raise SignInStateInvalid("登录状态不符，请重新登录 (the state does not match this sign-in)")
        verifier, claims = _exchange(settings, sealed, params.get("code", ""))
        identity = verifier.identity(claims)
        user, _ = resolve_user(session=session, identity=identity, auto_provision=settings.oidc_auto_provision)
    except VaultError as error:
        _log_refusal(session, error, username=identity.username if identity else None, now=now)
        raise
    log.info("oidc.signed_in", user=user.name, role=user.role.value)
    return user


def _log_refusal(session: Session, error: VaultError, *, username: str | None, now: datetime) -> None:
    """Log a refused sign-in as the password form does: the named user when known, else who was claimed."""
    user = session.scalar(select(User).where(User.name == username)) if username else None
    record_event(session=session, actor=Actor.of(user) if user else Actor(id=None, name="anonymous", role=None),
                 action=CustodyAction.USER_SIGN_IN_FAILED, subject_type="user",
                 subject_id=user.id if user else (username or "-")[:128], now=now,
                 details={"why": error.code, "how": "oidc", "claimed": username})
    log.info("oidc.sign_in_refused", reason=error.code, user=username)
    error.record_kept = True


def _exchange(settings: Settings, sealed: dict[str, Any], code: str) -> tuple[OidcVerifier, dict[str, Any]]:
    """Trade the code and verifier for tokens; return the ID token's checked claims and their verifier."""
    with _client(settings, sealed["redirect_uri"]) as client:
        document = _discover(client, settings)
        try:
            tokens = client.fetch_token(document["token_endpoint"], grant_type="authorization_code", code=code,
                                        code_verifier=sealed["verifier"])
        except OAuthError as exc:
            raise CodeRefused(f"身份提供方未接受登录码 (the provider refused the code): {exc.error}",
                              details={"error": exc.error, "description": exc.description}) from None
        except (httpx2.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"身份提供方无法访问 (the token endpoint failed): {exc}") from None
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise IdTokenRefused("身份提供方未返回 ID 令牌 (no ID token; is the openid scope granted?)")
    verifier = id_token_verifier(settings, jwks_uri=document["jwks_uri"])
    try:
        claims = verifier.decode(id_token)
    except Unauthenticated as exc:
        raise IdTokenRefused(exc.message) from None
    if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), sealed["nonce"].encode()):
        raise NonceMismatch("ID 令牌不属于本次登录 (the ID token's nonce does not match)")
    azp = claims.get("azp")
    if azp is not None and azp != settings.oidc_client_id:
        raise IdTokenRefused("ID 令牌签发给了其他应用 (the ID token's azp names another client)")
    return verifier, claims
