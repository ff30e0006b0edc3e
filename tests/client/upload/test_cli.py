"""The officer's commands, run as a real process against a real vault: exit codes and messages, never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from evault_client.upload.files import receipt_path
from sqlalchemy import select

from tests.client.upload.conftest import CASE, CERTS, Officers
from vault.context import VaultContext
from vault.evidence.models import Evidence

EVAULT = str(Path(sys.executable).parent / "evault")


def evault(tmp_path: Path, token: str, *args: str, server: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "client-home"), "EVAULT_TOKEN": token, "COLUMNS": "250"}
    if server:
        env["EVAULT_SERVER"] = server
    return subprocess.run([EVAULT, *args, "--state-dir", str(tmp_path / "state"), "--quiet"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_upload_sends_a_folder_and_prints_a_summary(
    vault_url: str, officers: Officers, recorder: Path, tmp_path: Path
) -> None:
    done = evault(tmp_path, officers.uploader.token, "upload", str(recorder), "--case", CASE,
                  "--handler", CERTS[0], "--handler", CERTS[1], "--activity", "inspection", server=vault_url)
    assert done.returncode == 0, done.stderr
    assert "REC_0001.MP4" in done.stdout and "receipt OK" in done.stdout
    # Why each flag was raised is shown wherever the metadata is, the upload summary too (issue 12).
    assert "party_not_informed: 未记录已告知当事人开始录像" in done.stdout
    assert all(receipt_path(p).is_file() for p in recorder.rglob("*.MP4"))


def test_a_bad_token_is_one_clear_line_and_exit_2(vault_url: str, officers: Officers, recorder: Path,
                                                  tmp_path: Path) -> None:
    done = evault(tmp_path, "evt_wrong", "upload", str(recorder), "--handler", CERTS[0], "--server", vault_url)
    assert done.returncode == 2
    assert "EVAULT_TOKEN" in done.stderr and "401" in done.stderr and "Traceback" not in done.stderr
    assert not any(receipt_path(p).exists() for p in recorder.rglob("*.MP4"))


def test_a_refused_file_fails_the_run_but_not_the_others(
    vault_url: str, officers: Officers, recorder: Path, tmp_path: Path
) -> None:
    fake = recorder / "README.MP4"
    fake.write_text("not a recording\n" * 100, encoding="utf-8")
    done = evault(tmp_path, officers.uploader.token, "upload", str(recorder), "--handler", CERTS[0],
                  server=vault_url)
    assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout
    assert "FAILED" in done.stdout and "415" in done.stdout and "1 of 3 files FAILED" in done.stderr
    assert [receipt_path(p).exists() for p in sorted(recorder.rglob("*.MP4"))] == [True, True, False]


def test_without_a_server_or_token_the_officer_is_told_what_to_set(tmp_path: Path, recorder: Path) -> None:
    no_server = evault(tmp_path, "evt_x", "upload", str(recorder), "--handler", CERTS[0])
    assert no_server.returncode == 2 and "EVAULT_SERVER" in no_server.stderr
    no_token = evault(tmp_path, "", "upload", str(recorder), "--handler", CERTS[0], server="http://127.0.0.1:9")
    assert no_token.returncode == 2 and "EVAULT_TOKEN is not set" in no_token.stderr


def test_dock_once_runs_as_a_command(vault_url: str, officers: Officers, recorder: Path, tmp_path: Path) -> None:
    watch = tmp_path / "dock"
    watch.mkdir()
    recorder = Path(shutil.move(recorder, watch / recorder.name))
    (recorder / "evault.toml").write_text(f'handlers = ["{CERTS[0]}"]\nrecorder_serial = "DSJ-V8-0042"\n',
                                          encoding="utf-8")
    done = evault(tmp_path, officers.uploader.token, "dock", str(watch), "--once", "--interval", "0.05",
                  server=vault_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (recorder / "EVAULT-CLEARED.txt").read_text(encoding="utf-8").count("CLEAR\t") == 2


def test_upload_declares_the_place_of_recording(
    vault_url: str, officers: Officers, recorder: Path, tmp_path: Path, context: VaultContext
) -> None:
    # Issue 12, item 9: `evault upload --place` declares where footage without GPS was recorded (拍摄地点).
    done = evault(tmp_path, officers.uploader.token, "upload", str(recorder), "--handler", CERTS[0],
                  "--place", "阜阳市颍州区某厂区", server=vault_url)
    assert done.returncode == 0, done.stderr
    with context.sessions() as session:
        assert [e.place for e in session.scalars(select(Evidence))] == ["阜阳市颍州区某厂区"] * 2
