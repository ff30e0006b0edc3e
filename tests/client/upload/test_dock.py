"""`dock` against a real vault: stable recorder folders are ingested with their sidecar tags; nothing is deleted."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from evault_client.upload.dock import Dock, FolderReport, StationStatus
from evault_client.upload.files import receipt_path
from evault_client.upload.runner import FileOutcome, IngestClient
from evault_client.upload.tags import Tags
from ingest.models import Upload
from tests.client.upload.conftest import CASE, CERTS, PARTY, Officers, api_get
from tests.media import make_video
from vault.context import VaultContext


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


def eight_recorders(watch: Path) -> list[Path]:
    """Eight recorder folders docked at once, each with one clip and its own serial."""
    folders = []
    for n in range(8):
        folder = watch / f"DSJ-{n:02d}"
        folder.mkdir()
        make_video(folder / "REC_0001.MP4", seconds=1.0, size="160x120", rate=10 + n)
        folders.append(folder)
    return folders


def most_at_once(uploads: list[Upload]) -> int:
    """Return how many uploads the vault held open at once at most, from its record of each one's start and end."""
    moments = sorted([(u.created_at, 1) for u in uploads] + [(u.completed_at, -1) for u in uploads if u.completed_at])
    running, most = 0, 0
    for _, change in moments:
        running += change
        most = max(most, running)
    return most


def test_eight_recorders_docked_together_are_ingested_together(
    client_factory: Callable[..., IngestClient], tmp_path: Path, context: VaultContext, now: datetime
) -> None:
    watch = tmp_path / "dock8"
    watch.mkdir()
    eight_recorders(watch)
    dock = Dock(client_factory(chunk_size=1024), watch, Tags(handlers=CERTS[:1]), clock=lambda: now,
                parallel=8)
    reports = dock.run(interval=0.01, once=True, sleep=lambda seconds: None)
    assert len(reports) == 8 and not any(r.failed for r in reports)
    with context.sessions() as session:
        uploads = list(session.scalars(select(Upload)))
    assert len(uploads) == 8 and all(u.completed_at is not None for u in uploads)
    # The vault's own record: sent one after another, no two uploads would ever be open at the same moment.
    assert most_at_once(uploads) >= 6


def test_parallel_is_bounded(client_factory: Callable[..., IngestClient], tmp_path: Path, context: VaultContext,
                             now: datetime) -> None:
    watch = tmp_path / "dock2"
    watch.mkdir()
    eight_recorders(watch)
    dock = Dock(client_factory(chunk_size=4 * 1024), watch, Tags(handlers=CERTS[:1]), clock=lambda: now,
                parallel=2)
    assert len(dock.run(interval=0.01, once=True, sleep=lambda seconds: None)) == 8
    with context.sessions() as session:
        uploads = list(session.scalars(select(Upload)))
    assert most_at_once(uploads) <= 2


class RecordStatus(httpx.BaseTransport):
    """Forwards every request to the real vault; keeps the station status bodies and the vault's answers."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[tuple[dict[str, object], int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Forward; record status reports."""
        response = self.inner.handle_request(request)
        if request.url.path == "/api/docks/status":
            self.sent.append((json.loads(request.content), response.status_code))
        return response

    def close(self) -> None:
        """Close the real transport."""
        self.inner.close()


def test_the_station_reports_its_status_after_each_pass(
    client_factory: Callable[..., IngestClient], station: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)  # the vault refuses ingest times far from its own clock
    (station / "LOOSE-FOLDER").mkdir()  # no sidecar: the folder's name stands for the recorder
    make_video(station / "LOOSE-FOLDER" / "REC_0001.MP4", seconds=0.5, size="160x120")
    recorder = RecordStatus()
    client = client_factory(transport=recorder)
    warnings: list[str] = []
    status = StationStatus(client, station="dock-station-3", client_version="0.1.0", warn=warnings.append)
    dock = Dock(client, station, Tags(handlers=CERTS[:1]), clock=lambda: now, status=status)
    reports = dock.run(interval=0.01, once=True, sleep=lambda seconds: None)
    assert len(reports) == 2 and recorder.sent
    assert all(set(body) == {"station", "client_version", "recorders", "errors"} for body, _ in recorder.sent)
    first, answer = recorder.sent[0]  # the first pass found the folders still settling: a heartbeat
    assert first == {"station": "dock-station-3", "client_version": "0.1.0", "recorders": [], "errors": 0}
    sizes = {r.folder.name: sum(o.size for o in r.outcomes) for r in reports}
    ingested = status.document(reports)
    assert sorted(ingested["recorders"], key=lambda r: str(r["recorder"])) == [  # type: ignore[arg-type]
        {"recorder": "DSJ-V8-0042", "files": 2, "bytes": sizes["DSJ-V8-0042"], "ingested_at": now.isoformat()},
        {"recorder": "LOOSE-FOLDER", "files": 1, "bytes": sizes["LOOSE-FOLDER"], "ingested_at": now.isoformat()},
    ]
    if answer == 404:  # an older vault: warned once, and the station goes on without reporting again
        assert warnings == ["vault_has_no_dock_status"] and len(recorder.sent) == 1
        dock.poll()
        assert len(recorder.sent) == 1 and len(warnings) == 1
    else:
        assert answer < 300 and warnings == [] and recorder.sent[-1] == (ingested, answer)


def test_a_recorder_docked_twice_a_day_is_reported_with_both_dockings_added(
    client_factory: Callable[..., IngestClient], tmp_path: Path
) -> None:
    # The vault keeps each report as the day's totals (a resent report counts nothing twice), so the station adds
    # a second docking of the same recorder to the first, and starts again on the agency's next day.
    status = StationStatus(client_factory(), station="dock-1", client_version="0.1.0", warn=lambda code: None,
                           zone=ZoneInfo("Asia/Shanghai"))

    def docking(files: int, at: datetime) -> FolderReport:
        outcomes = [FileOutcome(path=tmp_path / f"f{n}.MP4", size=1000 + n, receipt=tmp_path / f"f{n}.json")
                    for n in range(files)]
        return FolderReport(folder=tmp_path / "DSJ-0001", outcomes=outcomes, recorder="DSJ-0001", finished_at=at)

    def totals(report: FolderReport) -> tuple[object, object]:
        status.record([report])
        line = status.document([report])["recorders"][0]  # type: ignore[index]
        return line["files"], line["bytes"]

    assert totals(docking(2, datetime(2026, 12, 7, 2, 0, tzinfo=UTC))) == (2, 2001)
    assert totals(docking(1, datetime(2026, 12, 7, 9, 0, tzinfo=UTC))) == (3, 3001)
    assert totals(docking(1, datetime(2026, 12, 7, 16, 30, tzinfo=UTC))) == (1, 1000)  # 00:30 the next day there
