"""`evault upload` and `evault dock` as an officer runs them against a real vault: exit statuses, messages that fit
the terminal, --json, and a vault that is down when the run starts."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from evault_client.output import display_width
from evault_client.upload.files import receipt_path
from tests.client.conftest import Shell
from tests.client.upload.conftest import CASE, CERTS, Officers
from tests.client.upload.server import RestartableServer
from vault.context import VaultContext
from vault.evidence.models import Evidence


def officer_shell(shell_for: Callable[..., Shell], officers: Officers, tmp_path: Path, **extra: str) -> Shell:
    """The uploading officer's shell, with its own state folder."""
    return shell_for(officers.uploader, EVAULT_STATE_DIR=str(tmp_path / "state"), **extra)


def test_upload_sends_a_folder_and_prints_a_summary(
    shell_for: Callable[..., Shell], officers: Officers, recorder: Path, tmp_path: Path
) -> None:
    done = officer_shell(shell_for, officers, tmp_path, COLUMNS="250").ok(
        "upload", str(recorder), "--case", CASE, "--handler", CERTS[0], "--handler", CERTS[1],
        "--activity", "inspection", "--quiet")
    assert "REC_0001.MP4" in done.stdout and "receipt OK" in done.stdout
    assert done.stdout.splitlines()[0].split() == ["file", "evidence", "id", "duplicate?", "flags", "result"]
    # Why each flag was raised is shown wherever the metadata is, the upload summary too (issue 12).
    assert "party_not_informed: 未记录已告知当事人开始录像" in done.stdout
    assert all(receipt_path(p).is_file() for p in recorder.rglob("*.MP4"))


def test_messages_are_chinese_first(
    shell_for: Callable[..., Shell], officers: Officers, recorder: Path, tmp_path: Path
) -> None:
    done = officer_shell(shell_for, officers, tmp_path, EVAULT_LANG="zh").ok(
        "upload", str(recorder), "--handler", CERTS[0], "--quiet")
    assert done.stdout.splitlines()[0].split() == ["文件", "证据编号", "重复", "标记", "结果"]
    assert "收据正常" in done.stdout and "标记原因" in done.stdout


def test_a_bad_token_is_one_clear_line_and_exit_3(
    shell_for: Callable[..., Shell], officers: Officers, recorder: Path, tmp_path: Path
) -> None:
    done = officer_shell(shell_for, officers, tmp_path, EVAULT_TOKEN="evt_wrong").__call__(
        "upload", str(recorder), "--handler", CERTS[0], "--quiet")
    assert done.exit_code == 3
    [line] = done.stderr.splitlines()
    assert "EVAULT_TOKEN" in line and "401" in line and "Traceback" not in done.stderr
    assert not any(receipt_path(p).exists() for p in recorder.rglob("*.MP4"))


def test_a_refused_file_fails_the_run_with_6_but_not_the_others(
    shell_for: Callable[..., Shell], officers: Officers, recorder: Path, tmp_path: Path
) -> None:
    fake = recorder / "README.MP4"
    fake.write_text("not a recording\n" * 100, encoding="utf-8")
    done = officer_shell(shell_for, officers, tmp_path)("upload", str(recorder), "--handler", CERTS[0], "--quiet")
    assert done.exit_code == 6 and "Traceback" not in done.stderr + done.stdout
    assert "FAILED" in done.stdout and "415" in done.stdout and "1 of 3 files FAILED" in done.stderr
    assert [receipt_path(p).exists() for p in sorted(recorder.rglob("*.MP4"))] == [True, True, False]


def test_the_summary_of_a_refusal_fits_80_columns(
    shell_for: Callable[..., Shell], officers: Officers, recorder: Path, tmp_path: Path
) -> None:
    deep = recorder / "DCIM" / "100MEDIA" / ("某某化工有限公司现场检查" * 3)
    deep.mkdir()
    (deep / "README_NOT_A_RECORDING.MP4").write_text("not a recording\n" * 100, encoding="utf-8")
    for lang in ("en", "zh"):
        done = officer_shell(shell_for, officers, tmp_path, COLUMNS="80", EVAULT_LANG=lang)(
            "upload", str(recorder), "--handler", CERTS[0], "--quiet")
        assert done.exit_code == 6
        lines = done.stdout.splitlines()
        assert max(display_width(line) for line in lines) <= 80 and len(lines) < 30, done.stdout
        assert "415" in done.stdout


