"""`evault retention ...` and `evault calendar ...` as records managers, approvers and auditors use them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from tests.client.conftest import Shell
from tests.conftest import Person
from tests.retention.conftest import People, due_records, new_case
from vault.cases.models import CaseStatus
from vault.cases.service import change_case_status
from vault.context import VaultContext
from vault.identities.models import Role
from vault.storage.base import BlobStore

DOCS_EXAMPLE = Path(__file__).parents[2] / "docs" / "holiday-calendar-2025.json"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def people(make_person: Callable[..., Person]) -> People:
    """Return an officer, two records managers, an approver and an auditor."""
    return People(officer=make_person(Role.OFFICER, certificate="14010219001"),
                  manager=make_person(Role.RECORDS_MANAGER), second_manager=make_person(Role.RECORDS_MANAGER),
                  approver=make_person(Role.APPROVER), auditor=make_person(Role.AUDITOR))


def in_shanghai(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def test_report_and_policy(shell_for: Callable[..., Shell], people: People, session: Session) -> None:
    change_case_status(session=session, actor=people.manager.actor, case=new_case(session, people.manager),
                       status=CaseStatus.CLOSED)
    session.commit()
    manager = shell_for(people.manager)
    report = manager.ok("retention", "report").stdout
    assert "due for disposition: 0" in report and "overdue for archiving" in report
    assert set(manager.json("retention", "report")) >= {"due", "held", "pending_destruction", "overdue_archiving"}
    deadlines = manager.ok("retention", "deadlines").stdout.splitlines()
    assert deadlines[0].split() == ["case", "closed", "deadline", "provisional", "overdue_days", "calendar"]
    assert [line["case_number"] for line in manager.json_lines("retention", "deadlines")] == ["阜应急罚字〔2023〕40号"]

    changed = manager.ok("retention", "policy", "set", "default_years=7", "--note", "agency rule")
    assert "policy version 1 effective from" in changed.stdout
    shown = manager.ok("retention", "policy", "show").stdout
    assert '"default_years": 7' in shown and "agency rule" in shown
    refused = manager("retention", "policy", "set", "default_years=2")
    assert refused.exit_code == 6 and "statutory minimum" in refused.stderr
    assert manager("retention", "policy", "set", "default_years=notjson").exit_code == 2
    versions = manager.json_lines("retention", "policy", "show")
    assert [(v["kind"], v["version"], v["rules"]["default_years"]) for v in versions] == [("version", 1, 7)]


def test_a_shortening_policy_change_is_a_request_for_a_second_person(
    shell_for: Callable[..., Shell], people: People
) -> None:
    manager, second = shell_for(people.manager), shell_for(people.second_manager)
    manager.ok("retention", "policy", "set", "default_years=8")
    asked = manager.ok("retention", "policy", "set", "default_years=7", "--note", "back to seven")
    assert "shortens default_years: it waits for a second person" in asked.stdout
    request_id = asked.stdout.split()[2]
    assert f"retention policy approve {request_id}" in asked.stdout
    pending = [v for v in second.json_lines("retention", "policy", "show") if v["kind"] == "request"]
    assert [p["id"] for p in pending] == [request_id]
    assert "pending changes" in second.ok("retention", "policy", "show").stdout
    own = manager("retention", "policy", "approve", request_id)
    assert own.exit_code in (4, 5), own.stderr
    approved = second.json("retention", "policy", "approve", request_id)
    assert approved["version"] == 2 and approved["rules"]["default_years"] == 7
    rejected_one = manager.json("retention", "policy", "set", "default_years=6")
    assert manager.ok("retention", "policy", "reject", rejected_one["id"], "--reason", "no").stdout.strip() == (
        f"policy change {rejected_one['id']} rejected")
    assert manager("retention", "policy", "reject", rejected_one["id"]).exit_code == 2  # --reason is required


def test_two_person_disposal_from_two_shells(
    shell_for: Callable[..., Shell], people: People, session: Session, store: BlobStore, context: VaultContext
) -> None:
    # Each person in their own shell: the records manager proposes, the approver approves; never one alone.
    kept, destroyed = due_records(session, store, people, 2)
    manager, approver = shell_for(people.manager), shell_for(people.approver)
    auditor = shell_for(people.auditor, COLUMNS="200")  # a wide terminal: whole IDs in the tables

    proposed = manager.ok("retention", "propose", str(kept.id))
    request_id = proposed.stdout.split()[2]
    assert proposed.stdout.strip() == f"disposal request {request_id} proposed"
    own = manager("retention", "approve", request_id)
    assert own.exit_code in (4, 5) and "error (" in own.stderr  # the proposer cannot approve
    listed = auditor.ok("retention", "disposals").stdout.splitlines()
    assert listed[0].split()[:3] == ["request", "record", "status"] and "proposed_by" in listed[0]
    assert "awaiting approval" in listed[1] and "pending" in listed[1]

    approved = approver.ok("retention", "approve", request_id).stdout
    row = approver.json_lines("retention", "disposals")[0]
    assert row["status"] == "pending_destruction"
    assert (f"pending destruction, destroyed after {in_shanghai(row['destroy_after'])} unless cancelled"
            in approved)
    assert in_shanghai(row["destroy_after"]) in auditor.ok("retention", "disposals").stdout
    report = auditor.ok("retention", "report").stdout
    assert "pending destruction (cancellable until destroyed): 1" in report and str(kept.id) in report

    refused = approver("retention", "cancel", request_id, "--reason", "keep")
    assert refused.exit_code == 4 and refused.stderr.startswith("error (permission_denied): ")
    assert manager("retention", "cancel", request_id).exit_code == 2  # --reason is required
    cancelled = manager.ok("retention", "cancel", request_id, "--reason", "复议中 (under review)")
    assert f"record {kept.id} is kept" in cancelled.stdout
    report = auditor.ok("retention", "report").stdout
    assert "kept (disposal cancelled): 1" in report and "复议中 (under review)" in report
    assert store.stat(kept.storage_key, kept.version_id).size == kept.size

    # No recovery window: the approval destroys at once and prints the signed certificate.
    context.settings.disposal_recovery_days = 0
    request_id = manager.json("retention", "propose", str(destroyed.id))["id"]
    at_once = approver.ok("retention", "approve", request_id).stdout
    assert destroyed.sha256 in at_once and "signature (" in at_once


def test_holds_marks_and_reclassification(
    shell_for: Callable[..., Shell], people: People, session: Session, store: BlobStore
) -> None:
    record, = due_records(session, store, people, 1)
    case = new_case(session, people.manager)
    session.commit()
    manager, second = shell_for(people.manager), shell_for(people.second_manager)
    assert manager("retention", "hold", "--reason", "x").exit_code == 2  # neither --record nor --case
    hold = manager.json("retention", "hold", "--record", str(record.id), "--reason", "诉讼 (litigation)")
    case_hold = manager.ok("retention", "hold", "--case", case.case_number, "--reason", "复议")
    assert case_hold.stdout.startswith("legal hold ") and case_hold.stdout.strip().endswith(" placed")
    holds = manager.json_lines("retention", "holds")
    assert {h["evidence_id"] for h in holds} == {str(record.id), None} and str(case.id) in {h["case_id"] for h in holds}
    assert manager.ok("retention", "holds").stdout.split()[:3] == ["hold", "record", "case"]
    shown = manager.ok("retention", "show", str(record.id)).stdout
    assert " held " in f" {shown} " and manager.json("retention", "show", str(record.id))["held"] is True
    assert manager.ok("retention", "release", hold["id"], "--reason", "settled").stdout.strip() == (
        f"legal hold {hold['id']} released")
    assert manager("retention", "release", hold["id"], "--reason", "again").exit_code == 5
    assert len(manager.json_lines("retention", "holds", "--all")) == 2

    marked = manager.ok("retention", "mark", "--record", str(record.id), "--kind", "disputed_enforcement")
    assert marked.stdout.strip() == "marked for long-term preservation"
    assert manager.json("retention", "show", str(record.id))["retention_class"] == "long_term"
    asked = manager.json("retention", "reclassify", str(record.id), "default", "--reason", "marked in error")
    assert asked["status"] == "pending"
    assert manager("retention", "approve-reclassification", asked["id"]).exit_code in (4, 5)
    assert "kept until" in second.ok("retention", "approve-reclassification", asked["id"]).stdout
    assert manager.json("retention", "show", str(record.id))["retention_class"] == "default"
    assert manager("retention", "show", "not-an-id").exit_code == 6


def test_calendar_from_the_command_line(
    shell_for: Callable[..., Shell], people: People, session: Session, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    frozen = datetime(2027, 3, 1, tzinfo=UTC)
    monkeypatch.setattr("retention.routes.utcnow", lambda: frozen)
    case = new_case(session, people.manager, number="阜应急罚字〔2026〕7号")
    change_case_status(session=session, actor=people.manager.actor, case=case, status=CaseStatus.CLOSED, now=frozen)
    session.commit()
    manager, officer = shell_for(people.manager), shell_for(people.officer)

    [deadline] = manager.json_lines("retention", "deadlines")
    assert deadline["provisional"] is True and "no holiday calendar for 2027" in deadline["provisional_reason"]
    assert "yes" in manager.ok("retention", "deadlines").stdout.splitlines()[1]
    assert "PROVISIONAL until" in manager.ok("calendar", "show", "2027").stdout

    loaded = manager.ok("calendar", "load", str(DOCS_EXAMPLE))
    assert loaded.stdout.startswith("2025: 18 weekdays off and 5 make-up working days loaded: ")
    assert "国务院办公厅关于2025年部分节假日安排的通知" in loaded.stdout
    shown = officer.ok("calendar", "show", "2025").stdout
    assert "国办发明电〔2024〕12号" in shown and "2025-01-26" in shown and "2025-01-28" in shown
    assert officer.json("calendar", "show", "2025")["provisional"] is False
    years = {y["year"]: y for y in officer.json_lines("calendar", "list")}
    assert years[2025]["loaded_by"] == people.manager.user.name and 2027 not in years
    assert officer.ok("calendar", "list").stdout.split()[:4] == ["year", "source", "loaded_by", "loaded_at"]
    assert officer("calendar", "load", str(DOCS_EXAMPLE)).exit_code == 4  # officers do not keep the calendar

    (tmp_path / "bad.json").write_text("{not json")
    bad = manager("calendar", "load", str(tmp_path / "bad.json"))
    assert bad.exit_code == 6 and "cannot read" in bad.stderr
    assert manager("calendar", "load", str(tmp_path / "missing.json")).exit_code == 6
    (tmp_path / "other.json").write_text(json.dumps({"year": 2026, "source": "x", "holidays": ["2026-13-01"]}))
    assert manager("calendar", "load", str(tmp_path / "other.json")).exit_code == 6


def test_policy_set_merges_one_type_and_refuses_bad_values_in_one_line(
    shell_for: Callable[..., Shell], people: People
) -> None:
    manager = shell_for(people.manager)
    manager.ok("retention", "policy", "set", 'case_file_years={"licensing": 40}')
    shown = manager.ok("retention", "policy", "show").stdout
    assert '"licensing": 40' in shown and '"general_procedure_penalty": 30' in shown
    for args, message, status in ((["default_years=abc"], "must be JSON", 2),
                                  (['default_years="abc"'], "whole number", 6), (["default_years=-1"], "from 1", 6),
                                  (["case_file_years=5"], "map case types", 6),
                                  (['case_file_years={"parking": 3}'], "unknown case types", 6),
                                  (["default_years=6", "--effective", "next week"], "expected a date", 2)):
        refused = manager("retention", "policy", "set", *args)
        assert refused.exit_code == status and message in refused.stderr, (args, refused.stderr)
        assert "Traceback" not in refused.stderr


def test_a_policy_shortening_needs_a_second_records_manager(
    shell_for: Callable[..., Shell], people: People
) -> None:
    manager, second = shell_for(people.manager), shell_for(people.second_manager)
    assert "policy version 1" in manager.ok("retention", "policy", "set", "routine_inspection_months=12").stdout
    asked = manager.ok("retention", "policy", "set", "routine_inspection_months=7").stdout
    assert "waits for a second person" in asked
    request_id = asked.split()[2]
    assert request_id in shell_for(people.manager, COLUMNS="200").ok("retention", "policy", "show").stdout
    refused = manager("retention", "policy", "approve", request_id)
    assert refused.exit_code == 4 and "second_person_required" in refused.stderr
    assert "policy version 2" in second.ok("retention", "policy", "approve", request_id).stdout
    assert '"routine_inspection_months": 7' in manager.ok("retention", "policy", "show").stdout


def test_retention_speaks_chinese_first(shell_for: Callable[..., Shell], people: People, session: Session) -> None:
    change_case_status(session=session, actor=people.manager.actor, case=new_case(session, people.manager),
                       status=CaseStatus.CLOSED)
    session.commit()
    manager = shell_for(people.manager, EVAULT_LANG="zh")
    report = manager.ok("retention", "report").stdout
    assert "保存期限报告" in report and "到期待销毁：0" in report and "逾期未归档" in report
    assert manager.ok("retention", "deadlines").stdout.splitlines()[0].split()[:3] == ["案号", "结案日期", "归档期限"]
    assert "没有保全" in manager.ok("retention", "holds").stdout


def test_a_typed_id_stays_one_path_segment(shell_for: Callable[..., Shell], people: People) -> None:
    # An id with slashes or dots is refused as not found or invalid; it never leads to another endpoint (GET /api/me).
    manager = shell_for(people.manager)
    for command in (("retention", "show", "../../../me"), ("exports", "show", "../me"),
                    ("retention", "release", "../../me", "--reason", "r")):
        assert manager(*command).exit_code in (4, 6), command
