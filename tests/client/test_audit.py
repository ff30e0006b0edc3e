"""`evault audit trail|verify` as an auditor: names not ids, JSON and CSV (details as JSON), the remote log check."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evault_client.output import display_width
from tests.client.conftest import Shell
from tests.client.footage import CASE, make_case_file, make_clip
from tests.conftest import Person
from tests.ingest.conftest import ingest_file
from tests.vault.custody.test_service import _recompute_entry
from vault.context import VaultContext
from vault.identities.models import Role

Shells = Callable[..., Shell]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a short recorder clip."""
    return make_clip(tmp_path_factory.mktemp("footage"))


@pytest.fixture
def granted(shell_for: Shells, context: VaultContext, make_person: Callable[..., Person], clip: Path) -> Person:
    """A clip of case 阜应急罚字〔2023〕40号, requested by a reviewer and approved; return the reviewer."""
    make_case_file(context)
    officer, reviewer = make_person(Role.OFFICER, certificate="C001"), make_person(Role.REVIEWER, name="wang")
    ingest_file(context, officer, clip, now=datetime(2025, 3, 30, 8, 0, tzinfo=UTC), case_number=CASE)
    filed = shell_for(reviewer).json("access", "request", "--case", CASE, "--purpose", "investigation",
                                     "--hours", "4", "--reason", "复核")
    shell_for(make_person(Role.APPROVER)).ok("access", "approve", filed["id"])
    return reviewer


def test_trail_by_case_number_as_the_docs_write_it(shell_for: Shells, context: VaultContext,
                                                   make_person: Callable[..., Person], granted: Person) -> None:
    auditor = shell_for(make_person(Role.AUDITOR), COLUMNS="200")
    # 阜应急罚字〔2023〕40号 typed as it is: the client encodes the query, nobody URL-encodes anything.
    shown = auditor.ok("audit", "trail", "--case", CASE)
    header, *rows = shown.stdout.splitlines()
    assert header.split() == ["#", "AT", "ACTOR", "ACTION", "SUBJECT", "SUMMARY"]
    assert [r.split()[4] for r in rows] == ["access:requested", "access:approved"]
    assert "wang" in rows[0] and CASE in rows[0]
    assert shown.stderr == "2 of 2 event(s)\n"
    narrow = shell_for(make_person(Role.AUDITOR)).ok("audit", "trail", "--case", CASE).stdout.splitlines()
    assert all(display_width(line) <= 80 for line in narrow)
    lines = auditor.json_lines("audit", "trail", "--case", CASE, "--user", "wang")
    assert [e["action"] for e in lines] == ["access:requested", "access:approved"]
    assert lines[0]["case_number"] == CASE and isinstance(lines[0]["details"], dict)
    same = auditor.ok("audit", "trail", "--case", CASE, "--format", "json").stdout.splitlines()
    assert [json.loads(line) for line in same] == lines
    page = auditor("--json", "audit", "trail", "--case", CASE, "--offset", "1", "--limit", "1")
    assert page.stderr == "1 of 2 event(s)\n" and [json.loads(page.stdout)["action"]] == ["access:approved"]
    assert auditor.json_lines("audit", "trail", "--case", CASE, "--since", "2099-01-01") == []
    # A typed date is the agency's day; after 16:00 UTC that is already tomorrow in Shanghai.
    today = datetime.now(UTC).astimezone(context.settings.zone).date().isoformat()
    assert len(auditor.json_lines("audit", "trail", "--action", "*", "--since", today, "--until", today)) > 2


def test_csv_has_json_details_and_the_export_is_logged(shell_for: Shells, context: VaultContext,
                                                       make_person: Callable[..., Person], granted: Person,
                                                       tmp_path: Path) -> None:
    auditor = shell_for(make_person(Role.AUDITOR))
    printed = auditor.ok("audit", "trail", "--case", CASE, "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(printed.lstrip("\ufeff"))))
    assert [r["action"] for r in rows] == ["access:requested", "access:approved"]
    assert json.loads(rows[0]["details"])["purpose"] == "investigation"
    written = tmp_path / "trail.csv"
    saved = auditor.ok("audit", "trail", "--case", CASE, "--format", "csv", "--output", str(written))
    assert "exported to" in saved.stdout
    assert written.read_text(encoding="utf-8-sig").splitlines()[0] == printed.lstrip("\ufeff").splitlines()[0]
    exports = auditor.json_lines("audit", "trail", "--action", "audit:report_exported")
    assert [e["details"]["format"] for e in exports] == ["csv", "csv"]
    pdf = tmp_path / "trail.pdf"
    auditor.ok("audit", "trail", "--format", "pdf", "--output", str(pdf), "--case", CASE)
    assert pdf.read_bytes().startswith(b"%PDF")
    assert auditor("audit", "trail", "--format", "pdf").exit_code == 2


@pytest.mark.parametrize("role", [Role.OFFICER, Role.REVIEWER, Role.APPROVER, Role.RECORDS_MANAGER])
def test_only_auditors_read_the_trail_or_verify(shell_for: Shells, make_person: Callable[..., Person],
                                                role: Role) -> None:
    who = shell_for(make_person(role))
    for args in (("audit", "trail"), ("audit", "trail", "--format", "csv"), ("audit", "verify")):
        refused = who(*args)
        assert refused.exit_code == 4 and "permission_denied" in refused.stderr, args
    assert shell_for()("audit", "trail").exit_code == 3


def test_verify_says_ok_then_exits_1_when_the_log_is_broken(shell_for: Shells, context: VaultContext,
                                                            make_person: Callable[..., Person]) -> None:
    auditor = shell_for(make_person(Role.AUDITOR))
    ok = auditor.ok("audit", "verify").stdout
    assert ok.startswith("custody log OK: ")
    assert auditor.json("audit", "verify")["ok"] is True
    _recompute_entry(context, 1)
    broken = auditor("audit", "verify")
    assert broken.exit_code == 1 and "custody log BROKEN: " in broken.stdout
    assert "custody_log_broken" in broken.stderr
    as_json = auditor("--json", "audit", "verify")
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["ok"] is False