def test_json_prints_one_line_per_file(
    shell_for: Callable[..., Shell], officers: Officers, recorder: Path, tmp_path: Path
) -> None:
    lines = officer_shell(shell_for, officers, tmp_path).json_lines(
        "upload", str(recorder), "--handler", CERTS[0], "--quiet")
    assert [Path(line["file"]).name for line in lines] == ["REC_0001.MP4", "REC_0002.MP4"]
    assert all(line["error"] is None and line["exit"] == 0 and len(line["evidence_id"]) == 36 for line in lines)
    assert all(Path(line["receipt"]).is_file() for line in lines)


def test_without_a_server_or_token_the_officer_is_told_what_to_set(
    shell_for: Callable[..., Shell], tmp_path: Path, recorder: Path
) -> None:
    no_server = shell_for(None, EVAULT_SERVER="", EVAULT_TOKEN="evt_x")("upload", str(recorder),
                                                                          "--handler", CERTS[0])
    assert no_server.exit_code == 78 and "EVAULT_SERVER" in no_server.stderr
    no_token = shell_for(None, EVAULT_SERVER="http://127.0.0.1:9")("upload", str(recorder), "--handler", CERTS[0])
    assert no_token.exit_code == 3 and "evault login" in no_token.stderr


def test_a_vault_that_stays_down_exits_75_after_the_wait(
    shell_for: Callable[..., Shell], officers: Officers, recorder: Path, tmp_path: Path, context: VaultContext
) -> None:
    down = RestartableServer(context)  # never started: its port refuses connections
    done = officer_shell(shell_for, officers, tmp_path, EVAULT_SERVER=down.url)(
        "upload", str(recorder), "--handler", CERTS[0], "--quiet", "--wait-for-vault", "1")
    assert done.exit_code == 75
    assert "retrying in" in done.stderr and "stayed unreachable for 1 s" in done.stderr.splitlines()[-1]


def test_a_vault_that_is_down_at_start_is_waited_for(
    shell_for: Callable[..., Shell], officers: Officers, recorder: Path, tmp_path: Path, context: VaultContext
) -> None:
    later = RestartableServer(context)
    starting = later.start_later(1.5)
    try:
        done = officer_shell(shell_for, officers, tmp_path, EVAULT_SERVER=later.url).ok(
            "upload", str(recorder), "--handler", CERTS[0], "--quiet", "--wait-for-vault", "60")
    finally:
        starting.join()
        later.stop()
    assert "retrying in" in done.stderr and done.stdout.count("receipt OK") == 2


def test_dock_once_runs_as_a_command(
    shell_for: Callable[..., Shell], officers: Officers, recorder: Path, tmp_path: Path
) -> None:
    watch = tmp_path / "dock"
    watch.mkdir()
    recorder = Path(shutil.move(recorder, watch / recorder.name))
    (recorder / "evault.toml").write_text(f'handlers = ["{CERTS[0]}"]\nrecorder_serial = "DSJ-V8-0042"\n',
                                          encoding="utf-8")
    done = officer_shell(shell_for, officers, tmp_path).ok("dock", str(watch), "--once", "--interval", "0.05")
    assert (recorder / "EVAULT-CLEARED.txt").read_text(encoding="utf-8").count("CLEAR\t") == 2
    assert f"recorder folder {recorder}:" in done.stdout
    reports = officer_shell(shell_for, officers, tmp_path).json_lines("dock", str(watch), "--once", "--quiet",
                                                                      "--interval", "0.05")
    [again] = reports  # a second run finds every file receipted and sends nothing
    assert again["recorder"] == "DSJ-V8-0042" and again["error"] is None
    assert [f["already_receipted"] for f in again["files"]] == [True, True]


def test_upload_declares_the_place_of_recording(
    shell_for: Callable[..., Shell], officers: Officers, recorder: Path, tmp_path: Path, context: VaultContext
) -> None:
    # Issue 12, item 9: `evault upload --place` declares where footage without GPS was recorded (拍摄地点).
    officer_shell(shell_for, officers, tmp_path).ok("upload", str(recorder), "--handler", CERTS[0],
                                                    "--place", "阜阳市颍州区某厂区")  # with progress bars
    with context.sessions() as session:
        assert [e.place for e in session.scalars(select(Evidence))] == ["阜阳市颍州区某厂区"] * 2
