"""A small OpenID provider for tests: discovery, JWKS, an /authorize page with a username field, and a /token
endpoint that checks the PKCE verifier (S256) and spends each code once. A test tool, not product code: anyone
may sign in as anyone, with the roles the test gave that username."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from vault.config import Settings

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
AUTHORIZE_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>测试身份提供方</title></head>
<body><h1>测试身份提供方 (test identity provider)</h1><p>{client}</p>
<form method="post"><label>用户名 <input name="username" autocomplete="username" required></label>
<button type="submit">登录</button></form></body></html>"""


@dataclass
class Grant:
    """What a code was issued for."""

    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    username: str
    used: bool = False


@dataclass
class DeviceGrant:
    """A device code (RFC 8628): who approved it, if anyone yet, and until when it may be redeemed."""

    client_id: str
    user_code: str
    scope: str
    expires_at: float
    username: str | None = None
    denied: bool = False
    polls: int = 0
    last_poll: float | None = None
    interval: int = 5
    used: bool = False


@dataclass
class OidcProvider:
    """The provider's state; tests register clients and users and turn the knobs below."""

    client_id: str = "evault"
    client_secret: str | None = "evault-client-secret"
    users: dict[str, list[str]] = field(default_factory=dict)  # username -> roles claim
    token_seconds: int = 300  # negative issues ID tokens that expired already
    nonce_override: str | None = None  # issue this nonce instead of the one the client sent
    url: str = ""
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537,
                                                                                   key_size=2048))
    codes: dict[str, Grant] = field(default_factory=dict)
    device_client_id: str = "evault-cli"  # a public client: a command line keeps no secret
    device_seconds: int = 600  # how long a device code lives
    device_interval: int = 5
    slow_down_once: bool = True  # answer the second pending poll with slow_down, as a busy provider would
    devices: dict[str, DeviceGrant] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        """Return the issuer identifier (the base URL)."""
        return self.url

    def app(self) -> Starlette:
        """Return the provider's ASGI application."""
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/jwks", self.jwks),
            Route("/authorize", self.authorize, methods=["GET", "POST"]),
            Route("/token", self.token, methods=["POST"]),
            Route("/device_authorization", self.device_authorization, methods=["POST"]),
        ])

    async def discovery(self, request: Request) -> Response:
        """Return the discovery document (OpenID Connect Discovery 1.0)."""
        return JSONResponse({
            "issuer": self.issuer, "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
            "device_authorization_endpoint": f"{self.url}/device_authorization",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        })

    async def jwks(self, request: Request) -> Response:
        """Return the public key ID tokens are signed with."""
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return JSONResponse({"keys": [public | {"kid": "test-1", "use": "sig", "alg": "RS256"}]})

    async def authorize(self, request: Request) -> Response:
        """Show the sign-in page (GET); issue a code for the username posted back (POST, same query string)."""
        query = request.query_params
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return JSONResponse({"error": "unauthorized_client"}, status_code=400)
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return JSONResponse({"error": "invalid_request", "error_description": "PKCE S256 is required"}, 400)
        if request.method == "GET":
            return HTMLResponse(AUTHORIZE_PAGE.format(client=html.escape(self.client_id)))
        username = str((await request.form()).get("username", "")).strip()
        code = secrets.token_urlsafe(24)
        self.codes[code] = Grant(client_id=self.client_id, redirect_uri=query["redirect_uri"],
                                 challenge=query["code_challenge"], nonce=query.get("nonce"), username=username)
        back = {"code": code} | ({"state": query["state"]} if "state" in query else {})
        return RedirectResponse(f"{query['redirect_uri']}?{urlencode(back)}", status_code=302)

    async def token(self, request: Request) -> Response:
        """Exchange a code once, for the client it was issued to, with the verifier whose S256 is the challenge."""
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        if form.get("grant_type") == DEVICE_GRANT:
            return self._device_token(form)
        if not self._client_authenticated(request, form):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.codes.get(form.get("code", ""))
        if form.get("grant_type") != "authorization_code" or grant is None or grant.used:
            return _refuse("the code is unknown or was used already")
        grant.used = True  # spent whether or not the rest holds: a code is tried once
        challenge = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if not hmac.compare_digest(challenge.rstrip(b"=").decode(), grant.challenge):
            return _refuse("the code_verifier does not match the code_challenge")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _refuse("the redirect_uri differs from the authorization request's")
        return JSONResponse({"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 300,
                             "id_token": self.id_token(grant)}, headers={"Cache-Control": "no-store"})

    async def device_authorization(self, request: Request) -> Response:
        """Issue a device code and a user code to a public client (RFC 8628 §3.1, §3.2)."""
        form = {k: str(v) for k, v in (await request.form()).items()}
        if form.get("client_id") != self.device_client_id:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        device_code, user_code = secrets.token_urlsafe(24), "-".join(
            "".join(secrets.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(4)) for _ in range(2))
        self.devices[device_code] = DeviceGrant(client_id=self.device_client_id, user_code=user_code,
                                                scope=form.get("scope", ""), interval=self.device_interval,
                                                expires_at=time.monotonic() + self.device_seconds)
        return JSONResponse({"device_code": device_code, "user_code": user_code,
                             "verification_uri": f"{self.url}/device",
                             "verification_uri_complete": f"{self.url}/device?user_code={user_code}",
                             "expires_in": self.device_seconds, "interval": self.device_interval},
                            headers={"Cache-Control": "no-store"})

    def approve_device(self, user_code: str, username: str | None, *, deny: bool = False) -> None:
        """Approve (or deny) a user code, as the person would on the verification page."""
        grant = next(g for g in self.devices.values() if g.user_code == user_code)
        grant.username, grant.denied = username, deny

    def _device_token(self, form: dict[str, str]) -> Response:
        """Answer one poll (RFC 8628 §3.4, §3.5): pending, slow_down, denied, expired, or the tokens once."""
        grant = self.devices.get(form.get("device_code", ""))
        if grant is None or grant.used or form.get("client_id") != grant.client_id:
            return _refuse("the device code is unknown, spent or not this client's")
        if time.monotonic() >= grant.expires_at:
            return JSONResponse({"error": "expired_token"}, status_code=400)
        if grant.denied:
            return JSONResponse({"error": "access_denied"}, status_code=400)
        grant.polls += 1
        if grant.username is None:
            if self.slow_down_once and grant.polls == 2:
                grant.interval += 5
                return JSONResponse({"error": "slow_down"}, status_code=400)
            return JSONResponse({"error": "authorization_pending"}, status_code=400)
        grant.used = True
        code_grant = Grant(client_id=grant.client_id, redirect_uri="", challenge="", nonce=None,
                           username=grant.username)
        return JSONResponse({"access_token": secrets.token_urlsafe(24), "token_type": "Bearer",
                             "expires_in": self.token_seconds, "id_token": self.id_token(code_grant)},
                            headers={"Cache-Control": "no-store"})

    def _client_authenticated(self, request: Request, form: dict[str, str]) -> bool:
        if self.client_secret is None:
            return form.get("client_id") == self.client_id
        basic = request.headers.get("authorization", "")
        if basic.startswith("Basic "):
            given_id, _, given_secret = base64.b64decode(basic[6:]).decode().partition(":")
        else:
            given_id, given_secret = form.get("client_id", ""), form.get("client_secret", "")
        return given_id == self.client_id and hmac.compare_digest(given_secret, self.client_secret)

    def id_token(self, grant: Grant, **claims: Any) -> str:
        """Sign an ID token for a grant (claims overridable)."""
        now = datetime.now(UTC)
        body = {"iss": self.issuer, "aud": grant.client_id, "sub": f"sub-{grant.username}", "iat": now,
                "exp": now + timedelta(seconds=self.token_seconds), "preferred_username": grant.username,
                "roles": self.users.get(grant.username, []), "nonce": self.nonce_override or grant.nonce}
        if self.token_seconds < 0:
            body["iat"] = now + timedelta(seconds=self.token_seconds * 2)
        return jwt.encode(body | claims, self.key, algorithm="RS256", headers={"kid": "test-1"})


def _refuse(description: str) -> Response:
    return JSONResponse({"error": "invalid_grant", "error_description": description}, status_code=400)


def point_vault_at(settings: Settings, provider: OidcProvider) -> OidcProvider:
    """Configure a vault's single sign-on for the provider, with an agency's role names, and give people roles."""
    settings.oidc_issuer, settings.oidc_client_id = provider.issuer, provider.client_id
    settings.oidc_client_secret = SecretStr(provider.client_secret) if provider.client_secret else None
    settings.oidc_role_map = {"evault-reviewer": "reviewer", "evault-approver": "approver"}
    provider.users.update({"legal-chen": ["offline_access", "evault-reviewer"], "chief-liu": ["evault-approver"],
                           "visitor": ["offline_access"]})
    return provider


def run_provider(provider: OidcProvider) -> Iterator[OidcProvider]:
    """Serve the provider with uvicorn on a free local port; yield it with its URL set, then stop it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    provider.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(provider.app(), log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test OpenID provider did not start")
        time.sleep(0.02)
    yield provider
    server.should_exit = True
    thread.join(timeout=20)
    sock.close()
