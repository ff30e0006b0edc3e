"""`evault evidence search|show|tag|retag` and `evault flags ...` through the API, each person in their own shell."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evault_client.output import display_width
from tests.client.conftest import Shell
from tests.client.footage import make_case_file, make_clip
from tests.conftest import Person
from tests.ingest.conftest import CaseFile, events_of, flags_of, ingest_file
from tests.vault.evidence.test_search import (
    CHEN_ID,
    Catalog,
    catalog,  # noqa: F401 - the fixture, as pytest finds it
)
from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.identities.models import Role

ON_TIME = datetime(2025, 3, 30, 8, 0, tzinfo=UTC)
Shells = Callable[..., Shell]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a short recorder clip."""
    return make_clip(tmp_path_factory.mktemp("footage"))


@pytest.fixture(scope="module")
def other_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return another clip (other bytes: the vault keeps one record per content)."""
    return make_clip(tmp_path_factory.mktemp("footage"), seconds=1.0)


@pytest.fixture
def officer(make_person: Callable[..., Person]) -> Person:
    """Return an officer holding certificate C001."""
    return make_person(Role.OFFICER, certificate="C001")


@pytest.fixture
def case_file(context: VaultContext) -> CaseFile:
    """Create case 阜应急罚字〔2023〕40号 with its party and handlers."""
    return make_case_file(context)


def test_show_prints_each_flag_with_its_reason(shell_for: Shells, context: VaultContext, officer: Person,
                                               make_person: Callable[..., Person], clip: Path, now: datetime) -> None:
    # Everyone who may see a record's metadata sees why each flag was raised (issue 12).
    evidence_id = ingest_file(context, officer, clip, now=now, late_reason="车辆故障").evidence.id
    for person in (officer, make_person(Role.AUDITOR)):
        shown = shell_for(person).ok("evidence", "show", str(evidence_id)).stdout
        assert f"record {evidence_id}  clip.mp4  video/mp4" in shown
        assert "late_upload  [late_upload]  应于 2025-03-31 00:00:00+08:00 前移交" in shown
        assert "迟交原因：车辆故障" in shown and "untagged_case  [untagged_case]  尚未填写案号" in shown
        assert f"uploaded: 2025-03-31 10:00:00 by {officer.user.name}" in shown  # the agency's zone
    document = shell_for(officer).json("evidence", "show", str(evidence_id))
    assert {"late_upload", "untagged_case"} <= set(document["flags"])
    assert {f["flag"]: f["code"] for f in document["flag_reasons"]}["late_upload"] == "late_upload"
    stranger = shell_for(make_person(Role.OFFICER))("evidence", "show", str(evidence_id))
    assert stranger.exit_code == 4 and "not_found" in stranger.stderr


def test_search_has_the_web_filters_and_prints_the_total(
        shell_for: Shells, context: VaultContext, officer: Person, case_file: CaseFile,
        make_person: Callable[..., Person], clip: Path, other_clip: Path) -> None:
    tagged = ingest_file(context, officer, clip, now=ON_TIME, case_number=case_file.number, party=case_file.party,
                         handlers="C001,C002", activity="inspection", recorder_serial="DSJ-001").evidence.id
    bare = ingest_file(context, officer, other_clip, now=ON_TIME).evidence.id
    reviewer_person = make_person(Role.REVIEWER)
    reviewer = shell_for(reviewer_person)
    # The case number is typed as the docs write it: httpx encodes it.
    narrow = reviewer.ok("evidence", "search", "--case", case_file.number).stdout.splitlines()
    assert all(display_width(line) <= 80 for line in narrow) and narrow[2].startswith(str(tagged))  # ids stay whole
    found = shell_for(reviewer_person, COLUMNS="200").ok("evidence", "search", "--case", case_file.number)
    header, *rows = found.stdout.splitlines()[1:]
    assert found.stdout.splitlines()[0] == "1 record(s) (page 1 of 1)"
    assert header.split() == ["ID", "CASE", "CAPTURED", "NAME", "FLAGS"]
    assert len(rows) == 1 and rows[0].split()[:2] == [str(tagged), case_file.number]
    assert "2025-03-30 14:00:00" in rows[0]  # captured 06:00 UTC, shown in the agency's zone
    mine = shell_for(officer)
    assert [r["id"] for r in mine.json_lines("evidence", "search", "--flag", "untagged_case")] == [str(bare)]
    assert [r["id"] for r in mine.json_lines("evidence", "search", "--flag", "untagged_case", "--flag",
                                             "fewer_than_two_officers")] == [str(bare)]
    assert [r["id"] for r in reviewer.json_lines("evidence", "search", "--handler", "C002", "--activity",
                                                 "inspection", "--recorder", "DSJ-001")] == [str(tagged)]
    both = mine.json_lines("evidence", "search", "--captured-from", "2025-03-30", "--captured-to", "2025-03-30",
                               "--uploaded-from", "2025-03-30", "--uploaded-to", "2025-03-31", "--sort",
                               "capture_start", "--order", "asc", "--confidentiality", "none")
    assert {r["id"] for r in both} == {str(tagged), str(bare)}
    assert mine.json_lines("evidence", "search", "--captured-from", "2025-03-31") == []
    paged = mine("--json", "evidence", "search", "--page", "2", "--page-size", "1")
    assert paged.exit_code == 0 and "2 record(s) (page 2 of 2)" in paged.stderr and len(paged.stdout.splitlines()) == 1
    party = reviewer("evidence", "search", "--party", "91341200MA2TESTX0X")
    assert party.exit_code == 4 and "permission_denied" in party.stderr  # ID numbers: records managers only
    unknown = reviewer("evidence", "search", "--case", "阜应急罚字〔2099〕1号")
    assert unknown.exit_code == 4
    assert shell_for(make_person(Role.OFFICER)).json_lines("evidence", "search") == []  # only their own uploads


def test_a_clearing_tag_change_waits_and_an_approver_decides_from_another_shell(
        shell_for: Shells, context: VaultContext, officer: Person, case_file: CaseFile,
        make_person: Callable[..., Person], clip: Path) -> None:
    record = ingest_file(context, officer, clip, now=ON_TIME, case_number=case_file.number, party=case_file.party,
                         handlers="C001", activity="inspection").evidence.id
    evidence_id = str(record)
    mine = shell_for(officer)
    plain = mine.ok("evidence", "tag", evidence_id, "notes=site B").stdout
    assert "fewer_than_two_officers" in plain
    refused = mine("evidence", "tag", evidence_id, "handlers=C001,C002", "party_informed=yes")
    assert refused.exit_code == 6 and "须说明理由" in refused.stderr, refused.stderr
    asked = mine.ok("evidence", "retag", evidence_id, "handlers=C001,C002", "party_informed=yes",
                    "--reason", "second officer forgotten").stdout
    assert "not applied; request" in asked and "awaits an approver" in asked
    assert {"fewer_than_two_officers", "party_not_informed"} <= set(flags_of(context, record))
    approver_person = make_person(Role.APPROVER)
    approver = shell_for(approver_person)
    listed = approver.ok("flags", "requests").stdout.splitlines()
    assert listed[0] == "flag clearance requests: 1" and listed[1].split() == ["ID", "STATUS", "CLEARS", "BY", "REASON"]
    assert all(display_width(line) <= 80 for line in listed)
    request_id = listed[2].split()[0]
    wide = shell_for(approver_person, COLUMNS="200").ok("flags", "requests").stdout.splitlines()[2]
    assert wide.split()[:4] == [request_id, "pending", "fewer_than_two_officers,", "party_not_informed"]
    assert officer.user.name in wide and "second officer forgotten" in wide and request_id in asked
    own = mine("flags", "approve", request_id, "--reason", "fine")
    assert own.exit_code == 4 and "permission_denied" in own.stderr
    approved = approver.ok("flags", "approve", request_id, "--reason", "roster checked").stdout
    assert approved == f"request {request_id} approved by {approver_person.user.name}: roster checked\n"
    assert not {"fewer_than_two_officers", "party_not_informed"} & set(flags_of(context, record))
    assert len(events_of(context, evidence_id, CustodyAction.FLAG_CLEARANCE_APPROVED)) == 1
    assert approver.ok("flags", "requests").stdout.splitlines() == ["flag clearance requests: 0"]
    assert [r["status"] for r in mine.json_lines("flags", "requests", "--all", "--record", evidence_id)] == ["approved"]
    assert "  approved  " in mine.ok("flags", "requests", "--all").stdout


def test_a_rejected_request_leaves_tags_and_flags_and_impossible_times_are_refused(
        shell_for: Shells, context: VaultContext, officer: Person, make_person: Callable[..., Person], clip: Path,
        now: datetime) -> None:
    record = ingest_file(context, officer, clip, now=now).evidence.id
    evidence_id = str(record)
    mine = shell_for(officer)
    future = mine("evidence", "tag", evidence_id, "field_return_at=2099-01-01T00:00:00+08:00", "--reason", "late")
    assert future.exit_code == 6 and "invalid_metadata" in future.stderr
    request = mine.json("evidence", "tag", evidence_id, "field_return_at=2025-03-30T21:00:00+08:00",
                        "--reason", "field work")
    assert request["status"] == "pending" and [c["flag"] for c in request["clears"]] == ["late_upload"]
    approver = shell_for(make_person(Role.APPROVER))
    rejected = approver.json("flags", "reject", request["id"], "--reason", "no field work that day")
    assert rejected["status"] == "rejected" and rejected["decision_reason"] == "no field work that day"
    assert "late_upload" in flags_of(context, record)
    assert events_of(context, evidence_id, CustodyAction.EVIDENCE_TAGGED) == []
    again = approver("flags", "approve", request["id"], "--reason", "ok")
    assert again.exit_code == 5 and "request_not_pending" in again.stderr
    bad = mine("evidence", "tag", evidence_id, "colour=red")
    assert bad.exit_code == 2 and "KEY one of case_number" in bad.stderr


def test_search_keeps_the_api_rules_on_a_catalog(shell_for: Shells, catalog: Catalog) -> None:  # noqa: F811
    # Ported from the database-direct CLI: any bracket variant of a case number, officers see their own uploads.
    reviewer = shell_for(catalog.reviewer)
    shown = reviewer.ok("evidence", "search", "--handler", "李娜", "--case", "阜应急罚字[2023]40号",
                        "--captured-from", "2025-03-01T00:00:00")
    assert shown.stdout.startswith("1 record(s)") and str(catalog.chen) in shown.stdout
    assert "late_upload" in shell_for(catalog.reviewer, COLUMNS="200").ok(
        "evidence", "search", "--handler", "李娜").stdout
    mine = shell_for(catalog.other_officer).ok("evidence", "search", "--recorder", "DSJ-0421").stdout
    assert mine.startswith("1 record(s)") and str(catalog.other) in mine
    refused = reviewer("evidence", "search", "--party", CHEN_ID)  # ID numbers: records managers only
    assert refused.exit_code == 4 and "permission_denied" in refused.stderr
    backwards = reviewer("evidence", "search", "--uploaded-from", "2025-03-05", "--uploaded-to", "2025-03-01")
    assert backwards.exit_code == 6 and "invalid_input" in backwards.stderr
