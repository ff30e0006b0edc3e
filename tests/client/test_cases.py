"""`evault cases|parties` as a records manager, an officer and an admin run them, each signed in."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select

from tests.client.conftest import Shell
from tests.conftest import Person
from vault.cases.models import Case, CaseStatus, Party
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.identities.models import Role

CANONICAL = "阜应急罚字〔2026〕7号"
ID_NUMBER = "341202198805061234"


@pytest.fixture
def manager(make_person: Callable[..., Person], shell_for: Callable[..., Shell]) -> Shell:
    """Return a records manager's shell."""
    return shell_for(make_person(Role.RECORDS_MANAGER, name="archive"))


def events(context: VaultContext, action: CustodyAction) -> list[CustodyEvent]:
    with context.sessions() as session:
        return list(session.scalars(select(CustodyEvent).where(CustodyEvent.action == action.value)))


def test_the_records_manager_opens_a_case_and_its_party(manager: Shell, context: VaultContext) -> None:
    made = manager.ok("cases", "add", "阜应急罚字〔2023〕40号", "--type", "general_procedure_penalty",
                      "--title", "某化工有限公司未按规定开展安全生产教育培训案")
    assert made.stdout.strip() == "case 阜应急罚字〔2023〕40号 created"
    party = manager.json("parties", "add", "陈某", "--id-number", ID_NUMBER, "--phone", "13805561234",
                         "--case", "阜应急罚字[2023]40号")
    assert (party["name"], party["id_number"], party["phone"]) == ("陈某", "341***********1234", "138****1234")
    listed = manager.ok("cases", "list").stdout.splitlines()
    assert listed[0].split() == ["CASE", "NUMBER", "TYPE", "STATUS", "OPENED"]
    assert listed[1].split()[:3] == ["阜应急罚字〔2023〕40号", "general_procedure_penalty", "open"]
    assert [c["case_number"] for c in manager.json_lines("cases", "list", "--status", "open")] == \
        ["阜应急罚字〔2023〕40号"]
    assert manager.json_lines("cases", "list", "--status", "closed") == []
    shown = manager.ok("cases", "show", "阜应急罚字（2023）40号").stdout.splitlines()
    assert shown[0] == "case number: 阜应急罚字〔2023〕40号" and "status: open" in shown
    assert shown[-2].split() == ["PARTY", "KIND", "ID"] and shown[-1].split() == ["陈某", "person", party["id"]]
    parties = manager.ok("parties", "list", "--case", "阜应急罚字〔2023〕40号").stdout.splitlines()
    assert parties[0].split() == ["ID", "NAME", "ID", "NUMBER"]
    assert parties[1].split() == [party["id"], "陈某", "341***********1234"]
    with context.sessions() as session:
        stored = session.get(Party, uuid.UUID(party["id"]))
        assert stored is not None and ID_NUMBER not in (stored.id_number_enc or "")


def test_any_bracket_variant_names_one_case(manager: Shell, context: VaultContext) -> None:
    made = manager.ok("cases", "add", "阜应急罚字（2026）7号", "--type", "licensing")
    assert made.stdout.strip() == f"case {CANONICAL} created"
    closed = manager.ok("cases", "status", "阜应急罚字[2026]7号", "closed")
    assert closed.stdout.strip() == f"case {CANONICAL} is now closed"
    manager.ok("parties", "add", "陈某", "--case", "阜应急罚字 【2026】 7号")
    refused = manager("cases", "add", "阜应急罚字［2026］7号", "--type", "licensing")
    assert refused.exit_code == 5 and "already exists" in refused.stderr
    assert manager.json("cases", "show", "阜应急罚字〔２０２６〕７号")["status"] == "closed"
    with context.sessions() as session:
        (case,) = session.scalars(select(Case))
        assert (case.case_number, case.status, [p.name for p in case.parties]) == (CANONICAL, CaseStatus.CLOSED,
                                                                                  ["陈某"])


def test_case_failures_have_their_exit_statuses(manager: Shell, make_person: Callable[..., Person],
                                                shell_for: Callable[..., Shell], context: VaultContext) -> None:
    assert manager("cases", "add", "K-1", "--type", "parking").exit_code == 2
    assert manager("cases", "show", "阜应急罚字〔1999〕1号").exit_code == 4
    manager.ok("cases", "add", "K-1", "--type", "licensing")
    assert manager("cases", "status", "K-1", "archived").exit_code == 5  # an open case is closed first
    officer = shell_for(make_person(Role.OFFICER))
    assert officer.json("cases", "show", "K-1")["case_number"] == "K-1"
    assert officer("cases", "add", "K-2", "--type", "licensing").exit_code == 4
    assert officer("parties", "add", "李某").exit_code == 4
    with context.sessions() as session:
        assert [c.case_number for c in session.scalars(select(Case))] == ["K-1"]
        assert session.scalar(select(Party)) is None


