"""`evault login --device`: the RFC 8628 device grant against the test provider, then the vault's OIDC check."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from evault_client import device_flow
from tests.client.conftest import Shell
from tests.oidc_provider import OidcProvider, point_vault_at
from vault.context import VaultContext


@dataclass
class FakeClock:
    """The one clock edge the client waits on; each wait may let the person act at the provider meanwhile."""

    now: float = 0.0
    waits: list[float] = field(default_factory=list)
    on_wait: Callable[[int], None] = lambda _count: None

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        self.on_wait(len(self.waits))

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def sso(context: VaultContext, oidc_provider: OidcProvider) -> OidcProvider:
    """Point the vault at the provider; the CLI's public client is what the vault's bearer check accepts."""
    point_vault_at(context.settings, oidc_provider)
    context.settings.oidc_cli_client_id = oidc_provider.device_client_id
    context.settings.oidc_audience = oidc_provider.device_client_id
    context.settings.oidc_jwks_url = f"{oidc_provider.url}/jwks"
    return oidc_provider


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(device_flow, "CLOCK", fake)
    return fake


def approve_on(provider: OidcProvider, wait: int, username: str | None, *, deny: bool = False) -> Callable[[int], None]:
    def act(count: int) -> None:
        if count == wait:
            (grant,) = provider.devices.values()
            provider.approve_device(grant.user_code, username, deny=deny)
    return act


def test_about_names_the_provider_and_the_cli_client(shell_for: Callable[..., Shell], sso: OidcProvider) -> None:
    import httpx

    about = httpx.get(shell_for().env["EVAULT_SERVER"] + "/api/about").json()
    assert about["sign_in"]["oidc"]["issuer"] == sso.issuer
    assert about["sign_in"]["oidc"]["client_id"] == "evault-cli"


def test_device_login_end_to_end(shell_for: Callable[..., Shell], sso: OidcProvider, clock: FakeClock) -> None:
    clock.on_wait = approve_on(sso, 3, "legal-chen")
    shell = shell_for()
    signed = shell.ok("login", "--device")
    code = next(iter(sso.devices.values())).user_code
    assert re.search(rf"enter the code: {code}", signed.stderr) and f"{sso.url}/device" in signed.stderr
    assert "as legal-chen (reviewer)" in signed.stdout
    assert clock.waits == [5, 5, 10]  # the interval, then five more after the one slow_down, kept thereafter
    me = shell.json("whoami")
    assert me["user"]["name"] == "legal-chen" and me["via"] == "oidc"
    polls = [r for r in sso.token_requests if r.get("grant_type") == device_flow.DEVICE_GRANT]
    assert len(polls) == 3 and all(p["client_id"] == "evault-cli" for p in polls)


def test_device_login_stops_when_the_code_expires(
    shell_for: Callable[..., Shell], sso: OidcProvider, clock: FakeClock
) -> None:
    sso.device_seconds = 30
    result = shell_for()("login", "--device")
    assert result.exit_code == 3 and "(expired_token)" in result.stderr
    assert sum(clock.waits) <= 30


def test_the_providers_expired_answer_ends_the_wait(
    shell_for: Callable[..., Shell], sso: OidcProvider, clock: FakeClock
) -> None:
    sso.device_seconds = 0  # already past at the provider, whatever the client's clock says
    sso.device_interval = 1
    result = shell_for()("login", "--device")
    assert result.exit_code == 3 and "(expired_token)" in result.stderr and clock.waits == [1]


def test_a_denied_device_login_exits_3(shell_for: Callable[..., Shell], sso: OidcProvider, clock: FakeClock) -> None:
    clock.on_wait = approve_on(sso, 1, None, deny=True)
    result = shell_for()("login", "--device")
    assert result.exit_code == 3 and "(access_denied)" in result.stderr


def test_device_login_without_single_sign_on_is_refused(shell_for: Callable[..., Shell]) -> None:
    result = shell_for()("login", "--device")
    assert result.exit_code == 78 and "(oidc_not_configured)" in result.stderr
