"""What every command shares: tables that fit a terminal, a private credential file, one exit status per failure."""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from evault_client.credentials import CredentialStore, StoredCredential
from evault_client.errors import CommandFailed
from evault_client.exits import Exit, exit_for_status
from evault_client.output import Column, Output, display_width

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_table_has_a_header_and_fits_80_columns_with_chinese_text(capsys: pytest.CaptureFixture[str]) -> None:
    out = Output(json_mode=False, zone=SHANGHAI, width=80)
    items = [{"case_number": "阜应急罚字〔2023〕40号", "title": "某化工有限公司未按规定开展安全生产教育培训案" * 3,
              "opened_at": "2025-03-31T02:05:09+00:00", "status": "open"}]
    out.rows(items, [Column("案号", "case_number"), Column("案由", "title"), Column("立案时间", "opened_at", time=True),
                     Column("状态", "status")])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["案号", "案由", "立案时间", "状态"]
    assert all(display_width(line) <= 80 for line in printed)
    assert "阜应急罚字〔2023〕40号" in printed[1]
    assert "2025-03-31 10:05:09" in printed[1]  # the agency's zone, to the second
    assert "…" in printed[1]  # the long title was cut, not wrapped


def test_json_mode_prints_the_api_objects_as_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    out = Output(json_mode=True, zone=SHANGHAI, width=80)
    out.rows([{"id": 1, "name": "张伟"}, {"id": 2, "name": "李娜"}], [Column("name", "name")])
    assert capsys.readouterr().out.splitlines() == ['{"id": 1, "name": "张伟"}', '{"id": 2, "name": "李娜"}']


def test_the_credential_file_is_readable_by_its_owner_alone(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "client", use_keyring=False)
    where = store.put(StoredCredential(server="https://vault.example", user="zhang.wei", token="evt_secret",
                                       expires_at="2026-12-07T20:00:00+00:00", timezone="Asia/Shanghai"))
    assert where == str(tmp_path / "client" / "credentials.json")
    if sys.platform != "win32":
        assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    again = CredentialStore(tmp_path / "client", use_keyring=False)
    assert again.default_server() == "https://vault.example"
    assert again.get("https://vault.example") == StoredCredential(
        server="https://vault.example", user="zhang.wei", token="evt_secret",
        expires_at="2026-12-07T20:00:00+00:00", timezone="Asia/Shanghai")
    assert again.remove("https://vault.example") is True
    assert again.get("https://vault.example") is None and again.default_server() is None


@pytest.mark.parametrize(("status", "expected"), [
    (401, Exit.AUTHENTICATION), (403, Exit.NOT_FOUND_OR_FORBIDDEN), (404, Exit.NOT_FOUND_OR_FORBIDDEN),
    (409, Exit.CONFLICT), (423, Exit.CONFLICT), (422, Exit.INVALID_INPUT), (415, Exit.INVALID_INPUT),
    (413, Exit.INVALID_INPUT), (503, Exit.TEMPORARY_FAILURE), (500, Exit.TEMPORARY_FAILURE),
    (429, Exit.TEMPORARY_FAILURE), (None, Exit.TEMPORARY_FAILURE),
])
def test_each_kind_of_answer_has_its_own_exit_status(status: int | None, expected: Exit) -> None:
    assert exit_for_status(status) == expected


def test_an_error_answer_keeps_the_vaults_code_and_message() -> None:
    failure = CommandFailed.from_response(409, '{"error": {"code": "under_hold", "message": "记录处于保全中", '
                                               '"details": {"hold": "h1"}}}'.encode())
    assert (failure.code, failure.message, failure.exit_status) == ("under_hold", "记录处于保全中", Exit.CONFLICT)
    assert failure.as_document() == {"error": {"code": "under_hold", "message": "记录处于保全中",
                                               "details": {"hold": "h1"}, "status": 409}, "exit": 5}
    garbled = CommandFailed.from_response(502, b"<html>bad gateway</html>")
    assert (garbled.code, garbled.exit_status) == ("http_502", Exit.TEMPORARY_FAILURE)