def test_a_party_is_shown_masked_and_revealed_only_to_those_allowed(
        manager: Shell, make_person: Callable[..., Person], shell_for: Callable[..., Shell],
        context: VaultContext) -> None:
    party = manager.json("parties", "add", "陈某", "--id-number", ID_NUMBER, "--address", "安徽省阜阳市颍州区某路1号")
    masked = manager.ok("parties", "show", party["id"]).stdout.splitlines()
    assert "id number: 341***********1234" in masked and "address: 安徽省阜阳市****" in masked
    assert events(context, CustodyAction.PARTY_DATA_REVEALED) == []
    revealed = manager.json("parties", "show", party["id"], "--reveal")
    assert (revealed["id_number"], revealed["revealed"]) == (ID_NUMBER, True)
    (seen,) = events(context, CustodyAction.PARTY_DATA_REVEALED)
    assert seen.actor_name == "archive" and seen.details["fields"] == ["id_number", "address"]
    assert ID_NUMBER not in str(seen.details)
    for role in (Role.OFFICER, Role.AUDITOR, Role.ADMIN):
        other = shell_for(make_person(role))
        assert other.json("parties", "show", party["id"])["id_number"] == "341***********1234"
        refused = other("parties", "show", party["id"], "--reveal")
        assert refused.exit_code == 4 and "permission_denied" in refused.stderr
    assert len(events(context, CustodyAction.PARTY_DATA_REVEALED)) == 1
    assert manager("parties", "show", "00000000-0000-0000-0000-000000000000").exit_code == 4
    assert manager("parties", "show", "not-an-id").exit_code == 6


def test_parties_are_searched_updated_and_linked_to_several_cases(
        manager: Shell, make_person: Callable[..., Person], shell_for: Callable[..., Shell],
        context: VaultContext) -> None:
    manager.ok("cases", "add", "阜应急罚字〔2023〕40号", "--type", "general_procedure_penalty")
    manager.ok("cases", "add", "阜应急检〔2024〕3号", "--type", "routine_inspection")
    party = manager.json("parties", "add", "某化工有限公司", "--kind", "organisation",
                         "--case", "阜应急罚字〔2023〕40号")
    manager.ok("parties", "add", "陈某")
    assert [p["name"] for p in manager.json_lines("parties", "list", "--name", "化工")] == ["某化工有限公司"]
    assert len(manager.json_lines("parties", "list")) == 2
    linked = manager.ok("parties", "link", party["id"], "--case", "阜应急检[2024]3号")
    assert linked.stdout.strip() == "party 某化工有限公司 is on: 阜应急罚字〔2023〕40号, 阜应急检〔2024〕3号"
    again = manager("parties", "link", party["id"], "--case", "阜应急检〔2024〕3号")
    assert again.exit_code == 5
    assert manager("parties", "link", party["id"], "--case", "阜应急检〔2024〕99号").exit_code == 4
    on_second = manager.json_lines("parties", "list", "--case", "阜应急检〔2024〕3号")
    assert [p["id"] for p in on_second] == [party["id"]]
    updated = manager.json("parties", "update", party["id"], "--name", "某化工集团有限公司",
                           "--legal-representative", "王某", "--id-number", "91341200MA2N0XXXXX",
                           "--phone", "0558-1234567")
    assert (updated["name"], updated["legal_representative"]) == ("某化工集团有限公司", "王某")
    assert updated["id_number"] == "913***********XXXX"
    assert updated["cases"] == ["阜应急罚字〔2023〕40号", "阜应急检〔2024〕3号"]
    (change,) = events(context, CustodyAction.PARTY_UPDATED)
    assert change.details["changed"]["name"] == {"from": "某化工有限公司", "to": "某化工集团有限公司"}
    assert change.details["changed"]["id_number"] is None and "0558" not in str(change.details)
    officer = shell_for(make_person(Role.OFFICER))
    assert officer("parties", "update", party["id"], "--name", "x").exit_code == 4
    assert officer("parties", "link", party["id"], "--case", "阜应急罚字〔2023〕40号").exit_code == 4
    assert manager("parties", "update", party["id"], "--name", "").exit_code == 6
    with context.sessions() as session:
        stored = session.get(Party, uuid.UUID(party["id"]))
        assert stored is not None and stored.name == "某化工集团有限公司"
