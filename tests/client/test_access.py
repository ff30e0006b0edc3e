"""`evault access ...`: a request filed in one shell, decided in another approver's, refusals logged as the API does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evault_client.output import display_width
from tests.client.conftest import Shell
from tests.client.footage import CASE, make_case_file, make_clip
from tests.conftest import Person
from tests.ingest.conftest import events_of, ingest_file
from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.identities.models import Role

Shells = Callable[..., Shell]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a short recorder clip."""
    return make_clip(tmp_path_factory.mktemp("footage"))


@pytest.fixture
def record(context: VaultContext, make_person: Callable[..., Person], clip: Path) -> str:
    """Ingest a clip of the case 阜应急罚字〔2023〕40号; return its id."""
    make_case_file(context)
    officer = make_person(Role.OFFICER, certificate="C001")
    when = datetime(2025, 3, 30, 8, 0, tzinfo=UTC)
    return str(ingest_file(context, officer, clip, now=when, case_number=CASE).evidence.id)


def test_a_request_filed_in_one_shell_is_approved_in_another_and_the_grant_revoked(
        shell_for: Shells, make_person: Callable[..., Person], record: str) -> None:
    reviewer, approver = make_person(Role.REVIEWER), make_person(Role.APPROVER)
    mine, theirs = shell_for(reviewer, COLUMNS="120"), shell_for(approver, COLUMNS="120")
    filed = mine.ok("access", "request", "--case", CASE, "--purpose", "investigation", "--hours", "8",
                    "--reason", "复核现场检查").stdout
    request_id = filed.split()[2]
    assert filed == f"access request {request_id} filed: it awaits an approver\n"
    listed = mine.ok("access", "requests").stdout.splitlines()
    assert listed[0].split() == ["ID", "STATUS", "REQUESTER", "PURPOSE", "CASE"]
    assert listed[1].split()[:4] == [request_id, "pending", reviewer.user.name, "investigation"]
    inbox = theirs.ok("access", "inbox").stdout.splitlines()
    assert inbox[0].split() == ["REQUEST", "REQUESTER", "PURPOSE", "CASE", "OWN"]
    assert inbox[1].split()[:3] == [request_id, reviewer.user.name, "investigation"] and inbox[1].endswith("no")
    narrow = [*shell_for(reviewer).ok("access", "requests").stdout.splitlines(),
              *shell_for(approver).ok("access", "inbox").stdout.splitlines()]
    assert all(display_width(line) <= 80 for line in narrow) and narrow[1].startswith(request_id)
    grant = theirs.json("access", "approve", request_id, "--record", record, "--hours", "2", "--note", "2 h")
    assert (grant["grantee"], grant["approver"], grant["record_ids"], grant["active"]) == (
        reviewer.user.name, approver.user.name, [record], True)
    grants = mine.ok("access", "grants").stdout.splitlines()
    assert grants[0].split() == ["ID", "GRANTEE", "MODE", "EXPIRES"] and grants[1].split()[:3] == [
        grant["id"], reviewer.user.name, "view"]
    assert [r["status"] for r in mine.json_lines("access", "requests")] == ["approved"]
    again = theirs("access", "approve", request_id)
    assert again.exit_code == 5 and "already decided: approved" in again.stderr
    refused = mine("access", "revoke", grant["id"], "--reason", "mine")
    assert refused.exit_code == 4 and "permission_denied" in refused.stderr
    revoked = theirs.json("access", "revoke", grant["id"], "--reason", "case closed")
    assert revoked["active"] is False and revoked["revoke_reason"] == "case closed"
    assert mine.ok("access", "grants").stdout == "no grants\n"
    assert [g["id"] for g in mine.json_lines("access", "grants", "--inactive")] == [grant["id"]]


def test_an_approver_cannot_approve_their_own_request_and_the_refusal_is_logged(
        shell_for: Shells, context: VaultContext, make_person: Callable[..., Person], record: str) -> None:
    approver, other = make_person(Role.APPROVER), make_person(Role.APPROVER)
    mine = shell_for(approver)
    request = mine.json("access", "request", "--record", record, "--purpose", "legal_review", "--mode", "download",
                        "--hours", "4", "--reason", "法制审核")
    assert request["mode"] == "view_download" and request["record_ids"] == [record]
    own = mine("access", "approve", request["id"])
    assert own.exit_code == 4 and "permission_denied" in own.stderr and "never decide their own" in own.stderr
    as_json = mine("--json", "access", "deny", request["id"], "--reason", "no")
    assert as_json.exit_code == 4 and '"code": "permission_denied"' in as_json.stderr
    refusals = events_of(context, request["id"], CustodyAction.ACCESS_DECISION_REFUSED)
    assert [(e.actor_name, e.details["reason"]) for e in refusals] == [(approver.user.name, "own request")] * 2
    assert [i["own"] for i in mine.json_lines("access", "inbox")] == [True]
    # Approvers see only their own requests unless they ask for everyone's.
    reviewer = shell_for(make_person(Role.REVIEWER))
    reviewer.ok("access", "request", "--case", CASE, "--purpose", "investigation", "--hours", "1", "--reason", "r")
    assert [r["id"] for r in mine.json_lines("access", "requests")] == [request["id"]]
    assert len(mine.json_lines("access", "requests", "--all")) == 2
    assert len(reviewer.json_lines("access", "requests", "--all")) == 1  # others: their own, whatever they ask
    denied = shell_for(other).json("access", "deny", request["id"], "--reason", "not needed")
    assert (denied["status"], denied["decision_reason"]) == ("denied", "not needed")


@pytest.mark.parametrize("role", [Role.OFFICER, Role.REVIEWER, Role.AUDITOR, Role.RECORDS_MANAGER])
def test_only_approvers_decide(shell_for: Shells, make_person: Callable[..., Person], record: str,
                               role: Role) -> None:
    filed = shell_for(make_person(Role.REVIEWER)).json("access", "request", "--record", record, "--purpose",
                                                       "investigation", "--hours", "1", "--reason", "r")
    who = shell_for(make_person(role))
    for args in (("approve", filed["id"]), ("deny", filed["id"], "--reason", "x")):
        refused = who("access", *args)
        assert refused.exit_code == 4 and "permission_denied" in refused.stderr, (role, args)


def test_a_request_names_records_or_a_case(shell_for: Shells, make_person: Callable[..., Person],
                                           record: str) -> None:
    mine = shell_for(make_person(Role.REVIEWER))
    both = mine("access", "request", "--record", record, "--case", CASE, "--purpose", "investigation",
                "--hours", "1", "--reason", "r")
    assert both.exit_code == 2
    unknown = mine("access", "request", "--case", "阜应急罚字〔2099〕1号", "--purpose", "investigation",
                   "--hours", "1", "--reason", "r")
    assert unknown.exit_code == 4


def test_access_speaks_chinese_first(shell_for: Shells, make_person: Callable[..., Person], record: str) -> None:
    reviewer = make_person(Role.REVIEWER)
    zh = shell_for(reviewer, EVAULT_LANG="zh", COLUMNS="120")
    filed = zh.ok("access", "request", "--case", CASE, "--purpose", "investigation", "--hours", "8",
                  "--reason", "复核现场检查").stdout
    assert filed.startswith("已提交查阅申请 ") and filed.endswith("，等待审批\n")
    listed = zh.ok("access", "requests").stdout.splitlines()
    assert listed[0].split() == ["ID", "状态", "申请人", "用途", "案号"]
    assert zh.ok("access", "grants").stdout == "没有授权\n"
