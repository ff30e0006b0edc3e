"""Administrator pages (issue 14, "Administrator"): users, tokens, handler certificates, jobs and health."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from evault.leases import SUCCEEDED
from evault.web.clock import current_time
from retention.models import JobLease
from tests.web.conftest import PASSWORD, LiveVault, WebPerson, csrf_of, sign_in
from vault.context import VaultContext
from vault.db import utcnow
from vault.identities.models import Role
from vault.identities.service import HANDLER_CSV_SAMPLE

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PAGES = ["/admin/users", "/admin/handlers", "/admin/handlers/sample.csv", "/admin/jobs", "/admin/health"]
NEW_PASSWORD = "新的-口令-horse-42"


def _admin_client(client: TestClient, person: Callable[..., WebPerson]) -> tuple[WebPerson, str]:
    admin = person(Role.ADMIN, name="admin-web")
    assert sign_in(client, admin.name, admin.password) == 303
    return admin, csrf_of(client.get("/admin/users").text)


def _switch(client: TestClient, who: str, password: str) -> int:
    client.cookies.clear()
    return sign_in(client, who, password)


def test_admin_disables_a_user_whose_session_ends_at_once(
    browser: Browser, live_vault: LiveVault, person: Callable[..., WebPerson],
    signed_in: Callable[[Browser, WebPerson], Page], screenshot: Callable[[Page, str], Path],
) -> None:
    admin = person(Role.ADMIN, display_name="系统管理员")
    officer = person(Role.OFFICER, name="zhang.wei", display_name="张伟", certificate="65230219101")
    officer_page = signed_in(browser, officer)
    officer_page.goto("/access/mine")
    expect(officer_page.get_by_test_id("person")).to_contain_text("张伟")

    admin_page = signed_in(browser, admin)
    admin_page.goto("/admin/users")
    row = admin_page.locator("tr[data-user='zhang.wei']")
    expect(row.locator("td").nth(5)).to_have_text("65230219101")
    screenshot(admin_page, "admin-users")
    row.locator("input[name=reason]").fill("离职")
    row.get_by_test_id("disable").click()
    expect(admin_page.get_by_test_id("done")).to_be_visible()
    expect(admin_page.locator("tr[data-user='zhang.wei']").get_by_test_id("state")).to_have_text("已停用")

    officer_page.goto("/access/mine")
    expect(officer_page).to_have_url(re.compile(r"/sign-in"))



def test_admin_imports_the_sample_and_reads_the_jobs_in_the_browser(
    browser: Browser, live_vault: LiveVault, person: Callable[..., WebPerson], tmp_path: Path,
    signed_in: Callable[[Browser, WebPerson], Page], screenshot: Callable[[Page, str], Path],
) -> None:
    now = utcnow()
    with live_vault.context.sessions() as session:
        session.add(JobLease(job_name="fixity_audit", slot=1, attempt=1, worker="vault-01:4242",
                             started_at=now - timedelta(minutes=30), finished_at=now - timedelta(minutes=29),
                             outcome=SUCCEEDED, summary={"checked": 1284, "mismatches": 0}))
        session.add(JobLease(job_name="lock_reconciliation", slot=1, attempt=1, worker="vault-02:77",
                             started_at=now - timedelta(hours=3), finished_at=now - timedelta(hours=3),
                             outcome="failed", summary={"error": "StorageError", "message": "存储桶不可达"}))
        session.commit()
    page = signed_in(browser, person(Role.ADMIN, display_name="系统管理员"))
    page.goto("/admin/handlers")
    sample = tmp_path / "handlers-sample.csv"
    sample.write_text(HANDLER_CSV_SAMPLE, encoding="utf-8")
    page.set_input_files("input[name=csv_file]", str(sample))
    page.get_by_test_id("import").locator("button[type=submit]").click()
    expect(page.get_by_test_id("imported")).to_contain_text("已导入 2 名")
    expect(page.locator("tr[data-certificate='65230219002']")).to_contain_text("古丽娜尔·艾力")
    screenshot(page, "admin-handlers")

    page.goto("/admin/jobs")
    expect(page.locator("tr[data-job='fixity_audit']").get_by_test_id("summary")).to_contain_text('"checked": 1284')
    expect(page.locator("tr[data-job='lock_reconciliation']").get_by_test_id("state")).to_have_text("失败")
    screenshot(page, "admin-jobs")

def test_created_user_signs_in_and_a_role_change_shows_in_their_top_bar(
    client: TestClient, person: Callable[..., WebPerson],
) -> None:
    admin, csrf = _admin_client(client, person)
    answer = client.post("/admin/users", data={
        "csrf_token": csrf, "name": "li.na", "display_name": "李娜", "role": "officer",
        "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}, follow_redirects=False)
    assert answer.status_code == 303
    differ = client.post("/admin/users", data={"csrf_token": csrf, "name": "wang.fang", "role": "officer",
                                               "password": NEW_PASSWORD, "password_again": NEW_PASSWORD + "x"})
    assert differ.status_code == 422 and "两次输入的密码不一致" in differ.text
    assert "wang.fang" not in client.get("/admin/users").text

    assert _switch(client, "li.na", NEW_PASSWORD) == 303
    assert 'href="/upload"' in client.get("/").text and 'href="/retention"' not in client.get("/").text

    _switch(client, admin.name, admin.password)
    csrf = csrf_of(client.get("/admin/users").text)
    changed = client.post("/admin/users/li.na/role", data={"csrf_token": csrf, "role": "records_manager"})
    assert changed.status_code == 200 and "角色已更改" in changed.text
    _switch(client, "li.na", NEW_PASSWORD)
    home = client.get("/").text
    assert 'href="/retention"' in home and 'href="/upload"' not in home


def test_an_admin_may_not_change_their_own_role(client: TestClient, person: Callable[..., WebPerson]) -> None:
    admin, csrf = _admin_client(client, person)
    refused = client.post(f"/admin/users/{admin.name}/role", data={"csrf_token": csrf, "role": "auditor"})
    assert refused.status_code == 409 and "may not change their own role" in refused.text



def test_a_disabled_user_cannot_sign_in_until_enabled_and_an_admin_cannot_disable_themselves(
    client: TestClient, person: Callable[..., WebPerson],
) -> None:
    reviewer = person(Role.REVIEWER, name="wang.shen")
    admin, csrf = _admin_client(client, person)
    assert client.post("/admin/users/wang.shen/disable", data={"csrf_token": csrf, "reason": "调离"}).status_code == 200
    assert client.get("/api/me", headers=reviewer.headers).status_code == 401
    itself = client.post(f"/admin/users/{admin.name}/disable", data={"csrf_token": csrf})
    assert itself.status_code == 409 and "may not disable their own account" in itself.text
    assert _switch(client, reviewer.name, reviewer.password) != 303
    _switch(client, admin.name, admin.password)
    csrf = csrf_of(client.get("/admin/users").text)
    enabled = client.post("/admin/users/wang.shen/enable", data={"csrf_token": csrf})
    assert enabled.status_code == 200 and "用户已重新启用" in enabled.text
    assert _switch(client, reviewer.name, reviewer.password) == 303

def test_reset_password_lifts_a_lockout(client: TestClient, person: Callable[..., WebPerson]) -> None:
    officer = person(Role.OFFICER, name="locked.out")
    for _attempt in range(5):
        assert sign_in(client, officer.name, "wrong-password-123") != 303
    assert sign_in(client, officer.name, officer.password) != 303
    _admin, csrf = _admin_client(client, person)
    assert "锁定至" in client.get("/admin/users").text
    reset = client.post("/admin/users/locked.out/password", data={
        "csrf_token": csrf, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert reset.status_code == 200 and "锁定已解除" in reset.text
    assert _switch(client, officer.name, NEW_PASSWORD) == 303


def test_a_token_is_shown_once_works_and_stops_when_revoked(
    client: TestClient, person: Callable[..., WebPerson],
) -> None:
    officer = person(Role.OFFICER, name="token.user")
    _admin, csrf = _admin_client(client, person)
    issued = client.post("/admin/users/token.user/tokens", data={"csrf_token": csrf, "label": "巡检脚本"})
    assert issued.status_code == 201
    found = re.search(r'data-testid="token-secret">([^<]+)<', issued.text)
    assert found
    secret = found.group(1)
    page = client.get("/admin/users/token.user").text
    assert secret not in page and "巡检脚本" in page
    me = client.get("/api/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["name"] == officer.name

    token_id = re.findall(r'data-token="([0-9a-f-]+)"', page)[0]
    revoked = client.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf, "user": "token.user"})
    assert revoked.status_code == 200 and "令牌已撤销" in revoked.text
    assert client.get("/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


BAD_CSV = HANDLER_CSV_SAMPLE + "65230219003,阿不都,阜康市应急管理局,安全生产,2024-13-01,2029-02-28,valid\n"


def test_csv_with_one_bad_row_imports_nothing_and_names_the_line(
    client: TestClient, person: Callable[..., WebPerson],
) -> None:
    _admin, csrf = _admin_client(client, person)
    refused = client.post("/admin/handlers/import", data={"csrf_token": csrf},
                          files={"csv_file": ("handlers.csv", BAD_CSV.encode(), "text/csv")})
    assert refused.status_code == 422
    assert "on line 4" in refused.text and "未导入任何记录" in refused.text
    assert "65230219001" not in client.get("/admin/handlers").text


def test_the_sample_csv_downloads_and_imports_as_it_is(client: TestClient, person: Callable[..., WebPerson]) -> None:
    admin, csrf = _admin_client(client, person)
    sample = client.get("/admin/handlers/sample.csv")
    assert sample.status_code == 200 and sample.headers["content-type"].startswith("text/csv")
    assert sample.text == (ROOT / "docs" / "handlers-sample.csv").read_text(encoding="utf-8")
    assert client.get("/api/handlers/sample", headers=admin.headers).text == sample.text
    imported = client.post("/admin/handlers/import", data={"csrf_token": csrf},
                           files={"csv_file": ("handlers-sample.csv", sample.content, "text/csv")})
    assert imported.status_code == 200 and "已导入 2 名" in imported.text
    assert "古丽娜尔·艾力" in imported.text


def test_the_client_sample_is_the_same_text() -> None:
    from evault_client.commands.handlers import SAMPLE_CSV

    assert SAMPLE_CSV == HANDLER_CSV_SAMPLE


def test_suspend_reinstate_revoke_and_renew_are_recorded(
    client: TestClient, person: Callable[..., WebPerson],
) -> None:
    person(Role.OFFICER, certificate="65230219201")
    _admin, csrf = _admin_client(client, person)
    url = "/admin/handlers/65230219201"

    def change(kind: str, day: str, **extra: str) -> str:
        answer = client.post(f"{url}/changes", data={"csrf_token": csrf, "kind": kind, "effective_on": day,
                                                     "reason": f"{kind} 原因", **extra})
        assert answer.status_code == 200, answer.text
        return answer.text

    assert "已记录：暂扣" in change("suspended", "2025-01-10")
    change("reinstated", "2025-02-01")
    renewed = change("renewed", "2025-03-01", valid_until="2033-12-31")
    assert "2033-12-31" in renewed
    revoked = change("revoked", "2025-06-01")
    assert 'data-testid="status">已吊销' in revoked
    kinds = re.findall(r'data-kind="(\w+)"', revoked)
    assert kinds == ["issued", "suspended", "reinstated", "renewed", "revoked"]
    again = client.post(f"{url}/changes", data={"csrf_token": csrf, "kind": "suspended",
                                                "effective_on": "2025-07-01", "reason": "再次暂扣"})
    assert again.status_code == 409 and "already revoked" in again.text


def test_a_change_with_no_date_takes_effect_on_the_agencys_today(
    client: TestClient, person: Callable[..., WebPerson],
) -> None:
    person(Role.OFFICER, certificate="65230219202")
    _admin, csrf = _admin_client(client, person)
    # A blank day means today, and 17:00 UTC on 7 December is already 8 December in Shanghai.
    client.app.dependency_overrides[current_time] = lambda: datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
    answer = client.post("/admin/handlers/65230219202/changes",
                         data={"csrf_token": csrf, "kind": "suspended", "effective_on": " ", "reason": "暂扣"})
    assert answer.status_code == 200, answer.text
    assert "<td>2026-12-08</td>" in answer.text


def test_jobs_page_shows_the_last_run_its_outcome_and_summary(
    client: TestClient, person: Callable[..., WebPerson], context: VaultContext,
) -> None:
    now = utcnow()
    with context.sessions() as session:
        session.add(JobLease(job_name="fixity_audit", slot=1, attempt=1, worker="vault-01:4242",
                             started_at=now - timedelta(minutes=5), finished_at=now - timedelta(minutes=4),
                             outcome=SUCCEEDED, summary={"checked": 17, "mismatches": 0}))
        session.add(JobLease(job_name="retention_sweep", slot=1, attempt=2, worker="vault-02:77",
                             started_at=now - timedelta(hours=1), finished_at=now - timedelta(minutes=59),
                             outcome="failed", summary={"error": "StorageError", "message": "桶不可达"}))
        session.commit()
    _admin_client(client, person)
    page = html.unescape(client.get("/admin/jobs").text)
    fixity = page.split('data-job="fixity_audit"')[1].split("</tr>")[0]
    assert "vault-01:4242" in fixity and "成功" in fixity and '"checked": 17' in fixity
    assert "10 2 * * *" in fixity and "正常" in fixity
    sweep = page.split('data-job="retention_sweep"')[1].split("</tr>")[0]
    assert 'class="attention"' in page and "失败" in sweep and "桶不可达" in sweep
    assert "尚无运行记录" in page.split('data-job="reconcile"')[1].split("</tr>")[0]


def test_health_page_shows_the_database_and_store_ok(client: TestClient, person: Callable[..., WebPerson],
                                                     context: VaultContext) -> None:
    _admin_client(client, person)
    page = client.get("/admin/health")
    assert page.status_code == 200
    for part in ("database", "store", "custody"):
        section = page.text.split(f'data-testid="{part}"')[1].split("</section>")[0]
        assert 'data-testid="verdict">正常' in section, section
    assert context.engine.dialect.name in page.text and context.store.name in page.text
    assert "已是最新" in page.text.split('data-testid="schema"')[1][:200]


@pytest.mark.parametrize("role", [r for r in Role if r != Role.ADMIN])
def test_other_roles_are_refused_every_admin_page(client: TestClient, person: Callable[..., WebPerson],
                                                  role: Role) -> None:
    who = person(role, certificate="65230219301" if role == Role.OFFICER else None)
    assert sign_in(client, who.name, who.password) == 303
    for path in [*ADMIN_PAGES, f"/admin/users/{who.name}", "/admin/handlers/65230219301"]:
        assert client.get(path).status_code == 403, path
    csrf = csrf_of(client.get("/").text)
    answer = client.post("/admin/users", data={"csrf_token": csrf, "name": "sneaky", "role": "admin",
                                               "password": PASSWORD, "password_again": PASSWORD})
    assert answer.status_code == 403


def test_the_admin_role_cannot_lift_holds_approve_disposals_or_decide_access(
    client: TestClient, person: Callable[..., WebPerson],
) -> None:
    admin, csrf = _admin_client(client, person)
    some_id = uuid.uuid4()
    api = {"Authorization": admin.headers["Authorization"]}
    assert client.post(f"/api/retention/holds/{some_id}/release", json={"reason": "管理员解除"},
                       headers=api).status_code == 403
    assert client.post(f"/api/retention/disposals/{some_id}/approve", headers=api).status_code == 403
    assert client.post("/api/retention/holds", json={"reason": "x", "evidence_id": str(some_id)},
                       headers=api).status_code == 403
    web = client.post(f"/access/requests/{some_id}/approve", data={
        "csrf_token": csrf, "duration_hours": "1", "mode": "view", "evidence_ids": str(some_id)})
    assert web.status_code == 403
    for path in ("/admin/users", "/admin/handlers", "/admin/jobs", "/admin/health"):
        page = client.get(path).text
        assert not re.search(r'action="[^"]*(dispos|holds|release|approve|delete)', page), path
