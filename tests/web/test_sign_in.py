"""Signing in and out in the browser: password, lockout, CSRF, and single sign-on (issue 13, "Sign-in")."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import select

from tests.oidc_provider import OidcProvider, point_vault_at
from tests.web.conftest import LiveVault, WebPerson
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.identities.models import Role

SSO_BUTTON = "使用单位统一身份认证登录"


@pytest.fixture
def sso(context: VaultContext, oidc_provider: OidcProvider) -> OidcProvider:
    """Point the vault's single sign-on at the test provider."""
    return point_vault_at(context.settings, oidc_provider)


@pytest.fixture
def tab(browser: Browser, live_vault: LiveVault) -> Iterator[Page]:
    """Open a fresh browser context (zh-CN, agency zone) on the live vault."""
    opened: BrowserContext = browser.new_context(base_url=live_vault.url, locale="zh-CN",
                                                 timezone_id="Asia/Shanghai")
    yield opened.new_page()
    opened.close()


def _events(context: VaultContext, action: CustodyAction) -> list[CustodyEvent]:
    with context.sessions() as session:
        return list(session.scalars(select(CustodyEvent).where(CustodyEvent.action == action.value)))


def _submit_password(page: Page, name: str, password: str) -> None:
    page.goto("/sign-in")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("form[action='/sign-in'] button[type=submit]")


def test_a_password_sign_in_lands_on_the_home_page(tab: Page, person: Callable[..., WebPerson]) -> None:
    # Issue 13, Sign-in: local accounts sign in with their password.
    reviewer = person(Role.REVIEWER, display_name="王审核")
    _submit_password(tab, reviewer.name, reviewer.password)
    tab.wait_for_url(re.compile(r".*/$"))
    assert tab.inner_text("[data-testid=person]") == "王审核 · 审核人员"
    assert SSO_BUTTON not in tab.content()  # no single sign-on button until it is configured


def test_a_failed_sign_in_says_so_in_chinese(tab: Page, person: Callable[..., WebPerson],
                                            context: VaultContext) -> None:
    # Issue 13, Sign-in and Logging: a failed sign-in is refused, and it is a custody event.
    officer = person(Role.OFFICER)
    _submit_password(tab, officer.name, "not-my-password")
    assert tab.inner_text("[data-testid=sign-in-error]").startswith("用户名或密码错误")
    assert tab.url.endswith("/sign-in")
    assert len(_events(context, CustodyAction.USER_SIGN_IN_FAILED)) == 1


def test_repeated_failures_lock_the_account_and_say_for_how_long(tab: Page, person: Callable[..., WebPerson],
                                                                 context: VaultContext) -> None:
    # Issue 13, Sign-in: "Repeated failures lock the account for a while" (EVAULT_SIGN_IN_MAX_FAILURES, 15 min).
    context.settings.sign_in_max_failures = 3
    approver = person(Role.APPROVER)
    for _ in range(3):
        _submit_password(tab, approver.name, "wrong-password-1")
    _submit_password(tab, approver.name, approver.password)
    assert "账户已锁定，请于 15 分钟后再试" in tab.inner_text("[data-testid=sign-in-error]")
    assert len(_events(context, CustodyAction.USER_LOCKED)) == 1


def test_sign_out_ends_the_session_and_back_brings_nothing_back(
    browser: Browser, person: Callable[..., WebPerson], signed_in: Callable[[Browser, WebPerson], Page],
    context: VaultContext,
) -> None:
    # Issue 13, Sessions: a sign-out; pages are not kept by the browser (no-store), so Back asks to sign in again.
    page = signed_in(browser, person(Role.AUDITOR, display_name="周监督"))
    page.click("form[action='/sign-out'] button")
    page.wait_for_url(re.compile(r".*/sign-in$"))
    page.go_back()
    page.wait_for_url(re.compile(r".*/sign-in\?next=/$"))
    assert "周监督" not in page.content() and page.is_visible("input[name=password]")
    assert len(_events(context, CustodyAction.USER_SIGNED_OUT)) == 1


