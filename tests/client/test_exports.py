"""`evault export`, `evault exports ...` and `evault callups ...` from a records manager's own shell."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import bagit
import pytest

from evault_client.verify_bundle import verify_bundle
from tests.client.conftest import Shell
from tests.vault.callups.conftest import MakeExport
from tests.vault.callups.conftest import make_export as make_export
from tests.vault.exports.conftest import CASE_NUMBER, World, approve
from tests.vault.exports.conftest import media as media
from tests.vault.exports.conftest import world as world
from vault.access.models import AccessPurpose
from vault.config import PLACEHOLDER_AGENCY_NAME
from vault.context import VaultContext
from vault.db import utcnow
from vault.exports import layout


def export(shell: Shell, out: Path, *extra: str) -> list[str]:
    return ["export", CASE_NUMBER, "--purpose", "court", "--recipient", "阜阳市中级人民法院", "--out", str(out), *extra]


def test_export_downloads_a_valid_bag(
    shell_for: Callable[..., Shell], context: VaultContext, world: World, tmp_path: Path
) -> None:
    manager = shell_for(world.manager)
    approve(context, world, world.records, utcnow())
    out = tmp_path / "court.zip"
    made = manager.ok(*export(manager, out, "--records", f"{world.records[0]}, {world.records[1]}"))
    assert "2 record(s)" in made.stdout and "bundle SHA-256" in made.stdout
    assert not out.with_name("court.zip.partial").exists()
    with zipfile.ZipFile(out) as bundle:
        bundle.extractall(tmp_path / "unpacked")
    [bag_dir] = (tmp_path / "unpacked").iterdir()
    bag = bagit.Bag(str(bag_dir))
    assert bag.is_valid() and len(list(bag.payload_files())) >= 2
    assert verify_bundle(out).ok

    again = manager(*export(manager, out))
    assert again.exit_code == 5 and "already exists" in again.stderr
    [copy] = manager.json_lines("exports", "list")
    assert copy["record_count"] == 2 and copy["recipient"] == "阜阳市中级人民法院"
    assert copy["bundle_size"] == out.stat().st_size
    assert manager.ok("exports", "list").stdout.split()[:4] == ["export", "purpose", "recipient", "records"]
    assert [c["id"] for c in manager.json_lines("exports", "list", "--case", CASE_NUMBER)] == [copy["id"]]
    shown = manager.ok("exports", "show", copy["id"]).stdout
    assert copy["bundle_sha256"] in shown and "field" in shown.splitlines()[0]
    assert manager.json("exports", "show", copy["id"])["id"] == copy["id"]
    assert shell_for(world.officer)("exports", "list").exit_code == 4

    retained = tmp_path / "retained.json"
    saved = manager.ok("exports", "download", copy["id"], "--out", str(retained)).stdout
    assert str(retained) in saved and json.loads(retained.read_text())["bundle_sha256"] == copy["bundle_sha256"]
    assert manager("exports", "download", copy["id"], "--out", str(retained)).exit_code == 5
    assert manager("exports", "download", str(world.secret), "--out", str(tmp_path / "none.json")).exit_code == 4
    assert not (tmp_path / "none.json").exists() and not (tmp_path / "none.json.partial").exists()


def test_export_without_approval_is_one_line_and_leaves_no_file(
    shell_for: Callable[..., Shell], world: World, tmp_path: Path
) -> None:
    manager = shell_for(world.manager)
    out = tmp_path / "court.zip"
    refused = manager(*export(manager, out))
    assert refused.exit_code == 4 and refused.stderr.startswith("error (permission_denied): ")
    assert not out.exists() and not out.with_name("court.zip.partial").exists()
    bad = manager(*export(manager, out, "--records", "not-an-id"))
    assert bad.exit_code == 6 and "is not an evidence record ID" in bad.stderr


def test_party_copy_names_what_it_withheld(
    shell_for: Callable[..., Shell], context: VaultContext, world: World, tmp_path: Path
) -> None:
    # Confidential records may not be copied (`000` 第九条); the command says which were left out.
    manager = shell_for(world.manager)
    now = utcnow()
    approve(context, world, world.records, now)  # a court grant alone does not make a party copy
    out = tmp_path / "party.zip"
    refused = manager(*export(manager, out, "--purpose", "party-copy"))
    assert refused.exit_code == 4 and all(str(i) in refused.stderr for i in world.records) and not out.exists()
    approve(context, world, world.records, now, purpose=AccessPurpose.PARTY_COPY)
    made = manager.ok(*export(manager, out, "--purpose", "party-copy"))
    assert f"withheld from this party copy (000 第九条): 1: {world.secret}" in made.stdout
    secret = manager(*export(manager, tmp_path / "secret.zip", "--purpose", "party-copy", "--records",
                             str(world.secret)))
    assert secret.exit_code != 0 and "confidential_record" in secret.stderr and str(world.secret) in secret.stderr
    assert manager.json("--json", *export(manager, tmp_path / "p2.zip", "--purpose", "party-copy"))[
        "withheld_ids"] == [str(world.secret)]


def test_callups_from_the_command_line(
    shell_for: Callable[..., Shell], world: World, make_export: MakeExport
) -> None:
    # Due within 5 working days of the notice (`001` 备案规定 第十五条); overdue ones reported; fulfilled by an export.
    manager = shell_for(world.manager, COLUMNS="200")
    made = manager.ok("callups", "register", "--department", "安徽省应急管理厅", "--doc-number",
                      "皖应急备调〔2025〕3号", "--case", "阜应急罚字（2023）40号", "--received", "2025-09-29")
    lines = made.stdout.splitlines()
    assert lines[0].split() == ["callup", "department", "doc_number", "cases", "received", "due", "state"]
    assert "2025-10-13" in lines[1] and "OVERDUE" in lines[1]
    callup_id = lines[1].split()[0]
    overdue = manager("callups", "overdue")
    assert overdue.exit_code == 1 and callup_id in overdue.stdout
    as_json = manager("--json", "callups", "overdue")
    assert as_json.exit_code == 1 and [json.loads(line)["id"] for line in as_json.stdout.splitlines()] == [callup_id]
    export_id = make_export(utcnow())
    done = manager.ok("callups", "fulfil", callup_id, "--export", str(export_id))
    assert f"fulfilled LATE by {export_id}" in done.stdout
    assert manager("callups", "overdue").exit_code == 0
    listed = manager.json_lines("callups", "list", "--state", "fulfilled")
    assert [(c["id"], c["fulfilled_late"]) for c in listed] == [(callup_id, True)]
    twice = manager("callups", "fulfil", callup_id, "--export", str(export_id))
    assert twice.exit_code == 5 and twice.stderr.startswith("error (conflict): ")
    bad = manager("callups", "fulfil", "not-an-id", "--export", str(export_id))
    assert bad.exit_code == 6 and "is not a call-up ID" in bad.stderr
    officer = shell_for(world.officer)("callups", "list")
    assert officer.exit_code == 4 and "permission_denied" in officer.stderr


def test_provisional_due_dates_say_so(
    shell_for: Callable[..., Shell], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A due date in a year without holiday data is marked provisional, with the reason (issue 12 item 6).
    monkeypatch.setattr("vault.callups.routes.utcnow", lambda: datetime(2026, 12, 31, 2, 0, tzinfo=UTC))
    made = shell_for(world.manager, COLUMNS="200").ok(
        "callups", "register", "--department", "厅", "--doc-number", "1号", "--case", "阜应急罚字〔2023〕40号",
        "--received", "2026-12-30")
    assert "PROVISIONAL 2027-01-06" in made.stdout and "no holiday calendar for 2027" in made.stdout


def test_an_export_with_the_placeholder_agency_is_one_line_and_no_file(
    shell_for: Callable[..., Shell], context: VaultContext, world: World, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 12, item 9: the vault refuses the placeholder agency name, and the command says which setting to set.
    approve(context, world, world.records, utcnow())
    manager = shell_for(world.manager)
    out, records = tmp_path / "court.zip", ("--records", ",".join(str(r) for r in world.records))
    real_name = context.settings.agency_name
    monkeypatch.setattr(context.settings, "agency_name", PLACEHOLDER_AGENCY_NAME)
    refused = manager(*export(manager, out, *records))
    assert refused.exit_code == 5 and "EVAULT_AGENCY_NAME" in refused.stderr and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "agency_name_not_set" in refused.stderr
    assert not out.exists() and not out.with_name("court.zip.partial").exists()
    monkeypatch.setattr(context.settings, "demo", True)  # a demo vault may use the placeholder
    manager.ok(*export(manager, tmp_path / "demo.zip", *records))
    monkeypatch.setattr(context.settings, "demo", False)
    monkeypatch.setattr(context.settings, "agency_name", real_name)
    manager.ok(*export(manager, out, *records))
    with zipfile.ZipFile(out) as bundle:
        sheet = next(bundle.read(n) for n in bundle.namelist() if n.endswith(layout.EXPLANATION_TEXT)).decode()
    assert f"制作单位 Agency: {real_name}" in sheet


def test_call_ups_speak_chinese_first(shell_for: Callable[..., Shell], world: World) -> None:
    # Issue 15: a person who has not asked for English reads the table and its states in Chinese.
    manager = shell_for(world.manager, COLUMNS="200", EVAULT_LANG="zh")
    made = manager.ok("callups", "register", "--department", "安徽省应急管理厅", "--doc-number",
                      "皖应急备调〔2025〕3号", "--case", "阜应急罚字（2023）40号", "--received", "2025-09-29")
    lines = made.stdout.splitlines()
    assert lines[0].split() == ["调阅编号", "调阅机关", "文号", "案号", "收到日期", "期限", "状态"]
    assert "已逾期" in lines[1] and "OVERDUE" not in lines[1]
    assert manager.ok("exports", "list").stdout.strip() == "没有导出记录"
