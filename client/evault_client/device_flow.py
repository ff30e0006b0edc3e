"""`evault login --device`: the OAuth 2.0 device authorization grant (RFC 8628) against the agency's identity provider.

Two POSTs with httpx, nothing more: ask for a device code, show the person where to approve it, then poll the token
endpoint at the interval the provider asks for (five seconds more after each `slow_down`) until approved, denied or
expired. The token kept is the one the vault's OIDC bearer check verifies: a JWT access token, else the ID token."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from evault_client.errors import CommandFailed
from evault_client.exits import Exit

if TYPE_CHECKING:
    import httpx

    from evault_client.context import Invocation

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DISCOVERY_PATH = "/.well-known/openid-configuration"


class Clock:
    """The process's clock edge: waiting between polls, and telling how long the person has taken."""

    def sleep(self, seconds: float) -> None:
        """Wait."""
        time.sleep(seconds)

    def monotonic(self) -> float:
        """Return seconds on a clock that only goes forward."""
        return time.monotonic()


CLOCK = Clock()


def device_sign_in(run: Invocation, about: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    """Run the device grant; return the token, who it signs in as (the vault's /api/me) and its expiry."""
    import httpx

    from evault_client.http import ApiClient

    oidc = (about.get("sign_in") or {}).get("oidc")
    if not oidc or not oidc.get("client_id"):
        raise CommandFailed("oidc_not_configured", run.text(
            "该证据库未配置统一身份认证，请用密码登录", "this vault has no single sign-on; sign in with a password"),
            exit_status=Exit.CONFIGURATION)
    with httpx.Client(timeout=15.0) as http:
        endpoints = _endpoints(run, http, oidc)
        grant = _post(run, http, endpoints["device_authorization_endpoint"],
                      {"client_id": oidc["client_id"], "scope": oidc.get("scope") or "openid"})
        _show(run, grant)
        tokens = _poll(run, http, endpoints["token_endpoint"], oidc["client_id"], grant)
    token = _vault_token(run, tokens)
    expires_at = (datetime.now(UTC) + timedelta(seconds=int(tokens.get("expires_in") or 300))).isoformat()
    client = ApiClient(run.server, token)
    try:
        me = client.get("/api/me")
    finally:
        client.close()
    return token, me, expires_at


def _endpoints(run: Invocation, http: httpx.Client, oidc: dict[str, Any]) -> dict[str, str]:
    found = {key: oidc.get(key) for key in ("device_authorization_endpoint", "token_endpoint")}
    if not all(found.values()):
        document = _answer(run, http, "GET", str(oidc["issuer"]).rstrip("/") + DISCOVERY_PATH, None)
        found = {key: found[key] or document.get(key) for key in found}
    if not found["device_authorization_endpoint"] or not found["token_endpoint"]:
        raise CommandFailed("device_flow_unsupported", run.text(
            "身份提供方不支持设备码登录", "the identity provider offers no device authorization endpoint"),
            exit_status=Exit.CONFIGURATION)
    return {key: str(value) for key, value in found.items()}


def _show(run: Invocation, grant: dict[str, Any]) -> None:
    where = grant.get("verification_uri_complete") or grant["verification_uri"]
    click.echo(run.text(f"请在浏览器中打开 {where}\n并输入代码：{grant['user_code']}",
                        f"Open {where} in a browser\nand enter the code: {grant['user_code']}"), err=True)


def _poll(run: Invocation, http: httpx.Client, token_endpoint: str, client_id: str,
          grant: dict[str, Any]) -> dict[str, Any]:
    import httpx

    interval = float(grant.get("interval") or 5)  # RFC 8628 §3.2: five seconds when the provider says nothing
    deadline = CLOCK.monotonic() + float(grant.get("expires_in") or 600)
    form = {"grant_type": DEVICE_GRANT, "device_code": grant["device_code"], "client_id": client_id}
    while True:
        if CLOCK.monotonic() + interval > deadline:
            raise _expired(run)
        CLOCK.sleep(interval)
        try:
            response = http.post(token_endpoint, data=form, headers={"Accept": "application/json"})
        except httpx.TransportError:
            continue  # a passing fault: the device code is still good until the deadline
        body = _json(response)
        if response.status_code == 200:
            return body
        error = body.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5  # §3.5: and keep it for every later request
            continue
        if error == "expired_token":
            raise _expired(run)
        if error == "access_denied":
            raise CommandFailed("access_denied", run.text("登录请求被拒绝", "the sign-in was refused at the "
                                "identity provider"), exit_status=Exit.AUTHENTICATION)
        raise CommandFailed(str(error or f"http_{response.status_code}"), str(body.get("error_description") or
                            run.text("身份提供方拒绝了请求", "the identity provider refused the request")),
                            exit_status=Exit.AUTHENTICATION)


def _expired(run: Invocation) -> CommandFailed:
    return CommandFailed("expired_token", run.text("设备码已过期，请重新运行 evault login --device",
                                                   "the device code expired; run `evault login --device` again"),
                         exit_status=Exit.AUTHENTICATION)


def _vault_token(run: Invocation, tokens: dict[str, Any]) -> str:
    for key in ("access_token", "id_token"):
        value = tokens.get(key)
        if isinstance(value, str) and value.count(".") == 2:
            return value
    raise CommandFailed("no_usable_token", run.text("身份提供方未返回证据库可验证的令牌",
                        "the identity provider returned no token the vault can verify (no JWT)"),
                        exit_status=Exit.AUTHENTICATION)


def _post(run: Invocation, http: httpx.Client, url: str, form: dict[str, str]) -> dict[str, Any]:
    return _answer(run, http, "POST", url, form)


def _answer(run: Invocation, http: httpx.Client, method: str, url: str, form: dict[str, str] | None) -> dict[str, Any]:
    import httpx

    try:
        response = http.request(method, url, data=form, headers={"Accept": "application/json"})
    except httpx.TransportError as exc:
        raise CommandFailed("idp_unreachable", run.text(f"无法连接身份提供方 {url}", f"could not reach the identity "
                            f"provider at {url} ({type(exc).__name__})"), exit_status=Exit.TEMPORARY_FAILURE) from exc
    body = _json(response)
    if response.status_code >= 400:
        raise CommandFailed(str(body.get("error") or f"http_{response.status_code}"),
                            str(body.get("error_description") or url), exit_status=Exit.AUTHENTICATION)
    return body


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
