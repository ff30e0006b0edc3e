"""`evault callups`: register, list, fulfil and the overdue report, one line per call-up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner, Result

from evault.cli import main
from tests.vault.callups.conftest import MakeExport
from tests.vault.exports.conftest import World
from tests.vault.exports.test_cli import _env
from vault.context import VaultContext
from vault.db import utcnow
from vault.storage.base import BlobStore


def _run(env: dict[str, str], world: World, *args: str) -> Result:
    return CliRunner().invoke(main, ["--as", world.manager.user.name, "callups", *args], env=env,
                              catch_exceptions=False)


def test_callups_from_the_command_line(
    context: VaultContext, store: BlobStore, world: World, make_export: MakeExport
) -> None:
    # Due within 5 working days of the notice (`001` 备案规定 第十五条); overdue ones reported; fulfilled by an export.
    env = _env(context, store)
    made = _run(env, world, "register", "--department", "安徽省应急管理厅", "--doc-number", "皖应急备调〔2025〕3号",
                "--case", "阜应急罚字（2023）40号", "--received", "2025-09-29")
    assert made.exit_code == 0, made.output
    assert "due 2025-10-13" in made.output and "OVERDUE" in made.output
    callup_id = made.output.split("\t", 1)[0]
    overdue = _run(env, world, "overdue")
    assert overdue.exit_code == 1 and "overdue call-ups (逾期未报送的调阅): 1" in overdue.output
    export_id = make_export(utcnow())
    done = _run(env, world, "fulfil", callup_id, "--export", str(export_id))
    assert done.exit_code == 0, done.output
    assert f"fulfilled LATE by export(s) {export_id}" in done.output
    assert _run(env, world, "overdue").exit_code == 0
    listed = _run(env, world, "list", "--state", "fulfilled")
    assert "call-ups (调阅): 1" in listed.output and callup_id in listed.output
    twice = _run(env, world, "fulfil", callup_id, "--export", str(export_id))
    assert twice.exit_code == 2 and twice.output.startswith("error (conflict): ")
    bad = _run(env, world, "fulfil", "not-an-id", "--export", str(export_id))
    assert bad.exit_code == 2 and "is not a call-up ID" in bad.output
    officer = CliRunner().invoke(main, ["--as", world.officer.user.name, "callups", "list"], env=env)
    assert officer.exit_code == 2 and "permission_denied" in officer.output


def test_provisional_due_dates_say_so(
    context: VaultContext, store: BlobStore, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A due date in a year without holiday data is marked provisional, with the reason (issue 12 item 6).
    monkeypatch.setattr("vault.callups.cli.utcnow", lambda: datetime(2026, 12, 31, 2, 0, tzinfo=UTC))
    made = _run(_env(context, store), world, "register", "--department", "厅", "--doc-number", "1号",
                "--case", "阜应急罚字〔2023〕40号", "--received", "2026-12-30")
    assert made.exit_code == 0, made.output
    assert "PROVISIONAL due 2027-01-06" in made.output and "no holiday calendar for 2027" in made.output
