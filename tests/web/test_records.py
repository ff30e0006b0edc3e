"""Cases and parties for records managers (issue 14, "Cases and parties"): per role, over the pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests.web.conftest import LiveVault, WebPerson, csrf_of, sign_in
from vault.cases.models import Case, CaseStatus, CaseType, Party, PartyKind
from vault.cases.service import PartyInput, add_case, add_party, change_case_status
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.identities.actor import SYSTEM
from vault.identities.models import Role

ID_NUMBER = "341202198805061234"
NUMBER = "阜应急罚字〔2023〕40号"
MANAGERS = {Role.RECORDS_MANAGER, Role.ADMIN}  # the roles the case service lets manage cases and parties
OTHERS = [Role.OFFICER, Role.REVIEWER, Role.APPROVER, Role.AUDITOR]


def _signed_in(client: TestClient, who: WebPerson) -> str:
    assert sign_in(client, who.name, who.password) == 303
    return csrf_of(client.get("/cases").text)


def _seed(context: VaultContext) -> tuple[str, str]:
    """Make case 阜应急罚字〔2023〕40号 with party 陈某 (an ID number, a phone), and a second case; return ids."""
    with context.sessions() as session:
        case = add_case(session=session, actor=SYSTEM, case_number=NUMBER,
                        case_type=CaseType.GENERAL_PROCEDURE_PENALTY, title="某化工公司未按规定培训案")
        add_case(session=session, actor=SYSTEM, case_number="阜应急罚字〔2023〕41号", case_type=CaseType.LICENSING)
        party = add_party(session=session, actor=SYSTEM, cipher=context.cipher, case=case, data=PartyInput(
            kind=PartyKind.PERSON, name="陈某", id_number=ID_NUMBER, phone="13912345678",
            address="新疆阜康市博峰街1号"))
        session.commit()
        return str(case.id), str(party.id)


def _events(context: VaultContext, action: CustodyAction) -> list[CustodyEvent]:
    with context.sessions() as session:
        return list(session.scalars(select(CustodyEvent).where(CustodyEvent.action == action.value)))


@pytest.mark.parametrize("role", [*OTHERS, *MANAGERS])
def test_every_role_reads_cases_and_parties_but_only_managers_change_them(
    client: TestClient, context: VaultContext, person: Callable[..., WebPerson], role: Role
) -> None:
    case_id, party_id = _seed(context)
    token = _signed_in(client, person(role))
    listed = client.get("/cases", params={"case_number": NUMBER})
    assert listed.status_code == 200 and NUMBER in listed.text and "某化工公司未按规定培训案" in listed.text
    shown = client.get(f"/parties/{party_id}")
    assert shown.status_code == 200 and "341***********1234" in shown.text and ID_NUMBER not in shown.text
    allowed = 303 if role in MANAGERS else 403
    assert client.get("/cases/new").status_code == (200 if role in MANAGERS else 403)
    made = client.post("/cases/new", follow_redirects=False, data={
        "csrf_token": token, "case_number": "阜应急罚字〔2024〕3号", "case_type": "licensing", "title": "许可核查"})
    assert made.status_code == allowed
    edited = client.post(f"/cases/{case_id}/edit", follow_redirects=False, data={
        "csrf_token": token, "title": "新标题", "case_type": "general_procedure_penalty", "status": "closed"})
    assert edited.status_code == allowed
    created = client.post("/parties/new", follow_redirects=False, data={
        "csrf_token": token, "kind": "organisation", "name": "某化工有限公司"})
    assert created.status_code == allowed
    linked = client.post(f"/parties/{party_id}/cases", follow_redirects=False, data={
        "csrf_token": token, "case_number": "阜应急罚字[2023]41号"})
    assert linked.status_code == allowed
    revealed = client.post(f"/parties/{party_id}/reveal", data={"csrf_token": token})
    assert revealed.status_code == (200 if role == Role.RECORDS_MANAGER else 403)
    assert (ID_NUMBER in revealed.text) == (role == Role.RECORDS_MANAGER)
    if role not in MANAGERS:
        assert "您的角色无权执行此操作" in made.text and "阜应急罚字〔2024〕3号" in made.text
        with context.sessions() as session:
            assert session.scalar(select(Case).where(Case.title == "许可核查")) is None


def test_reveal_is_logged_and_lasts_one_page_view(client: TestClient, context: VaultContext,
                                                  person: Callable[..., WebPerson]) -> None:
    _, party_id = _seed(context)
    token = _signed_in(client, person(Role.RECORDS_MANAGER))
    assert ID_NUMBER not in client.get(f"/parties/{party_id}").text
    assert _events(context, CustodyAction.PARTY_DATA_REVEALED) == []
    revealed = client.post(f"/parties/{party_id}/reveal", data={"csrf_token": token})
    assert revealed.status_code == 200
    assert ID_NUMBER in revealed.text and "13912345678" in revealed.text and "新疆阜康市博峰街1号" in revealed.text
    (event,) = _events(context, CustodyAction.PARTY_DATA_REVEALED)
    assert event.details["fields"] == ["id_number", "phone", "address"] and ID_NUMBER not in str(event.details)
    assert ID_NUMBER not in client.get(f"/parties/{party_id}").text  # the next view is masked again
    assert client.post(f"/parties/{party_id}/reveal", data={}).status_code == 403  # no CSRF token, no reveal


def test_a_duplicate_or_badly_formed_case_number_is_refused_on_the_form_with_the_input_kept(
    client: TestClient, context: VaultContext, person: Callable[..., WebPerson]
) -> None:
    _seed(context)
    token = _signed_in(client, person(Role.RECORDS_MANAGER))
    again = client.post("/cases/new", data={"csrf_token": token, "case_number": "阜应急罚字[2023]40号",
                                            "case_type": "licensing", "title": "重复的案件"})
    assert again.status_code == 409
    assert "案号 阜应急罚字〔2023〕40号 已存在" in again.text
    assert 'value="阜应急罚字[2023]40号"' in again.text and 'value="重复的案件"' in again.text
    assert re.search(r'<option value="licensing" selected', again.text)
    bad = client.post("/cases/new", data={"csrf_token": token, "case_number": "2023-40",
                                          "case_type": "licensing", "title": "格式不对"})
    assert bad.status_code == 422 and "案号格式应为" in bad.text and 'value="2023-40"' in bad.text
    with context.sessions() as session:
        assert session.scalar(select(Case).where(Case.title.in_(["重复的案件", "格式不对"]))) is None


def test_a_records_manager_creates_edits_and_archives_a_case_through_the_status_rules(
    client: TestClient, context: VaultContext, person: Callable[..., WebPerson]
) -> None:
    token = _signed_in(client, person(Role.RECORDS_MANAGER))
    form = client.get("/cases/new")
    assert f'value="{context.settings.agency_name}"' in form.text  # the agency is the handling unit to begin with
    made = client.post("/cases/new", data={"csrf_token": token, "case_number": "阜应急罚字（２０２４）７号",
                                           "case_type": "simple_procedure", "title": "现场检查",
                                           "handling_unit": "执法一大队"})
    assert made.status_code == 200 and "阜应急罚字〔2024〕7号" in made.text and "案件已创建" in made.text
    assert "执法一大队" in made.text
    with context.sessions() as session:
        case = session.scalars(select(Case).where(Case.case_number == "阜应急罚字〔2024〕7号")).one()
    skipped = client.post(f"/cases/{case.id}/edit", data={
        "csrf_token": token, "title": "现场检查（复核）", "case_type": "simple_procedure", "status": "archived"})
    assert skipped.status_code == 409 and "案件状态不能由 open 改为 archived" in skipped.text
    assert 'value="现场检查（复核）"' in skipped.text
    for status in ("closed", "archived"):
        saved = client.post(f"/cases/{case.id}/edit", follow_redirects=False, data={
            "csrf_token": token, "title": "现场检查（复核）", "case_type": "general_procedure_penalty",
            "status": status, "handling_unit": "执法二大队"})
        assert saved.status_code == 303
    with context.sessions() as session:
        stored = session.get(Case, case.id)
        assert stored is not None and (stored.status, stored.title) == (CaseStatus.ARCHIVED, "现场检查（复核）")
    (updated,) = _events(context, CustodyAction.CASE_UPDATED)
    assert updated.details["changed"] == {
        "title": {"from": "现场检查", "to": "现场检查（复核）"},
        "case_type": {"from": "simple_procedure", "to": "general_procedure_penalty"},
        "handling_unit": {"from": "执法一大队", "to": "执法二大队"}}
    assert [e.details["to"] for e in _events(context, CustodyAction.CASE_STATUS_CHANGED)] == ["closed", "archived"]


def test_case_search_by_bracket_variant_party_status_and_date_is_paged_with_the_total(
    client: TestClient, context: VaultContext, person: Callable[..., WebPerson]
) -> None:
    _seed(context)
    with context.sessions() as session:
        for n in range(1, 24):
            case = add_case(session=session, actor=SYSTEM, case_number=f"阜应急检字〔2025〕{n}号",
                            case_type=CaseType.ROUTINE_INSPECTION)
        change_case_status(session=session, actor=SYSTEM, case=case, status=CaseStatus.CLOSED)
        session.commit()
    _signed_in(client, person(Role.RECORDS_MANAGER))
    found = client.get("/cases", params={"case_number": "阜应急罚字[2023]40号"})
    assert "找到 1 件案件" in found.text and 'data-testid="case-link"' in found.text
    assert NUMBER in found.text and "阜应急罚字〔2023〕41号" not in found.text
    assert "1 件案件" in client.get("/cases", params={"party": "陈"}).text
    assert "1 件案件" in client.get("/cases", params={"status": "closed"}).text
    first = client.get("/cases", params={"case_number": "检字"})
    assert "23 件案件" in first.text and "第 1 / 2 页" in first.text
    assert first.text.count('data-testid="case-row"') == 20
    second = client.get("/cases", params={"case_number": "检字", "page": 2})
    assert second.text.count('data-testid="case-row"') == 3
    assert "0 件案件" in client.get("/cases", params={"opened_to": "2000-01-01"}).text


def test_one_party_is_linked_to_several_cases_and_found_by_its_whole_id_number(
    client: TestClient, context: VaultContext, person: Callable[..., WebPerson]
) -> None:
    _, party_id = _seed(context)
    token = _signed_in(client, person(Role.RECORDS_MANAGER))
    linked = client.post(f"/parties/{party_id}/cases",
                         data={"csrf_token": token, "case_number": "阜应急罚字(2023)41号"})
    assert linked.status_code == 200 and linked.text.count('data-testid="party-case"') == 2
    twice = client.post(f"/parties/{party_id}/cases", data={"csrf_token": token, "case_number": NUMBER})
    assert twice.status_code == 409 and "已关联案件" in twice.text
    by_id = client.get("/parties", params={"id_number": "341202 19880506 1234"})
    assert "陈某" in by_id.text and ID_NUMBER not in by_id.text
    assert "陈某" not in client.get("/parties", params={"id_number": "341202198805061235"}).text
    with context.sessions() as session:
        party = session.get(Party, uuid.UUID(party_id))
        assert party is not None
        assert {c.case_number for c in session.scalars(select(Case)) if party in c.parties} == {
            NUMBER, "阜应急罚字〔2023〕41号"}


def test_only_those_who_may_see_personal_data_search_by_id_number(
    client: TestClient, context: VaultContext, person: Callable[..., WebPerson]
) -> None:
    _seed(context)
    _signed_in(client, person(Role.OFFICER))
    assert 'name="id_number"' not in client.get("/parties").text
    assert client.get("/parties", params={"id_number": ID_NUMBER}).status_code == 403
    assert "陈某" in client.get("/parties", params={"name": "陈"}).text


def test_a_records_manager_creates_and_edits_a_party_without_the_personal_data_coming_back(
    client: TestClient, context: VaultContext, person: Callable[..., WebPerson]
) -> None:
    _seed(context)
    token = _signed_in(client, person(Role.RECORDS_MANAGER))
    made = client.post("/parties/new", data={
        "csrf_token": token, "kind": "organisation", "name": "某化工有限公司", "legal_representative": "王某",
        "id_number": "91652302MA7XXXXX1Q", "phone": "0994-3221234", "case_number": "阜应急罚字【2023】40号"})
    assert made.status_code == 200 and "已创建当事人" in made.text and "916***********XX1Q" in made.text
    assert "91652302MA7XXXXX1Q" not in made.text and NUMBER in made.text
    party_url = str(made.url.path)
    saved = client.post(party_url, data={"csrf_token": token, "kind": "organisation", "name": "某化工有限责任公司",
                                         "legal_representative": "王某", "phone": "0994-3229999"})
    assert saved.status_code == 200 and "某化工有限责任公司" in saved.text and "916***********XX1Q" in saved.text
    (event,) = _events(context, CustodyAction.PARTY_UPDATED)
    assert set(event.details["changed"]) == {"name", "phone"} and "0994" not in str(event.details)
    nameless = client.post("/parties/new", data={"csrf_token": token, "kind": "person", "name": " ",
                                                 "phone": "13800000000"})
    assert nameless.status_code == 422 and "当事人须填写姓名或者名称" in nameless.text
    assert 'value="13800000000"' in nameless.text


def test_a_records_manager_files_a_case_and_its_party_in_the_browser(
    live_vault: LiveVault, browser: Browser, signed_in: Callable[[Browser, WebPerson], Page],
    person: Callable[..., WebPerson], screenshot: Callable[[Page, str], Path],
) -> None:
    with live_vault.context.sessions() as session:
        add_case(session=session, actor=SYSTEM, case_number="阜应急罚字〔2023〕39号",
                 case_type=CaseType.GENERAL_PROCEDURE_PENALTY, title="某加油站安全检查")
        session.commit()
    page = signed_in(browser, person(Role.RECORDS_MANAGER, display_name="李档案"))
    page.get_by_role("link", name="案件", exact=True).first.click()
    page.get_by_test_id("new-case").click()
    page.fill("input[name=case_number]", "阜应急罚字[2023]40号")
    page.fill("input[name=title]", "某化工公司未按规定开展安全培训案")
    page.select_option("select[name=case_type]", "general_procedure_penalty")
    page.fill("input[name=handling_unit]", "阜康市应急管理局执法大队")
    page.get_by_test_id("create-case").click()
    expect(page.get_by_test_id("saved")).to_have_text("案件已创建。")
    expect(page.get_by_test_id("case-link")).to_have_text(NUMBER)

    page.goto("/parties/new")
    page.select_option("select[name=kind]", "person")
    page.fill("input[name=name]", "陈某某")
    page.fill("input[name=id_number]", ID_NUMBER)
    page.fill("input[name=phone]", "13912345678")
    page.fill("input[name=address]", "新疆维吾尔自治区阜康市博峰街1号")
    page.get_by_test_id("create-party").click()
    expect(page.get_by_test_id("saved")).to_have_text("已创建当事人。")
    expect(page.get_by_test_id("id-number")).to_have_text("341***********1234")
    for number in ("阜应急罚字（2023）40号", "阜应急罚字〔2023〕39号"):
        page.fill("form[data-testid=link-form] input[name=case_number]", number)
        page.get_by_test_id("link-case").click()
        expect(page.get_by_test_id("saved")).to_have_text("当事人已关联案件。")
    expect(page.get_by_test_id("party-case")).to_have_text(["阜应急罚字〔2023〕39号", NUMBER])

    page.goto("/cases")
    page.fill("form[data-testid=case-search] input[name=party]", "陈某")
    page.locator("form[data-testid=case-search] button[type=submit]").click()
    expect(page.get_by_test_id("case-total")).to_have_text("找到 2 件案件")
    screenshot(page, "records-cases")
    page.get_by_role("link", name="陈某某").first.click()
    party_url = page.url
    expect(page.get_by_test_id("id-number")).not_to_contain_text(ID_NUMBER)
    page.get_by_test_id("reveal").click()
    expect(page.get_by_test_id("id-number")).to_have_text(ID_NUMBER)
    expect(page.get_by_test_id("revealed")).to_be_visible()
    screenshot(page, "records-party")
    page.goto(party_url)  # the unmasked data lasts that one page view
    expect(page.get_by_test_id("id-number")).to_have_text("341***********1234")
    assert len(_events(live_vault.context, CustodyAction.PARTY_DATA_REVEALED)) == 1


def test_the_api_takes_and_returns_the_handling_unit_the_pages_show(
    client: TestClient, person: Callable[..., WebPerson]
) -> None:
    manager = person(Role.RECORDS_MANAGER)
    made = client.post("/api/cases", headers=manager.headers, json={
        "case_number": "阜应急罚字〔2025〕5号", "case_type": "licensing", "handling_unit": "行政审批科"})
    assert made.status_code == 201 and made.json()["handling_unit"] == "行政审批科"
    _signed_in(client, manager)
    assert "行政审批科" in client.get("/cases", params={"case_number": "阜应急罚字(2025)5号"}).text


def test_the_pages_are_available_in_english(client: TestClient, context: VaultContext,
                                            person: Callable[..., WebPerson]) -> None:
    _, party_id = _seed(context)
    _signed_in(client, person(Role.RECORDS_MANAGER))
    client.get("/language/en?next=/cases")
    assert "New case" in client.get("/cases").text and "1 case(s) found" in client.get(
        "/cases", params={"case_number": NUMBER}).text
    assert "Reveal personal data (logged)" in client.get(f"/parties/{party_id}").text
