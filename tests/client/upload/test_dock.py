"""`dock` against a real vault: stable recorder folders are ingested with their sidecar tags; nothing is deleted."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from evault_client.upload.dock import Dock
from evault_client.upload.files import receipt_path
from evault_client.upload.runner import IngestClient
from evault_client.upload.tags import Tags

from tests.client.upload.conftest import CASE, CERTS, PARTY, Officers, api_get
from tests.media import make_video


@pytest.fixture
def station(tmp_path: Path, recorder: Path) -> Path:
    """A docking-station folder holding one recorder folder with an evault.json sidecar."""
    watch = tmp_path / "dock"
    watch.mkdir()
    folder = Path(shutil.move(recorder, watch / recorder.name))
    (folder / "evault.json").write_text(json.dumps({
        "recorder_serial": "DSJ-V8-0042", "handlers": list(CERTS), "case_number": CASE, "party": PARTY,
        "activity": "inspection"}, ensure_ascii=False), encoding="utf-8")
    return watch


def files_with_bytes(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def run_once(client: IngestClient, watch: Path, now: datetime) -> Dock:
    dock = Dock(client, watch, Tags(notes="docking station 3"), clock=lambda: now)
    dock.run(interval=0.01, once=True, sleep=lambda seconds: None)
    return dock


def test_dock_ingests_with_sidecar_tags_writes_receipts_and_clear_list_and_deletes_nothing(
    client_factory: Callable[..., IngestClient], station: Path, vault_url: str, officers: Officers, now: datetime
) -> None:
    folder = station / "DSJ-V8-0042"
    before = files_with_bytes(folder)
    dock = Dock(client_factory(), station, Tags(notes="docking station 3"), clock=lambda: now)
    [report] = dock.run(interval=0.01, once=True, sleep=lambda seconds: None)
    assert not report.failed and len(report.outcomes) == 2
    after = files_with_bytes(folder)
    assert {p: after[p] for p in before} == before
    cleared = (folder / "EVAULT-CLEARED.txt").read_text(encoding="utf-8").splitlines()
    for outcome in report.outcomes:
        assert receipt_path(outcome.path).is_file()
        relative = outcome.path.relative_to(folder).as_posix()
        assert f"CLEAR\t{relative}\tsha256={outcome.sha256}\tevidence={outcome.evidence_id}" in cleared
        record = api_get(vault_url, officers.uploader, f"/api/evidence/{outcome.evidence_id}").json()
        assert record["recorder_serial"] == "DSJ-V8-0042" and record["case_number"] == CASE
        assert record["notes"] == "docking station 3" and len(record["handlers"]) == 2
    assert not any(line.startswith("KEEP") for line in cleared)


def test_files_holding_a_verified_receipt_are_skipped_and_a_tampered_one_is_redone(
    client_factory: Callable[..., IngestClient], station: Path, vault_url: str, officers: Officers, now: datetime
) -> None:
    run_once(client_factory(), station, now)
    folder = station / "DSJ-V8-0042"
    count = len(api_get(vault_url, officers.uploader, "/api/evidence").json())
    first, second = sorted(p for p in folder.rglob("*.MP4"))
    tampered = json.loads(receipt_path(second).read_text(encoding="utf-8"))
    tampered["receipt"]["size"] += 1
    receipt_path(second).write_text(json.dumps(tampered), encoding="utf-8")

    [report] = Dock(client_factory(), station, Tags(), clock=lambda: now).run(
        interval=0.01, once=True, sleep=lambda seconds: None)
    outcomes = {o.path: o for o in report.outcomes}
    assert outcomes[first].already_receipted and outcomes[first].clearable
    assert not outcomes[second].already_receipted and outcomes[second].duplicate and outcomes[second].clearable
    assert json.loads(receipt_path(second).read_text(encoding="utf-8"))["receipt"]["size"] == second.stat().st_size
    assert len(api_get(vault_url, officers.uploader, "/api/evidence").json()) == count


def test_a_folder_still_being_copied_waits_until_its_files_are_stable(
    client_factory: Callable[..., IngestClient], station: Path, now: datetime
) -> None:
    dock = Dock(client_factory(), station, Tags(), clock=lambda: now)
    assert dock.poll() == ([], True)
    make_video(station / "DSJ-V8-0042" / "REC_0003.MP4", seconds=0.5, size="160x120")
    assert dock.poll() == ([], True)
    reports, waiting = dock.poll()
    assert not waiting and [len(r.outcomes) for r in reports] == [3]
    assert dock.poll() == ([], False)


def test_a_bad_sidecar_holds_the_folder_back_with_a_clear_reason(
    client_factory: Callable[..., IngestClient], station: Path, vault_url: str, officers: Officers, now: datetime
) -> None:
    folder = station / "DSJ-V8-0042"
    (folder / "evault.json").write_text('{"case": "x"}', encoding="utf-8")
    [report] = Dock(client_factory(), station, Tags(), clock=lambda: now).run(
        interval=0.01, once=True, sleep=lambda seconds: None)
    assert report.failed and report.error is not None and "unknown keys case" in report.error
    assert api_get(vault_url, officers.uploader, "/api/evidence").json() == []
    assert not (folder / "EVAULT-CLEARED.txt").exists()
