"""Retention in the browser (issue 14): the dashboard, legal holds and the two-person disposal queue, with the
pages' clock moved past retention and through the recovery window."""

from __future__ import annotations

import html
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Locator, Page, expect

from evault.app import create_app
from evault.web.clock import current_time
from retention.recovery import destroy_due
from retention.sweep import retention_sweep
from tests.conftest import serve_app
from tests.retention.conftest import Clock, put_record
from tests.web.conftest import LiveVault, WebPerson, csrf_of, sign_in
from vault.cases.models import CaseStatus, CaseType
from vault.cases.service import add_case, change_case_status
from vault.context import VaultContext
from vault.db import utcnow
from vault.errors import NotFound
from vault.identities.actor import SYSTEM
from vault.identities.models import Role


@pytest.fixture
def clock() -> Clock:
    """Return the pages' clock, starting now; a test moves it by hand."""
    return Clock(utcnow().replace(microsecond=0))



@pytest.fixture
def live_vault(context: VaultContext, clock: Clock) -> Iterator[LiveVault]:
    """Serve the vault with its pages on the test's clock (the only process edge these tests move)."""
    app = create_app(context)
    app.dependency_overrides[current_time] = clock
    for url in serve_app(context, app):
        yield LiveVault(url=url, context=context)


def record(context: VaultContext, officer: WebPerson, *, captured: datetime, lock: datetime,
           activity: str | None = "inspection") -> uuid.UUID:
    """Store a record (routine inspection by default) captured at `captured`, locked at the store until `lock`."""
    with context.sessions() as session:
        made = put_record(session, context.store, officer.person, captured=captured, lock_until=lock,
                          activity=activity)
        session.commit()
        return made.id


def still_stored(context: VaultContext, evidence_id: uuid.UUID) -> bool:
    """Return whether the record's original is still at the store."""
    from vault.evidence.models import Evidence

    with context.sessions() as session:
        evidence = session.get(Evidence, evidence_id)
        assert evidence is not None
        try:
            context.store.stat(evidence.storage_key, evidence.version_id)
        except NotFound:
            return False
        return True


def row(page: Page, testid: str, evidence_id: uuid.UUID) -> Locator:
    """Return the table row of one record in a section."""
    return page.locator(f"[data-testid={testid}][data-evidence='{evidence_id}']")


def test_a_hold_placed_and_released_on_a_record_shows_on_the_dashboard(
    browser: Browser, live_vault: LiveVault, person: Callable[..., WebPerson],
    signed_in: Callable[[Browser, WebPerson], Page], screenshot: Callable[[Page, str], Path],
) -> None:
    officer = person(Role.OFFICER, certificate="14010219001")
    manager = person(Role.RECORDS_MANAGER, name="chen.dang", display_name="陈档案")
    now = utcnow()
    held = record(live_vault.context, officer, captured=now - timedelta(days=1), lock=now + timedelta(days=1))
    page = signed_in(browser, manager)
    page.goto("/retention/holds")
    page.fill("[data-testid=place-hold] input[name=target]", str(held))
    page.fill("[data-testid=place-hold] textarea[name=reason]", "行政复议申请：当事人对现场检查提出异议")
    page.get_by_test_id("place").click()
    expect(page.get_by_test_id("done")).to_be_visible()
    active = page.locator(f"[data-testid=active-hold]:has(code:text-is('{held}'))")
    expect(active).to_contain_text("行政复议申请")
    screenshot(page, "retention-holds")

    page.goto("/retention")
    expect(row(page, "held-line", held)).to_contain_text("行政复议申请")
    page.goto("/retention/holds")
    active.locator("input[name=reason]").fill("复议机关已作出决定，解除保全")
    active.get_by_test_id("release").click()
    expect(page.get_by_test_id("no-active-holds")).to_be_visible()
    expect(page.get_by_test_id("released-hold")).to_contain_text("复议机关已作出决定，解除保全")
    page.goto("/retention")
    expect(row(page, "held-line", held)).to_have_count(0)


