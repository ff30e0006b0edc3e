"""The web app's foundation: sign-in, sessions, CSRF, headers, assets and languages (issue 13, "Sign-in")."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import select

from evault.app import create_app
from evault.web.i18n import read_catalog
from tests.web.conftest import LiveVault, WebPerson, csrf_of, sign_in
from vault.context import VaultContext
from vault.custody.models import CustodyEvent
from vault.db import utcnow
from vault.identities.models import Role, WebSession
from vault.identities.sign_in import SessionLimits, resume_web_session

WEB = Path(__file__).resolve().parents[2] / "evault" / "web"


def actions(context: VaultContext) -> list[str]:
    with context.sessions() as session:
        return list(session.scalars(select(CustodyEvent.action).order_by(CustodyEvent.log_index)))


def test_sign_in_sets_an_httponly_lax_cookie_and_logs_it(
    client: TestClient, person: Callable[..., WebPerson], context: VaultContext
) -> None:
    reviewer = person(Role.REVIEWER)
    form = client.get("/sign-in")
    answer = client.post("/sign-in", data={"name": reviewer.name, "password": reviewer.password,
                                           "csrf_token": csrf_of(form.text), "next": "/search"},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/search"
    cookie = answer.headers["set-cookie"]
    assert "evault_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http in this test; see the TLS test below
    assert "user:signed_in" in actions(context)
    home = client.get("/")
    assert home.status_code == 200 and "审核人员" in home.text


def test_a_wrong_password_is_refused_in_chinese_and_logged(
    client: TestClient, person: Callable[..., WebPerson], context: VaultContext
) -> None:
    reviewer = person(Role.REVIEWER)
    assert sign_in(client, reviewer.name, "not-the-password") == 401
    assert sign_in(client, "nobody-here", "whatever-it-is") == 401
    assert actions(context).count("user:sign_in_failed") == 2
    assert client.get("/", follow_redirects=False).headers["location"] == "/sign-in?next=/"


def test_repeated_failures_lock_the_account_even_for_the_right_password(
    client: TestClient, person: Callable[..., WebPerson], context: VaultContext
) -> None:
    # Issue 13: "Repeated failures lock the account for a while."
    approver = person(Role.APPROVER)
    for _ in range(context.settings.sign_in_max_failures):
        assert sign_in(client, approver.name, "wrong-password-1") == 401
    assert sign_in(client, approver.name, approver.password) == 429
    page = client.get("/sign-in")
    assert "user:locked" in actions(context) and page.status_code == 200


def test_the_session_ends_after_idle_time_and_at_its_absolute_limit(
    context: VaultContext, client: TestClient, person: Callable[..., WebPerson]
) -> None:
    officer = person(Role.OFFICER)
    assert sign_in(client, officer.name, officer.password) == 303
    secret = client.cookies["evault_session"]
    limits = SessionLimits(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
    start = utcnow()
    with context.sessions() as session:
        assert resume_web_session(session=session, secret=secret, now=start + timedelta(minutes=29),
                                  limits=limits) is not None
        session.commit()
        assert resume_web_session(session=session, secret=secret, now=start + timedelta(minutes=29 + 31),
                                  limits=limits) is None
        moment = start
        for _ in range(26):  # active every 29 minutes: never idle, but 12 hours is the most a session lasts
            moment += timedelta(minutes=29)
            alive = resume_web_session(session=session, secret=secret, now=moment, limits=limits)
            session.commit()
        assert alive is None


def test_sign_out_needs_the_csrf_token_then_ends_the_session_for_good(
    client: TestClient, person: Callable[..., WebPerson], context: VaultContext
) -> None:
    auditor = person(Role.AUDITOR)
    assert sign_in(client, auditor.name, auditor.password) == 303
    stolen = client.cookies["evault_session"]
    refused = client.post("/sign-out", data={}, follow_redirects=False)
    assert refused.status_code == 403 and 'data-testid="error-code">csrf_token_invalid<' in refused.text
    token = csrf_of(client.get("/").text)
    assert client.post("/sign-out", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    client.cookies.set("evault_session", stolen)  # the old cookie, replayed
    assert client.get("/", follow_redirects=False).status_code == 303
    assert "user:signed_out" in actions(context)
    with context.sessions() as session:
        assert session.scalar(select(WebSession.ended_at)) is not None


def test_a_sign_in_form_without_its_csrf_token_is_refused(client: TestClient, person: Callable[..., WebPerson]) -> None:
    officer = person(Role.OFFICER)
    client.get("/sign-in")
    answer = client.post("/sign-in", data={"name": officer.name, "password": officer.password})
    assert answer.status_code == 403 and "csrf_token_invalid" in answer.text


def test_the_cookie_is_secure_behind_tls(context: VaultContext, person: Callable[..., WebPerson]) -> None:
    officer = person(Role.OFFICER)
    with TestClient(create_app(context), base_url="https://vault.example") as tls:
        form = tls.get("/sign-in")
        answer = tls.post("/sign-in", data={"name": officer.name, "password": officer.password,
                                            "csrf_token": csrf_of(form.text)}, follow_redirects=False)
    assert "Secure" in answer.headers["set-cookie"]


def test_the_session_cookie_opens_content_routes_but_not_the_rest_of_the_api(
    client: TestClient, person: Callable[..., WebPerson]
) -> None:
    reviewer = person(Role.REVIEWER)
    assert sign_in(client, reviewer.name, reviewer.password) == 303
    # No such record: the cookie got the request past authentication to the grant check.
    assert client.get("/api/evidence/00000000-0000-0000-0000-000000000000/play").status_code == 404
    assert client.get("/api/me").json()["error"]["code"] == "unauthenticated"


def test_every_page_and_the_api_reference_load_nothing_from_outside(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    policy = docs.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    for template in (WEB / "templates").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r'(src|href)="(https?:)?//', text), template
        assert not re.search(r"<script>|<script [^>]*>[^<]", text), f"inline script in {template}"
        assert not re.search(r"\son[a-z]+=", text), f"inline event handler in {template}"
    for path in re.findall(r'(?:src|href)="(/static/[^"]+)"', docs.text):
        assert client.get(path).status_code == 200, path


def test_vendored_assets_match_their_manifest() -> None:
    vendor = WEB / "static" / "vendor"
    manifest = json.loads((vendor / "vendored.json").read_text())
    assert {entry["name"] for entry in manifest} >= {
        "htmx.org", "swagger-ui-dist", "tus-js-client", "hash-wasm", "chart.js"}
    for entry in manifest:
        assert entry["license"] and entry["version"] and entry["integrity"].startswith("sha512-")
        assert any(name.startswith("LICENSE") for name in entry["files"])
        for name, digest in entry["files"].items():
            assert hashlib.sha256((vendor / entry["name"] / name).read_bytes()).hexdigest() == digest


def _messages_in_code() -> set[str]:
    found = set()
    for folder, method_map in ((WEB, [("**.py", "python"), ("templates/**.html", "jinja2")]),
                               (WEB.parent / "statistics", [("**.py", "python")])):
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(folder), method_map=method_map, options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        ):
            found.update(text for text in (message if isinstance(message, tuple) else (message,)) if text)
    return found


def test_every_message_has_a_chinese_translation() -> None:
    catalog = read_catalog("zh_CN")
    missing = [text for text in _messages_in_code() if catalog.get(text) is None or not catalog[text].string]
    assert not missing, f"untranslated: {sorted(set(missing))}"


def test_no_translation_is_left_over_from_a_message_the_code_no_longer_has() -> None:
    used = _messages_in_code()
    assert not [message.id for message in read_catalog("zh_CN") if message.id and message.id not in used]


def test_each_message_is_translated_in_one_catalog_only() -> None:
    # Two page areas translating the same message would show it two ways, whichever catalog was read last.
    found: dict[str, list[str]] = {}
    for po_file in sorted((WEB / "locale" / "zh_CN" / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as handle:
            for message in read_po(handle, locale="zh_CN"):
                if message.id:
                    found.setdefault(str(message.id), []).append(po_file.stem)
    assert not {text: areas for text, areas in found.items() if len(areas) > 1}


def test_english_is_available(client: TestClient) -> None:
    client.get("/language/en?next=/sign-in")
    assert "User name" in client.get("/sign-in").text
    client.get("/language/zh_CN")
    assert "用户名" in client.get("/sign-in").text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil.example"])
def test_no_open_redirect_after_sign_in(client: TestClient, person: Callable[..., WebPerson], target: str) -> None:
    officer = person(Role.OFFICER)
    form = client.get("/sign-in")
    answer = client.post("/sign-in", data={"name": officer.name, "password": officer.password,
                                           "csrf_token": csrf_of(form.text), "next": target},
                         follow_redirects=False)
    assert answer.headers["location"] == "/"


def test_pages_run_under_the_csp_without_errors_in_chromium(
    browser: Browser, live_vault: LiveVault, person: Callable[..., WebPerson],
    signed_in: Callable[[Browser, WebPerson], object], screenshot: Callable[..., Path],
) -> None:
    reviewer = person(Role.REVIEWER, display_name="王审核")
    page = signed_in(browser, reviewer)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("response", lambda response: problems.append(response.url) if response.status >= 400 else None)
    page.reload()
    assert page.evaluate("typeof window.htmx") == "object"
    assert "王审核" in page.inner_text("[data-testid=person]")
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .info")
    assert not problems, problems  # no CSP violation, no missing asset (a 404 is a console error too)
