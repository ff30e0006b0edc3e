"""The retention policy editor and the holiday calendar (issue 14: "Retention policy editor", "Two-person queues").

A preview shows the difference and the records a change would keep for a shorter time, and saves nothing;
a change that shortens retention waits for a second person; the regulations' minimums cannot be undercut.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from retention.models import PolicyChangeRequest, PolicyVersion
from retention.policy import RetentionPolicy, add_years
from retention.service import current_policy, recompute_retention, set_policy
from tests.retention.conftest import put_record
from tests.web.conftest import LiveVault, WebPerson, csrf_of, sign_in
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.db import utcnow
from vault.identities.models import Role
from vault.storage.base import BlobStore

ZONE = ZoneInfo("Asia/Shanghai")
POLICY_ACTIONS = (CustodyAction.POLICY_CHANGED, CustodyAction.POLICY_CHANGE_REQUESTED)


@dataclass
class Cast:
    """The people of these tests: two records managers, an approver, and roles that may not change the policy."""

    manager: WebPerson
    second_manager: WebPerson
    approver: WebPerson
    officer: WebPerson
    reviewer: WebPerson
    auditor: WebPerson
    admin: WebPerson


@pytest.fixture
def cast(person: Callable[..., WebPerson]) -> Cast:
    """Return one person of each role the policy pages deal with."""
    return Cast(manager=person(Role.RECORDS_MANAGER, name="li.dang", display_name="李档"),
                second_manager=person(Role.RECORDS_MANAGER, name="chen.an", display_name="陈案"),
                approver=person(Role.APPROVER, name="zhao.lei", display_name="赵磊"),
                officer=person(Role.OFFICER, name="zhang.wei", certificate="13010001"),
                reviewer=person(Role.REVIEWER, name="wang.fang"),
                auditor=person(Role.AUDITOR, name="sun.jian"),
                admin=person(Role.ADMIN, name="root.ops"))


@pytest.fixture
def as_person(client: TestClient) -> Iterator[Callable[[WebPerson], TestClient]]:
    """Return a function giving each person a signed-in client of their own on the same app."""
    opened: list[TestClient] = []

    def open_for(who: WebPerson) -> TestClient:
        mine = TestClient(client.app, raise_server_exceptions=False)
        opened.append(mine)
        assert sign_in(mine, who.name, who.password) == 303
        return mine

    yield open_for
    for mine in opened:
        mine.close()


@dataclass
class Records:
    """Records made under an 8-year default; `earlier` is the set a cut back to 5 years moves earlier."""

    ids: dict[str, str]
    earlier: set[str]
    old_until: dict[str, datetime]
    new_until: dict[str, datetime]


def _made_records(context: VaultContext, store: BlobStore, cast: Cast) -> Records:
    """Raise the default to 8 years, then make records of each kind; compute which a 5-year default shortens."""
    now = utcnow()
    lock = now + timedelta(minutes=10)
    kinds = {"old_default": (now - timedelta(days=6 * 366), None),
             "young_default": (now - timedelta(days=400), None),
             "computed_default": (now - timedelta(days=400), None),
             "inspection": (now - timedelta(days=400), "inspection")}
    with context.sessions() as session:
        set_policy(session=session, actor=cast.manager.person.actor, changes={"default_years": 8},
                   effective_from=now, note="raised", now=now)
        made = {name: put_record(session, store, cast.officer.person, captured=captured, lock_until=lock,
                                 activity=activity) for name, (captured, activity) in kinds.items()}
        recompute_retention(session, made["computed_default"], now)
        ids = {name: str(record.id) for name, record in made.items()}
        session.commit()
    # Neither computed yet nor routine inspection: only these two follow the default down. The preview counts
    # from the change's effective moment, by which the short store lock may have run out.
    earlier = {"old_default", "young_default"}
    new_until = {name: max(add_years(kinds[name][0], 5), lock) for name in earlier}
    old_until = {name: add_years(kinds[name][0], 8) for name in earlier}
    return Records(ids=ids, earlier=earlier, old_until=old_until, new_until=new_until)


def _form(page: str, **changes: Any) -> dict[str, Any]:
    """Return the editor's fields as the page fills them, with some changed."""
    fields = dict(re.findall(r'<input name="(\w+)" value="([^"]*)" inputmode="numeric" required>', page))
    case_years = re.findall(r'name="case_years" value="([^"]*)" inputmode="numeric" data-case-type="(\w+)"', page)
    data: dict[str, Any] = {**fields, "csrf_token": csrf_of(page), "note": "按档案管理规定调整",
                            "case_type": [t for _, t in case_years], "case_years": [v for v, _ in case_years]}
    for name, value in changes.items():
        if name in data["case_type"]:
            data["case_years"][data["case_type"].index(name)] = value
        else:
            data[name] = value
    return data