def test_two_people_dispose_after_the_clock_passes_retention_one_cancelled_in_its_recovery_window(
    browser: Browser, live_vault: LiveVault, clock: Clock, person: Callable[..., WebPerson],
    signed_in: Callable[[Browser, WebPerson], Page], screenshot: Callable[[Page, str], Path],
) -> None:
    context = live_vault.context
    officer = person(Role.OFFICER, certificate="14010219002")
    first = person(Role.RECORDS_MANAGER, name="chen.dang", display_name="陈档案")
    second = person(Role.RECORDS_MANAGER, name="lin.dang", display_name="林档案")
    approver = person(Role.APPROVER, name="li.pi", display_name="李审批")
    # Routine inspection footage (6 months): captured 200 days ago, its retention ends about 18 days ago in real
    # time; the store's own lock ends in 2 s, so the store (local or RGW) may delete it once the window is over.
    real = utcnow()
    kept, destroyed = (record(context, officer, captured=real - timedelta(days=200), lock=real + timedelta(seconds=2))
                       for _ in range(2))
    coming = record(context, officer, captured=real - timedelta(days=175), lock=real + timedelta(days=1))
    with context.sessions() as session:  # two closed cases waiting to be archived, one of them overdue
        for number, closed in (("阜应急罚字〔2026〕31号", real - timedelta(days=60)),
                               ("阜应急罚字〔2026〕35号", real - timedelta(days=3))):
            case = add_case(session=session, actor=SYSTEM, case_number=number,
                            case_type=CaseType.GENERAL_PROCEDURE_PENALTY, opened_at=closed - timedelta(days=20))
            change_case_status(session=session, actor=SYSTEM, case=case, status=CaseStatus.CLOSED, now=closed)
        session.commit()
    clock.now = real - timedelta(days=20)
    retention_sweep(context, now=clock.now)  # the scheduler's sweep, on the same clock
    page = signed_in(browser, first)
    page.goto("/retention")
    expect(row(page, "coming-line", kept)).to_be_visible()
    expect(row(page, "due-line", kept)).to_have_count(0)

    while utcnow() <= real + timedelta(seconds=2.2):
        time.sleep(0.2)
    clock.now = real + timedelta(minutes=1)  # past retention
    retention_sweep(context, now=clock.now)
    page.goto("/retention")
    for evidence_id in (kept, destroyed):
        expect(row(page, "due-line", evidence_id)).to_be_visible()
    expect(row(page, "coming-line", coming)).to_be_visible()
    expect(page.get_by_test_id("archiving-line")).to_have_count(2)
    screenshot(page, "retention-dashboard")
    for evidence_id in (kept, destroyed):
        due = page.locator(f"[data-testid=due-line][data-evidence='{evidence_id}']")
        due.locator("input[name=reason]").fill("日常检查录像保存期满，无争议")
        due.get_by_test_id("propose").click()
        expect(page.get_by_test_id("done")).to_be_visible()
        page.goto("/retention")
    page.goto("/retention/queues")
    mine = page.locator(f"[data-testid=pending-disposal][data-evidence='{kept}']")
    expect(mine.get_by_test_id("own-proposal")).to_be_visible()
    mine.get_by_test_id("approve-disposal").click()
    expect(page.get_by_test_id("error")).to_contain_text("second person")  # the service's refusal, shown

    for who, evidence_id in ((second, kept), (approver, destroyed)):
        other = signed_in(browser, who)
        other.goto("/retention")
        expect(other.get_by_test_id("for-approval")).to_contain_text("2" if who is second else "1")
        other.goto("/retention/queues")
        other.locator(f"[data-testid=pending-disposal][data-evidence='{evidence_id}']").get_by_test_id(
            "approve-disposal").click()
        expect(other.get_by_test_id("done")).to_be_visible()
    expect(other.get_by_test_id("cancel-disposal")).to_have_count(0)  # an approver approves, never cancels

    page.goto("/retention/queues")
    window = page.locator(f"[data-testid=recovery-window][data-evidence='{kept}']")
    expect(window.get_by_test_id("countdown")).to_contain_text("6 天 23 小时 59 分")  # 7 days, ticking live
    screenshot(page, "retention-queues")

    clock.advance(days=3)  # inside the 7-day window
    page.reload()
    window.locator("input[name=reason]").fill("当事人申请行政复议，继续保存")
    window.get_by_test_id("cancel-disposal").click()
    expect(page.locator(f"[data-testid=closed-disposal][data-evidence='{kept}']")).to_contain_text("当事人申请行政复议")
    clock.advance(days=5)  # past the window of the other one
    summary = destroy_due(context, now=clock.now)  # the scheduler's destruction job
    assert summary.outcomes.get("disposed") == 1

    page.goto("/retention/queues")
    page.locator(f"[data-testid=executed-disposal][data-evidence='{destroyed}']").get_by_test_id(
        "certificate-link").click()
    expect(page.get_by_test_id("certificate-evidence")).to_have_text(str(destroyed))
    expect(page.get_by_test_id("signature-ok")).to_be_visible()
    expect(page.get_by_test_id("store-result")).to_contain_text("deleted")
    assert not still_stored(context, destroyed)
    assert still_stored(context, kept)
    answer = page.goto(f"/evidence/{kept}")
    assert answer is not None and answer.status == 200
    expect(page.locator("main")).to_contain_text("DSCF0001.MP4")


