"""OpenID Connect bearer tokens: validate against the issuer's JWKS, map a claim to a role, find the user."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.config import Settings
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import PermissionDenied, Unauthenticated
from vault.identities.actor import SYSTEM
from vault.identities.models import Role, User
from vault.identities.service import create_user

log = structlog.get_logger(__name__)

LEEWAY_SECONDS = 30
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})


@dataclass(frozen=True)
class OidcIdentity:
    """Who a valid token says the caller is."""

    username: str
    role: Role
    subject: str


def looks_like_jwt(token: str) -> bool:
    """Return whether a bearer credential has the three-part JWS compact shape (API tokens do not)."""
    return token.count(".") == 2 and not token.startswith("evt_")


class OidcVerifier:
    """Validates tokens from one issuer; keys come from a JWKS URL (cached, refetched on unknown kid) or file."""

    def __init__(self, *, issuer: str, audience: str | None, algorithms: tuple[str, ...], jwks_url: str | None,
                 jwks_file: Path | None, username_claim: str, role_claim: str, role_map: tuple[tuple[str, str], ...]):
        unsafe = set(algorithms) - ASYMMETRIC
        if unsafe:
            raise ValueError(f"EVAULT_OIDC_ALGORITHMS may list asymmetric algorithms only, not {sorted(unsafe)}")
        self.issuer, self.audience, self.algorithms = issuer, audience, list(algorithms)
        self.username_claim, self.role_claim = username_claim, role_claim
        self.role_map = dict(role_map) or {r.value: r.value for r in Role}
        self._client = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self._jwks_file = jwks_file

    def _key(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        assert self._jwks_file is not None
        kid = jwt.get_unverified_header(token).get("kid")
        keys = jwt.PyJWKSet.from_dict(json.loads(self._jwks_file.read_text())).keys
        for key in keys:
            if kid is None or key.key_id == kid:
                return key.key
        raise jwt.PyJWKError(f"no key with kid {kid!r} in the JWKS")

    def verify(self, token: str) -> OidcIdentity:
        """Return the identity in a valid token; raise Unauthenticated (or PermissionDenied for no role)."""
        return self.identity(self.decode(token))

    def decode(self, token: str) -> dict[str, Any]:
        """Return the claims of a token whose signature, issuer, audience and lifetime hold; else Unauthenticated."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key(token),
                algorithms=self.algorithms,
                issuer=self.issuer,
                audience=self.audience,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": self.audience is not None},
            )
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            log.info("oidc.token_refused", reason=type(exc).__name__)
            raise Unauthenticated(f"the OpenID Connect token was refused: {exc}") from None
        return claims

    def identity(self, claims: dict[str, Any]) -> OidcIdentity:
        """Map decoded claims to a username and exactly one vault role (PermissionDenied otherwise)."""
        username = claims.get(self.username_claim)
        if not isinstance(username, str) or not username.strip():
            raise Unauthenticated(f"the token has no '{self.username_claim}' claim to name the user")
        return OidcIdentity(username=username.strip(), role=self._role(claims), subject=str(claims["sub"]))

    def _role(self, claims: dict[str, Any]) -> Role:
        value: Any = claims
        for part in self.role_claim.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values = [value] if isinstance(value, str) else list(value or []) if isinstance(value, list) else []
        roles = {Role(self.role_map[v]) for v in values if isinstance(v, str) and v in self.role_map}
        if len(roles) != 1:
            found = "no vault role" if not roles else f"several vault roles ({', '.join(sorted(roles))})"
            raise PermissionDenied(
                f"the token's '{self.role_claim}' claim maps to {found}; exactly one is required",
                details={"claim": self.role_claim},
            )
        return roles.pop()


@lru_cache(maxsize=4)
def _cached_verifier(*args: Any) -> OidcVerifier:
    (issuer, audience, algorithms, jwks_url, jwks_file, username_claim, role_claim, role_map) = args
    return OidcVerifier(issuer=issuer, audience=audience, algorithms=algorithms, jwks_url=jwks_url,
                        jwks_file=jwks_file, username_claim=username_claim, role_claim=role_claim, role_map=role_map)


def verifier_for(settings: Settings) -> OidcVerifier | None:
    """Return the process's verifier for the configured issuer, or None when OIDC is not configured."""
    if not settings.oidc_issuer or not (settings.oidc_jwks_url or settings.oidc_jwks_file):
        return None
    return _cached_verifier(
        settings.oidc_issuer, settings.oidc_audience, tuple(settings.oidc_algorithms), settings.oidc_jwks_url,
        settings.oidc_jwks_file, settings.oidc_username_claim, settings.oidc_role_claim,
        tuple(sorted(settings.oidc_role_map.items())),
    )


def resolve_user(*, session: Session, identity: OidcIdentity, auto_provision: bool) -> tuple[User, bool]:
    """Return the user named by the token (created if allowed; role follows the token); and whether it changed."""
    user = session.scalar(select(User).where(User.name == identity.username))
    if user is None:
        if not auto_provision:
            raise Unauthenticated(f"no vault user named '{identity.username}' and auto-provisioning is off")
        user = create_user(session=session, actor=SYSTEM, name=identity.username, role=identity.role)
        log.info("oidc.user_provisioned", user=identity.username, role=identity.role.value)
        return user, True
    if not user.active:
        raise Unauthenticated("the user named by the token is disabled")
    if user.role == identity.role:
        return user, False
    previous, user.role = user.role, identity.role
    session.flush()
    record_event(session=session, actor=SYSTEM, action=CustodyAction.USER_UPDATED, subject_type="user",
                 subject_id=user.id, details={"role": identity.role.value, "previous_role": previous.value,
                                              "source": "OpenID Connect token"})
    return user, True


def authenticate_oidc(*, session: Session, settings: Settings, token: str) -> tuple[User, bool] | None:
    """Return the user of a valid OIDC token and whether sign-in changed it; None when OIDC is not configured."""
    verifier = verifier_for(settings)
    if verifier is None:
        return None
    identity = verifier.verify(token)
    return resolve_user(session=session, identity=identity, auto_provision=settings.oidc_auto_provision)


def id_token_verifier(settings: Settings, *, jwks_uri: str) -> OidcVerifier:
    """Return the verifier for sign-in ID tokens: our client id is the audience; the same claim and role mapping."""
    assert settings.oidc_issuer and settings.oidc_client_id
    jwks_url = settings.oidc_jwks_url or (None if settings.oidc_jwks_file else jwks_uri)
    return _cached_verifier(
        settings.oidc_issuer, settings.oidc_client_id, tuple(settings.oidc_algorithms), jwks_url,
        settings.oidc_jwks_file, settings.oidc_username_claim, settings.oidc_role_claim,
        tuple(sorted(settings.oidc_role_map.items())),
    )
