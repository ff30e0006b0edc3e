"""`evault evidence show|tag` and `evault flags ...`: the same compliance-flag rules as the API (issue 12)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from evault.cli import main
from tests.conftest import Person
from tests.ingest.conftest import CaseFile, events_of, flags_of, ingest_file
from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.identities.models import Role

ON_TIME = datetime(2025, 3, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def cli(context: VaultContext) -> Callable[..., Result]:
    """Run `evault` on the test vault's catalog."""
    env = {"EVAULT_HOME": str(context.settings.home), "EVAULT_DATABASE_URL": context.settings.database_url,
           "EVAULT_LOG_JSON": "false"}

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return run


def test_show_prints_each_flag_with_its_reason(
        cli: Callable[..., Result], context: VaultContext, officer: Person, make_person: Callable[..., Person],
        media: dict[str, Path], now: datetime) -> None:
    # Everyone who may see a record's metadata sees why each flag was raised (issue 12).
    evidence_id = ingest_file(context, officer, media["clip"], now=now, late_reason="车辆故障").evidence.id
    for person in (officer, make_person(Role.AUDITOR)):
        shown = cli("--as", person.user.name, "evidence", "show", str(evidence_id))
        assert shown.exit_code == 0, shown.output
        assert "late_upload\t[late_upload]\t应于 2025-03-31 00:00:00+08:00 前移交" in shown.output
        assert "迟交原因：车辆故障" in shown.output and "untagged_case\t[untagged_case]\t尚未填写案号" in shown.output
    stranger = cli("--as", make_person(Role.OFFICER).user.name, "evidence", "show", str(evidence_id))
    assert stranger.exit_code == 2 and "not_found" in stranger.output


def test_a_clearing_tag_change_waits_and_an_approver_decides_from_the_command_line(
        cli: Callable[..., Result], context: VaultContext, officer: Person, case_file: CaseFile,
        make_person: Callable[..., Person], media: dict[str, Path]) -> None:
    evidence_id = ingest_file(context, officer, media["clip"], now=ON_TIME, case_number=case_file.number,
                              party=case_file.party, handlers="C001", activity="inspection").evidence.id
    me = officer.user.name
    plain = cli("--as", me, "evidence", "tag", str(evidence_id), "notes=site B")
    assert plain.exit_code == 0 and "fewer_than_two_officers" in plain.output
    refused = cli("--as", me, "evidence", "tag", str(evidence_id), "handlers=C001,C002", "party_informed=yes")
    assert refused.exit_code == 2 and "须说明理由" in refused.output
    asked = cli("--as", me, "evidence", "tag", str(evidence_id), "handlers=C001,C002", "party_informed=yes",
                "--reason", "second officer forgotten")
    assert asked.exit_code == 0 and "已提交申请" in asked.output, asked.output
    assert {"fewer_than_two_officers", "party_not_informed"} <= set(flags_of(context, evidence_id))
    approver = make_person(Role.APPROVER).user.name
    listed = cli("--as", approver, "flags", "requests").output
    assert "flag clearance requests: 1" in listed and "fewer_than_two_officers" in listed
    request_id = listed.splitlines()[1].split("\t")[0]
    own = cli("--as", me, "flags", "approve", request_id, "--reason", "fine")
    assert own.exit_code == 2 and "permission_denied" in own.output
    approved = cli("--as", approver, "flags", "approve", request_id, "--reason", "roster checked")
    assert approved.exit_code == 0 and "approved" in approved.output and "roster checked" in approved.output
    assert not {"fewer_than_two_officers", "party_not_informed"} & set(flags_of(context, evidence_id))
    assert len(events_of(context, evidence_id, CustodyAction.FLAG_CLEARANCE_APPROVED)) == 1
    assert "flag clearance requests: 0" in cli("--as", approver, "flags", "requests").output
    assert "\tapproved\t" in cli("--as", me, "flags", "requests", "--all").output


def test_a_rejected_request_leaves_tags_and_flags_and_impossible_times_are_refused(
        cli: Callable[..., Result], context: VaultContext, officer: Person, make_person: Callable[..., Person],
        media: dict[str, Path], now: datetime) -> None:
    evidence_id = ingest_file(context, officer, media["clip"], now=now).evidence.id
    me = officer.user.name
    future = cli("--as", me, "evidence", "tag", str(evidence_id), "field_return_at=2099-01-01T00:00:00+08:00",
                 "--reason", "back late")
    assert future.exit_code == 2 and "invalid_metadata" in future.output
    cli("--as", me, "evidence", "tag", str(evidence_id), "field_return_at=2025-03-30T21:00:00+08:00",
        "--reason", "field work")
    approver = make_person(Role.APPROVER).user.name
    request_id = cli("--as", approver, "flags", "requests").output.splitlines()[1].split("\t")[0]
    rejected = cli("--as", approver, "flags", "reject", request_id, "--reason", "no field work that day")
    assert rejected.exit_code == 0 and "rejected" in rejected.output
    assert "late_upload" in flags_of(context, evidence_id)
    assert events_of(context, evidence_id, CustodyAction.EVIDENCE_TAGGED) == []
    again = cli("--as", approver, "flags", "approve", request_id, "--reason", "ok")
    assert again.exit_code == 2 and "request_not_pending" in again.output