# TestClient tests: refusals per role, the two-person rule's message, provisional archiving deadlines.

@pytest.fixture
def clocked_client(client: TestClient, clock: Clock) -> TestClient:
    """Return the client with its pages on the test's clock."""
    client.app.dependency_overrides[current_time] = clock
    return client


def _as(client: TestClient, who: WebPerson) -> str:
    client.cookies.clear()
    assert sign_in(client, who.name, who.password) == 303
    return csrf_of(client.get("/").text)


def _due_record_with_request(context: VaultContext, clock: Clock, officer: WebPerson,
                             manager: WebPerson) -> tuple[uuid.UUID, uuid.UUID]:
    from retention.disposition import propose_disposal

    real = utcnow()
    evidence_id = record(context, officer, captured=real - timedelta(days=400), lock=real + timedelta(days=1))
    clock.now = real + timedelta(days=2)  # past the store's lock too: the proposal's guards all pass
    with context.sessions() as session:
        proposed = propose_disposal(session=session, actor=manager.person.actor, evidence_id=evidence_id,
                                    reason="保存期满", now=clock.now, store=context.store)
        session.commit()
        return evidence_id, proposed.id


def test_wrong_roles_are_refused_per_role(clocked_client: TestClient, context: VaultContext, clock: Clock,
                                          person: Callable[..., WebPerson]) -> None:
    client = clocked_client
    cast = {role: person(role) for role in Role}
    evidence_id, request_id = _due_record_with_request(context, clock, cast[Role.OFFICER], cast[Role.RECORDS_MANAGER])
    for role in (Role.OFFICER, Role.ADMIN):
        _as(client, cast[role])
        for path in ("/retention", "/retention/holds", "/retention/queues"):
            assert client.get(path).status_code == 403, (role, path)
    for role in (Role.REVIEWER, Role.AUDITOR):
        _as(client, cast[role])
        assert client.get("/retention").status_code == 200  # they may read what is kept; they change nothing
    for role in (Role.OFFICER, Role.REVIEWER, Role.AUDITOR, Role.APPROVER, Role.ADMIN):
        token = _as(client, cast[role])
        hold = client.post("/retention/holds", data={"csrf_token": token, "scope": "record",
                                                     "target": str(evidence_id), "reason": "复议"})
        propose = client.post("/retention/disposals", data={"csrf_token": token, "evidence_id": str(evidence_id),
                                                            "reason": "保存期满"})
        cancel = client.post(f"/retention/disposals/{request_id}/cancel", data={"csrf_token": token,
                                                                                "reason": "继续保存"})
        assert (hold.status_code, propose.status_code, cancel.status_code) == (403, 403, 403), role
    for role in (Role.OFFICER, Role.REVIEWER, Role.AUDITOR, Role.ADMIN):
        token = _as(client, cast[role])
        approve = client.post(f"/retention/disposals/{request_id}/approve", data={"csrf_token": token})
        assert approve.status_code == 403, role
    token = _as(client, cast[Role.RECORDS_MANAGER])
    assert client.post(f"/retention/disposals/{request_id}/approve").status_code == 403  # no CSRF token
    queues = client.get("/retention/queues")
    assert f'data-request="{request_id}"' in queues.text  # still waiting: nothing above changed it


def test_the_proposer_cannot_approve_and_sees_why(clocked_client: TestClient, context: VaultContext, clock: Clock,
                                                   person: Callable[..., WebPerson]) -> None:
    client = clocked_client
    officer, manager = person(Role.OFFICER, certificate="14010219003"), person(Role.RECORDS_MANAGER)
    _, request_id = _due_record_with_request(context, clock, officer, manager)
    token = _as(client, manager)
    refused = client.post(f"/retention/disposals/{request_id}/approve", data={"csrf_token": token})
    assert refused.status_code == 403
    assert "a disposal must be approved by a second person, not the one who proposed it" in html.unescape(refused.text)
    assert 'data-testid="own-proposal"' in refused.text
    assert client.get("/retention/queues").text.count('data-testid="pending-disposal"') == 1  # still waiting

    other = record(context, officer, captured=clock.now - timedelta(days=1), lock=clock.now)
    for to_class, reason in (("long_term", "当事人阻挠执法"), ("routine_inspection", "实为日常检查")):
        answer = client.post("/retention/reclassifications", data={
            "csrf_token": token, "evidence_id": str(other), "to_class": to_class, "reason": reason},
            follow_redirects=False)
        assert answer.status_code == 303  # longer: at once; then shorter: it waits for a second person
    queues = client.get("/retention/queues").text
    request_id = re.search(r'data-testid="pending-reclassification" data-request="([^"]+)"', queues)
    assert request_id
    refused = client.post(f"/retention/reclassifications/{request_id.group(1)}/approve", data={"csrf_token": token})
    assert refused.status_code == 403
    assert "shortening a retention must be approved by a second person" in html.unescape(refused.text)