def test_a_form_without_its_csrf_token_is_refused(
    browser: Browser, person: Callable[..., WebPerson], signed_in: Callable[[Browser, WebPerson], Page],
) -> None:
    # Issue 13, Sessions: "Every form carries a CSRF token"; one submitted without it is refused (403).
    page = signed_in(browser, person(Role.REVIEWER))
    page.locator("form[action='/sign-out'] input[name=csrf_token]").evaluate("field => field.remove()")
    with page.expect_navigation() as refused:
        page.click("form[action='/sign-out'] button")
    assert refused.value is not None and refused.value.status == 403
    assert page.inner_text("[data-testid=error-code]") == "csrf_token_invalid"
    page.goto("/")
    assert page.is_visible("[data-testid=person]")  # still signed in: the forged sign-out did nothing


def test_single_sign_on_in_chromium_lands_home_as_the_mapped_role(
    tab: Page, sso: OidcProvider, context: VaultContext, screenshot: Callable[[Page, str], Path],
) -> None:
    # Issue 13, Sign-in: OpenID Connect, authorization code with PKCE, the role claim mapped as the API does.
    tab.goto("/sign-in")
    screenshot(tab, "sign-in")
    tab.click(f"text={SSO_BUTTON}")
    tab.wait_for_url(f"{sso.url}/authorize?*")
    tab.fill("input[name=username]", "chief-liu")
    tab.click("button[type=submit]")
    tab.wait_for_url(re.compile(r".*/$"))
    assert tab.inner_text("[data-testid=person]") == "chief-liu · 审批人"
    (signed_in,) = _events(context, CustodyAction.USER_SIGNED_IN)
    assert signed_in.details["how"] == "oidc" and signed_in.details["user"] == "chief-liu"
    cookies = {c["name"]: c for c in tab.context.cookies()}
    assert "evault_oidc_sign_in" not in cookies and cookies["evault_session"]["httpOnly"]


def _start(client: TestClient, next_path: str = "/") -> httpx.Response:
    started = client.get(f"/sign-in/oidc?next={next_path}", follow_redirects=False)
    assert started.status_code == 303
    return started


def _at_provider(started: httpx.Response, username: str) -> str:
    """Sign in at the provider and return the vault callback path it sends the browser to."""
    answer = httpx.post(started.headers["location"], data={"username": username})
    location = urlsplit(answer.headers["location"])
    return f"{location.path}?{location.query}"


def test_the_callback_opens_a_session_once(client: TestClient, sso: OidcProvider, context: VaultContext) -> None:
    started = _start(client, "/search")
    state_cookie = next(c for c in started.headers.get_list("set-cookie") if c.startswith("evault_oidc_sign_in="))
    assert "HttpOnly" in state_cookie and "SameSite=lax" in state_cookie and "Max-Age=600" in state_cookie
    callback = _at_provider(started, "legal-chen")
    sealed = client.cookies["evault_oidc_sign_in"]
    landed = client.get(callback, follow_redirects=False)
    assert landed.status_code == 303 and landed.headers["location"] == "/search"
    assert "审核人员" in client.get("/").text
    client.cookies.set("evault_oidc_sign_in", sealed)  # the same callback, replayed: the code is spent
    replayed = client.get(callback, follow_redirects=False)
    assert replayed.status_code == 401 and "身份提供方未接受登录码" in replayed.text
    assert [e.details["why"] for e in _events(context, CustodyAction.USER_SIGN_IN_FAILED)] == ["oidc_code_refused"]


def test_a_callback_with_another_state_is_refused(client: TestClient, sso: OidcProvider) -> None:
    for state in ("forged", "%E4%B8%AD"):  # a non-ASCII state is refused like any other, not a 500
        callback = _at_provider(_start(client), "legal-chen")
        refused = client.get(re.sub(r"state=[^&]+", f"state={state}", callback), follow_redirects=False)
        assert refused.status_code == 400 and "登录状态不符" in refused.text
    assert "evault_session" not in client.cookies


def test_single_sign_on_is_absent_until_configured(client: TestClient) -> None:
    assert SSO_BUTTON not in client.get("/sign-in").text
    refused = client.get("/sign-in/oidc", follow_redirects=False)
    assert refused.status_code == 404 and 'data-testid="error-code">oidc_not_configured<' in refused.text
