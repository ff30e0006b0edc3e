"""OpenID Connect bearer tokens: JWKS validation with locally generated keys, role mapping, provisioning."""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from sqlalchemy import select

from vault.context import VaultContext
from vault.custody.models import CustodyEvent
from vault.identities.models import Role, User

ISSUER = "https://idp.example.gov.cn/realms/yjj"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
STRANGER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks() -> dict[str, Any]:
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(EC_KEY.public_key()))
    return {"keys": [rsa_jwk | {"kid": "rsa-1", "use": "sig"}, ec_jwk | {"kid": "ec-1", "use": "sig"}]}


Mint = Callable[..., str]


@pytest.fixture
def mint() -> Mint:
    """Sign a token as the test issuer would (claims overridable)."""

    def make(*, roles: list[str] | None = None, key: Any = RSA_KEY, kid: str = "rsa-1", alg: str = "RS256",
             **claims: Any) -> str:
        now = datetime.now(UTC)
        body = {"iss": ISSUER, "aud": "evault", "sub": "f3a1", "preferred_username": "legal-chen",
                "iat": now, "exp": now + timedelta(minutes=5),
                "realm_access": {"roles": ["offline_access", "evault-reviewer"] if roles is None else roles}}
        return jwt.encode(body | claims, key, algorithm=alg, headers={"kid": kid})

    return make


def _configure(context: VaultContext, **extra: Any) -> None:
    settings = context.settings
    settings.oidc_issuer, settings.oidc_audience = ISSUER, "evault"
    settings.oidc_role_claim = "realm_access.roles"
    settings.oidc_role_map = {"evault-reviewer": "reviewer", "evault-approver": "approver"}
    for name, value in extra.items():
        setattr(settings, name, value)


@pytest.fixture
def oidc_file(context: VaultContext, tmp_path: Path) -> VaultContext:
    """Configure OIDC with a JWKS file."""
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(_jwks()))
    _configure(context, oidc_jwks_file=path)
    return context


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _events(context: VaultContext, action: str) -> list[CustodyEvent]:
    with context.sessions() as sess:
        return list(sess.scalars(select(CustodyEvent).where(CustodyEvent.action == action)))


def test_valid_token_provisions_the_user_with_the_mapped_role(client: TestClient, oidc_file: VaultContext,
                                                               mint: Mint) -> None:
    me = client.get("/api/me", headers=_bearer(mint()))
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "legal-chen" and me.json()["role"] == "reviewer"
    assert [e.details["name"] for e in _events(oidc_file, "user:created")][-1] == "legal-chen"
    promoted = client.get("/api/me", headers=_bearer(mint(roles=["evault-approver"], key=EC_KEY, kid="ec-1",
                                                          alg="ES256")))
    assert promoted.json()["role"] == "approver"
    (change,) = _events(oidc_file, "user:updated")
    assert change.details == {"role": "approver", "previous_role": "reviewer", "source": "OpenID Connect token"}


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("expired", 401), ("wrong issuer", 401), ("wrong audience", 401), ("foreign key", 401),
        ("alg none", 401), ("hmac confusion", 401), ("unknown kid", 401), ("no role", 403), ("two roles", 403),
    ],
)
def test_bad_tokens_are_refused(client: TestClient, oidc_file: VaultContext, mint: Mint, case: str,
                                status: int) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    public_pem = RSA_KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.PKCS1)
    token = {
        "expired": lambda: mint(iat=past, exp=past + timedelta(minutes=5)),
        "wrong issuer": lambda: mint(iss="https://evil.example"),
        "wrong audience": lambda: mint(aud="another-app"),
        "foreign key": lambda: mint(key=STRANGER_KEY),
        "alg none": lambda: _forged("none", b""),
        "hmac confusion": lambda: _forged("HS256", public_pem),
        "unknown kid": lambda: mint(kid="rotated-away"),
        "no role": lambda: mint(roles=["offline_access"]),
        "two roles": lambda: mint(roles=["evault-reviewer", "evault-approver"]),
    }[case]()
    response = client.get("/api/me", headers=_bearer(token))
    assert response.status_code == status, response.text
    with oidc_file.sessions() as sess:
        assert sess.scalar(select(User).where(User.name == "legal-chen")) is None


def _forged(alg: str, secret: bytes) -> str:
    """Build a token by hand: unsigned (alg none) or HMAC-signed with the issuer's public key (alg confusion)."""
    header = jwt.utils.base64url_encode(json.dumps({"alg": alg, "kid": "rsa-1", "typ": "JWT"}).encode())
    now = int(datetime.now(UTC).timestamp())
    payload = jwt.utils.base64url_encode(json.dumps({"iss": ISSUER, "aud": "evault", "sub": "x", "iat": now,
                                                     "exp": now + 300, "preferred_username": "legal-chen",
                                                     "realm_access": {"roles": ["evault-reviewer"]}}).encode())
    signature = hmac.new(secret, header + b"." + payload, "sha256").digest() if secret else b""
    return (header + b"." + payload + b"." + jwt.utils.base64url_encode(signature)).decode()


def test_without_auto_provisioning_only_known_users_sign_in(client: TestClient, oidc_file: VaultContext,
                                                            mint: Mint, make_person: Callable[..., Any]) -> None:
    oidc_file.settings.oidc_auto_provision = False
    assert client.get("/api/me", headers=_bearer(mint())).status_code == 401
    known = make_person(Role.REVIEWER, name="legal-chen")
    me = client.get("/api/me", headers=_bearer(mint()))
    assert me.status_code == 200 and me.json()["name"] == "legal-chen"
    assert client.get("/api/me", headers=known.headers).status_code == 200  # API tokens keep working


def test_a_disabled_user_is_refused_with_a_valid_oidc_token(client: TestClient, oidc_file: VaultContext,
                                                             mint: Mint, make_person: Callable[..., Any]) -> None:
    # Issue 12 item 4: a disabled user's sessions stop working at once, an identity provider's tokens included.
    admin = make_person(Role.ADMIN)
    assert client.get("/api/me", headers=_bearer(mint())).status_code == 200
    assert client.post("/api/users/legal-chen/disable", headers=admin.headers).status_code == 200
    refused = client.get("/api/me", headers=_bearer(mint()))
    assert refused.status_code == 401 and "disabled" in refused.json()["error"]["message"]
    promoted = client.get("/api/me", headers=_bearer(mint(roles=["evault-approver"])))
    assert promoted.status_code == 401  # nor does a role claim revive or re-provision the account
    with oidc_file.sessions() as sess:
        user = sess.scalars(select(User).where(User.name == "legal-chen")).one()
        assert (user.active, user.role) == (False, Role.REVIEWER)


@pytest.fixture
def jwks_server() -> Iterator[str]:
    """Serve the JWKS over HTTP on a free local port."""
    body = json.dumps(_jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/certs"
    server.shutdown()
    server.server_close()
    thread.join()


def test_keys_fetched_from_a_jwks_url(client: TestClient, context: VaultContext, jwks_server: str,
                                      mint: Mint) -> None:
    _configure(context, oidc_jwks_url=jwks_server)
    assert client.get("/api/me", headers=_bearer(mint())).json()["role"] == "reviewer"
    assert client.get("/api/me", headers=_bearer(mint(key=STRANGER_KEY))).status_code == 401