def test_archiving_deadlines_are_provisional_where_the_calendar_lacks_the_year(
    clocked_client: TestClient, context: VaultContext, clock: Clock, person: Callable[..., WebPerson],
) -> None:
    client = clocked_client
    manager = person(Role.RECORDS_MANAGER)
    with context.sessions() as session:
        for number, closed in (("阜应急罚字〔2025〕7号", datetime(2025, 3, 3, 2, tzinfo=UTC)),
                               ("阜应急罚字〔2150〕8号", datetime(2150, 3, 2, 2, tzinfo=UTC))):
            case = add_case(session=session, actor=SYSTEM, case_number=number,
                            case_type=CaseType.GENERAL_PROCEDURE_PENALTY, opened_at=closed - timedelta(days=30))
            change_case_status(session=session, actor=SYSTEM, case=case, status=CaseStatus.CLOSED, now=closed)
        session.commit()
    _as(client, manager)
    clock.now = datetime(2025, 6, 3, 2, tzinfo=UTC)
    page = client.get("/retention").text
    line_2025 = re.search(r'<tr data-testid="archiving-line"[^>]*>.*?阜应急罚字〔2025〕7号.*?</tr>', page, re.S)
    assert line_2025 and "暂定" not in line_2025.group(0)
    assert "个工作日" in line_2025.group(0)  # overdue by working days
    clock.now = datetime(2150, 6, 1, 2, tzinfo=UTC)
    page = client.get("/retention").text
    line_2150 = re.search(r'<tr data-testid="archiving-line"[^>]*>.*?阜应急罚字〔2150〕8号.*?</tr>', page, re.S)
    assert line_2150 and "暂定" in line_2150.group(0)
    assert "no holiday calendar for 2150" in html.unescape(line_2150.group(0))


def test_an_approver_sees_what_waits_for_them(clocked_client: TestClient, context: VaultContext, clock: Clock,
                                              person: Callable[..., WebPerson]) -> None:
    client = clocked_client
    officer, manager = person(Role.OFFICER, certificate="14010219004"), person(Role.RECORDS_MANAGER)
    approver: WebPerson = person(Role.APPROVER)
    _due_record_with_request(context, clock, officer, manager)
    _as(client, approver)
    home = client.get("/retention").text
    assert 'href="/retention"' in home  # in the approver's top bar
    assert "1 项销毁申请" in home
    queues = client.get("/retention/queues").text
    assert 'data-testid="approve-disposal"' in queues and 'data-testid="cancel-disposal"' not in queues



def test_a_hold_on_a_whole_case_needs_a_reason_and_covers_every_record(
    clocked_client: TestClient, context: VaultContext, clock: Clock, person: Callable[..., WebPerson],
) -> None:
    client = clocked_client
    officer, manager = person(Role.OFFICER, certificate="14010219005"), person(Role.RECORDS_MANAGER)
    with context.sessions() as session:
        case = add_case(session=session, actor=SYSTEM, case_number="阜应急罚字〔2026〕40号",
                        case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
        made = [put_record(session, context.store, officer.person, captured=clock.now - timedelta(days=1),
                           lock_until=clock.now + timedelta(days=1), case=case) for _ in range(2)]
        session.commit()
        ids = [m.id for m in made]
    token = _as(client, manager)
    form = {"csrf_token": token, "scope": "case", "target": "阜应急罚字[2026]40号"}
    blank = client.post("/retention/holds", data=form | {"reason": "  "})
    assert blank.status_code == 422 and "a reason" in blank.text  # refused on the form, nothing placed
    assert 'data-testid="no-active-holds"' in blank.text
    placed = client.post("/retention/holds", data=form | {"reason": "行政诉讼：法院调取证据"}, follow_redirects=False)
    assert placed.status_code == 303
    holds = client.get("/retention/holds").text
    assert "整个案件" in holds and "阜应急罚字〔2026〕40号" in holds
    dashboard = client.get("/retention").text
    for evidence_id in ids:
        assert f'data-testid="held-line" data-evidence="{evidence_id}"' in dashboard
    unknown = client.post("/retention/holds", data=form | {"target": "阜应急罚字〔2026〕99号", "reason": "复议"})
    assert unknown.status_code == 404 and "99号" in unknown.text
