"""Browser tests: a real vault served by uvicorn, driven by Playwright in Debian's Chromium."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.conftest import Person, serve_app
from vault.context import VaultContext
from vault.db import utcnow
from vault.identities.actor import SYSTEM
from vault.identities.models import Role
from vault.identities.sign_in import set_password

CHROMIUM = os.environ.get("EVAULT_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "images" / "web"
PASSWORD = "correct-horse-电池-staple"


def csrf_of(html: str) -> str:
    """Return the CSRF token of the first form in a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the form carries no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str) -> int:
    """Sign in through the form without a browser; return the status (303 when signed in)."""
    form = client.get("/sign-in")
    answer = client.post("/sign-in", data={"name": name, "password": password, "csrf_token": csrf_of(form.text),
                                           "next": "/"}, follow_redirects=False)
    return answer.status_code


@dataclass
class LiveVault:
    """A vault served on a local port, with its context for setting up data directly."""

    url: str
    context: VaultContext


@dataclass
class WebPerson:
    """A test user who can sign in to the web app and also call the API with a token."""

    person: Person
    password: str

    @property
    def name(self) -> str:
        """Return the sign-in name."""
        return self.person.user.name

    @property
    def headers(self) -> dict[str, str]:
        """Return the API Authorization header."""
        return self.person.headers


@pytest.fixture
def live_vault(context: VaultContext) -> Iterator[LiveVault]:
    """Serve the test's vault on a free local port."""
    for url in serve_app(context):
        yield LiveVault(url=url, context=context)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """Start Playwright once for the session."""
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Launch Debian's Chromium headless (Playwright's own browser download is not reachable here)."""
    launched = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield launched
    launched.close()


@pytest.fixture
def person(make_person: Callable[..., Person], context: VaultContext) -> Callable[..., WebPerson]:
    """Create a user of a role with a password (and a token), committed."""

    def make(role: Role, *, name: str | None = None, certificate: str | None = None,
             display_name: str | None = None) -> WebPerson:
        made = make_person(role, name=name, certificate=certificate)
        with context.sessions() as session:
            user = session.merge(made.user)
            if display_name:
                user.display_name = display_name
            set_password(session=session, actor=SYSTEM, user=user, password=PASSWORD, now=utcnow())
            session.commit()
        return WebPerson(person=made, password=PASSWORD)

    return make


@pytest.fixture
def signed_in(live_vault: LiveVault) -> Iterator[Callable[[Browser, WebPerson], Page]]:
    """Open a new browser context and sign a person in through the form; return the page on the home page."""
    opened = []

    def sign_in(browser: Browser, who: WebPerson) -> Page:
        browser_context = browser.new_context(base_url=live_vault.url, locale="zh-CN", timezone_id="Asia/Shanghai")
        opened.append(browser_context)
        page = browser_context.new_page()
        page.goto("/sign-in")
        page.fill("input[name=name]", who.name)
        page.fill("input[name=password]", who.password)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/$"))
        return page

    yield sign_in
    for browser_context in opened:
        browser_context.close()


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Page, str], Path]:
    """Take a full-page screenshot; with EVAULT_UPDATE_SCREENSHOTS=1 it replaces docs/images/web/<name>.png."""

    def take(page: Page, name: str) -> Path:
        folder = SCREENSHOTS if os.environ.get("EVAULT_UPDATE_SCREENSHOTS") == "1" else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