def _counts(context: VaultContext) -> tuple[int, int, int]:
    with context.sessions() as session:
        return (session.scalar(select(func.count()).select_from(PolicyVersion)) or 0,
                session.scalar(select(func.count()).select_from(PolicyChangeRequest)) or 0,
                session.scalar(select(func.count()).select_from(CustodyEvent)
                               .where(CustodyEvent.action.in_([a.value for a in POLICY_ACTIONS]))) or 0)


def _policy(context: VaultContext) -> RetentionPolicy:
    with context.sessions() as session:
        return current_policy(session, utcnow())


def _preview(web: TestClient, **changes: Any) -> Any:
    page = web.get("/retention/policy").text
    return web.post("/retention/policy/preview", data=_form(page, **changes))


def _submit_fields(preview_html: str) -> dict[str, str]:
    form = preview_html[preview_html.index('action="/retention/policy"'):]
    fields = re.findall(r'name="(\w+)" value="([^"]*)"', form.split("</form>")[0])
    return {name: html.unescape(value) for name, value in fields}


def test_the_preview_lists_exactly_the_records_kept_for_less_and_saves_nothing(
        as_person: Callable[[WebPerson], TestClient], context: VaultContext, store: BlobStore, cast: Cast) -> None:
    records = _made_records(context, store, cast)
    before = _counts(context)
    # Two days ahead: the short store lock has run out by then whatever the time of day.
    later = (utcnow().astimezone(ZONE) + timedelta(days=2)).date().isoformat()
    web = as_person(cast.manager)
    answer = _preview(web, default_years="5", effective_date=later)
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert 'data-testid="preview"' in page and 'data-setting="default_years"' in page
    assert re.search(r'class="shorter" data-setting="default_years">.*?<del>8 年</del>.*?<ins>5 年</ins>', page, re.S)
    listed = set(re.findall(r'<tr data-evidence="([0-9a-f-]+)">', page))
    assert listed == {records.ids[name] for name in records.earlier}
    for name in records.earlier:
        row = page.split(f'<tr data-evidence="{records.ids[name]}">')[1].split("</tr>")[0]
        assert f'/evidence/{records.ids[name]}' in row
        old, new = row.split('class="old">')[1], row.split('class="new">')[1]
        assert old.startswith(records.old_until[name].astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S"))
        assert new.startswith(records.new_until[name].astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S"))
    old_row = page.split(f'<tr data-evidence="{records.ids["old_default"]}">')[1].split("</tr>")[0]
    assert 'data-testid="due-at-once"' in old_row
    assert "2 条记录" in page and "1 条将立即到期" in page
    assert 'data-testid="kept-by-promise"' in page  # the record computed under 8 years keeps its date
    assert _counts(context) == before
    assert _policy(context).default_years == 8


def test_a_lengthening_applies_at_once_and_a_shortening_waits_for_a_second_person(
        as_person: Callable[[WebPerson], TestClient], context: VaultContext, cast: Cast) -> None:
    web = as_person(cast.manager)
    longer = _preview(web, default_years="6", licensing="40")
    assert 'data-testid="lengthens"' in longer.text and 'data-testid="needs-approval"' not in longer.text
    done = web.post("/retention/policy", data=_submit_fields(longer.text), follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/retention/policy?done=applied"
    assert _counts(context)[:2] == (1, 0)
    assert _policy(context).case_file_years["licensing"] == 40

    shorter = _preview(web, default_years="5", note="回到法定最低")
    assert 'data-testid="needs-approval"' in shorter.text
    fields = _submit_fields(shorter.text)
    assert json.loads(fields["changes"]) == {"default_years": 5}
    waiting = web.post("/retention/policy", data=fields)
    assert 'data-testid="pending-change"' in waiting.text and "回到法定最低" in waiting.text
    assert _counts(context)[:2] == (1, 1) and _policy(context).default_years == 6

    request_id = re.findall(r'data-request="([0-9a-f-]+)"', waiting.text)[0]
    own = web.post(f"/retention/policy/requests/{request_id}/approve", data={"csrf_token": csrf_of(waiting.text)})
    assert own.status_code == 403 and "second person" in own.text and 'data-testid="refused"' in own.text
    assert _counts(context)[:2] == (1, 1)

    auditor = as_person(cast.auditor)
    token = csrf_of(auditor.get("/").text)
    refused = auditor.post(f"/retention/policy/requests/{request_id}/approve", data={"csrf_token": token})
    assert refused.status_code == 403 and _counts(context)[:2] == (1, 1)

    second = as_person(cast.approver)
    page = second.get("/retention/policy").text
    approved = second.post(f"/retention/policy/requests/{request_id}/approve", data={"csrf_token": csrf_of(page)})
    assert approved.status_code == 200 and 'data-testid="current-policy" data-version="2"' in approved.text
    assert _policy(context).default_years == 5 and "回到法定最低" in approved.text
    history = approved.text.split('data-testid="policy-history"')[1]
    assert "li.dang" in history and "审批人：zhao.lei" in history
    second.get("/language/en")
    english = second.get("/retention/policy").text
    assert "Version 2 in force since" in english and "approved by zhao.lei" in english


def test_the_regulations_minimum_is_refused_with_the_services_message(
        as_person: Callable[[WebPerson], TestClient], context: VaultContext, cast: Cast) -> None:
    web = as_person(cast.manager)
    answer = _preview(web, routine_inspection_months="3")
    assert answer.status_code == 422
    assert "statutory minimum of 6" in answer.text and 'data-testid="preview"' not in answer.text
    assert _counts(context) == (0, 0, 0)
    unchanged = _preview(web)
    assert unchanged.status_code == 422 and "没有任何改动" in unchanged.text


def test_a_shorter_reminder_shortens_no_retention_and_applies_directly(
        as_person: Callable[[WebPerson], TestClient], context: VaultContext, cast: Cast) -> None:
    web = as_person(cast.manager)
    answer = _preview(web, reminder_days="10")
    assert 'class="shorter" data-setting="reminder_days"' in answer.text
    assert 'data-testid="needs-approval"' not in answer.text and "提交后即施行" in answer.text
    web.post("/retention/policy", data=_submit_fields(answer.text))
    assert _counts(context)[:2] == (1, 0) and _policy(context).reminder_days == 10
    typed = _preview(web, default_years="七")
    assert typed.status_code == 422 and "default_years must be a whole number" in typed.text


def test_a_rejected_change_leaves_the_policy(as_person: Callable[[WebPerson], TestClient], context: VaultContext,
                                             cast: Cast) -> None:
    now = utcnow()
    with context.sessions() as session:
        set_policy(session=session, actor=cast.manager.person.actor, changes={"default_years": 7},
                   effective_from=now, note="raised", now=now)
        asked = set_policy(session=session, actor=cast.manager.person.actor, changes={"default_years": 5},
                           effective_from=now, note="cut", now=now)
        asked_id = asked.id
        session.commit()
    web = as_person(cast.second_manager)
    page = web.get("/retention/policy").text
    rejected = web.post(f"/retention/policy/requests/{asked_id}/reject",
                        data={"csrf_token": csrf_of(page), "reason": "不符合档案管理规定"})
    assert rejected.status_code == 200 and "已驳回" in rejected.text
    assert 'data-testid="pending-change"' not in rejected.text
    assert _policy(context).default_years == 7


@pytest.mark.parametrize("role", ["officer", "reviewer", "auditor", "admin"])
def test_roles_that_may_not_change_the_policy_are_refused(
        as_person: Callable[[WebPerson], TestClient], context: VaultContext, cast: Cast, role: str) -> None:
    manager = as_person(cast.manager)
    editor = manager.get("/retention/policy").text
    web = as_person(getattr(cast, role))
    token = csrf_of(web.get("/").text)
    form = {**_form(editor, default_years="9"), "csrf_token": token}
    assert web.post("/retention/policy/preview", data=form).status_code == 403
    submit = {"csrf_token": token, "changes": '{"default_years": 9}', "note": "x"}
    assert web.post("/retention/policy", data=submit).status_code == 403
    assert _counts(context) == (0, 0, 0)
    view = web.get("/retention/policy")
    assert view.status_code == (200 if role in ("reviewer", "auditor") else 403)
    assert 'data-testid="editor"' not in view.text


def test_the_holiday_calendar_loads_a_year_and_refuses_bad_notices(
        as_person: Callable[[WebPerson], TestClient], cast: Cast) -> None:
    notice = {"year": 2031, "source": "国务院办公厅关于2031年部分节假日安排的通知",
              "holidays": ["2031-01-01", "2031-01-22..2031-01-28"], "working_days": ["2031-01-19"]}
    web = as_person(cast.manager)
    page = web.get("/retention/policy/calendar").text
    assert 'data-year="2025"' in page
    loaded = web.post("/retention/policy/calendar", data={"csrf_token": csrf_of(page), "notice": json.dumps(notice)})
    assert loaded.status_code == 200 and 'data-testid="calendar-year" data-year="2031"' in loaded.text
    assert "2031-01-19" in loaded.text and "li.dang" in loaded.text
    bad = web.post("/retention/policy/calendar", data={"csrf_token": csrf_of(page), "notice": "{"})
    assert bad.status_code == 422 and "not valid JSON" in bad.text
    officer = as_person(cast.officer)
    token = csrf_of(officer.get("/retention/policy/calendar").text)
    assert officer.post("/retention/policy/calendar", data={"csrf_token": token,
                                                            "notice": json.dumps(notice)}).status_code == 403


def test_a_shortening_is_previewed_submitted_and_approved_in_the_browser(
        browser: Browser, signed_in: Callable[[Browser, WebPerson], Any], live_vault: LiveVault, store: BlobStore,
        context: VaultContext, cast: Cast, screenshot: Callable[..., Any]) -> None:
    records = _made_records(context, store, cast)
    page = signed_in(browser, cast.manager)
    page.goto("/retention/policy")
    page.fill("input[name=default_years]", "5")
    page.fill("textarea[name=note]", "默认保存期限回到法定最低五年")
    page.click("[data-testid=preview-button]")
    expect(page.get_by_test_id("preview")).to_be_visible()
    expect(page.get_by_test_id("policy-diff").locator("tr.shorter")).to_have_count(1)
    expect(page.get_by_test_id("shortened-records").locator("tbody tr")).to_have_count(len(records.earlier))
    screenshot(page, "policy-preview")
    page.click("[data-testid=submit]")
    expect(page.get_by_test_id("pending-change")).to_have_count(1)

    second = signed_in(browser, cast.second_manager)
    second.goto("/retention/policy")
    second.get_by_test_id("pending-change").get_by_test_id("approve").click()
    expect(second.get_by_test_id("done")).to_be_visible()
    expect(second.get_by_test_id("current-policy")).to_have_attribute("data-version", "2")
    expect(second.locator("[data-class=default] .period")).to_contain_text("5")
    expect(second.get_by_test_id("pending-change")).to_have_count(0)

    second.goto("/retention/policy/calendar?year=2025")
    expect(second.get_by_test_id("calendar-year")).to_contain_text("2025-01-28")
    screenshot(second, "policy-calendar")
