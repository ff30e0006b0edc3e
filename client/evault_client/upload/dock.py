"""Docking station: ingest each recorder folder once its files stop changing; write receipts and a clear list.

Folders that are ready in the same pass are ingested in parallel (at most `parallel` at once), so recorders
docked together finish together; after each pass the station tells the vault what it ingested."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path

from evault_client.upload.errors import ClientError, ServerRefused
from evault_client.upload.files import CLEARED_NAME, SIDECAR_NAMES, receipt_path, walk_folder
from evault_client.upload.runner import FileOutcome, IngestClient
from evault_client.upload.tags import Tags, read_sidecar

log = logging.getLogger(__name__)
STATUS_PATH = "api/docks/status"

Snapshot = tuple[tuple[str, int, int], ...]


def snapshot(folder: Path) -> Snapshot:
    """Return (relative path, size, mtime) of every file we would send, plus the sidecar, in a stable order."""
    files = list(walk_folder(folder)) + [folder / name for name in SIDECAR_NAMES if (folder / name).is_file()]
    entries = []
    for path in files:
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        entries.append((str(path.relative_to(folder)), info.st_size, info.st_mtime_ns))
    return tuple(sorted(entries))


@dataclass
class FolderReport:
    """The result of ingesting one recorder folder."""

    folder: Path
    outcomes: list[FileOutcome]
    error: str | None = None
    recorder: str | None = None  # the recorder's serial from its sidecar or the options
    finished_at: datetime | None = None

    @property
    def failed(self) -> bool:
        """Return whether anything in the folder lacks a verified receipt."""
        return self.error is not None or any(not o.clearable for o in self.outcomes)


@dataclass
class _Watch:
    last: Snapshot | None = None
    done: Snapshot | None = None


class Dock:
    """Polls a docking-station folder; each subfolder is one recorder. Never deletes anything."""

    def __init__(self, client: IngestClient, watch_dir: Path, defaults: Tags, *,
                 clock: Callable[[], datetime], on_report: Callable[[FolderReport], None] = lambda r: None,
                 batch: Callable[[list[Path]], AbstractContextManager[None]] = lambda folders: nullcontext(),
                 parallel: int = 4, status: StationStatus | None = None) -> None:
        self.client = client
        self.watch_dir = watch_dir
        self.defaults = defaults
        self.clock = clock
        self.on_report = on_report
        self.batch = batch
        self.parallel = max(1, parallel)
        self.status = status
        self._watches: dict[Path, _Watch] = {}

    def poll(self) -> tuple[list[FolderReport], bool]:
        """Scan once; ingest folders stable since the last scan, in parallel. Return the reports and whether any
        folder waits; then report the station's status to the vault."""
        ready, waiting = self._ready_folders()
        reports: list[FolderReport] = []
        if ready:
            with self.batch([folder for folder, _, _ in ready]), ThreadPoolExecutor(max_workers=self.parallel,
                                                    thread_name_prefix="evault-dock") as pool:
                reports = list(pool.map(lambda item: self._ingest_watched(*item), ready))
        if self.status is not None:
            self.status.report(reports)
        return reports, waiting

    def _ready_folders(self) -> tuple[list[tuple[Path, _Watch, Snapshot]], bool]:
        """Return the folders unchanged since the last scan and not yet done, and whether any other one waits."""
        ready: list[tuple[Path, _Watch, Snapshot]] = []
        waiting = False
        with os.scandir(self.watch_dir) as entries:
            folders = sorted(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))
        for folder in folders:
            watch = self._watches.setdefault(folder, _Watch())
            try:
                current = snapshot(folder)
            except OSError:  # unplugged mid-scan: it is looked at again when it reappears
                self._watches.pop(folder)
                continue
            stable = current == watch.last and bool(current)
            watch.last = current
            if current == watch.done or not current:
                continue
            if not stable:
                waiting = True
                continue
            ready.append((folder, watch, current))
        return ready, waiting

    def _ingest_watched(self, folder: Path, watch: _Watch, current: Snapshot) -> FolderReport:
        try:
            report = self.ingest(folder)
        except OSError as exc:  # unplugged mid-ingest: start over once it is back and stable
            report = FolderReport(folder=folder, outcomes=[], error=f"cannot read the folder: {exc}")
            self._watches.pop(folder, None)
        else:
            if not any(o.retry_later for o in report.outcomes):
                watch.done = current
        self.on_report(report)
        return report

    def run(self, *, interval: float, once: bool, sleep: Callable[[float], None] = time.sleep) -> list[FolderReport]:
        """Poll until stopped; with `once`, return when every folder present has been ingested once."""
        reports: list[FolderReport] = []
        while True:
            batch, waiting = self.poll()
            if once:  # a station left running reports through on_report and keeps no history
                reports.extend(batch)
                if not waiting:
                    return reports
            sleep(interval)

    def ingest(self, folder: Path) -> FolderReport:
        """Send a recorder folder's files that hold no verified receipt yet, then write its clear list."""
        try:
            tags = self.defaults.merged(read_sidecar(folder) or Tags())
        except ClientError as exc:
            log.warning("dock.sidecar_refused folder=%s error=%s", folder.name, exc.message)
            return FolderReport(folder=folder, outcomes=[], error=exc.message, finished_at=self.clock())
        outcomes: dict[Path, FileOutcome] = {}
        pending: list[Path] = []
        for path in walk_folder(folder):
            receipt = self.client.verified_receipt(path)
            if receipt is None:
                pending.append(path)
                continue
            outcomes[path] = FileOutcome(path=path, size=receipt.size, sha256=receipt.sha256,
                                         evidence_id=receipt.evidence_id, receipt=receipt_path(path),
                                         already_receipted=True)
        for outcome in self.client.upload(pending, tags):
            outcomes[outcome.path] = outcome
        ordered = [outcomes[p] for p in sorted(outcomes)]
        done = FolderReport(folder=folder, outcomes=ordered, recorder=tags.recorder_serial, finished_at=self.clock())
        try:
            write_clear_list(folder, ordered, server=self.client.api.server, key_id=self.client.key.key_id,
                             now=done.finished_at or self.clock())
        except OSError as exc:
            done.error = f"cannot write {CLEARED_NAME}: {exc}"
            return done
        log.info("dock.folder_done folder=%s files=%d clearable=%d", folder.name, len(ordered),
                 sum(o.clearable for o in ordered))
        return done


def clear_list_text(folder: Path, outcomes: list[FileOutcome], *, server: str, key_id: str, now: datetime) -> str:
    """Return the clear list: which files hold a verified receipt and may be cleared from the recorder."""
    lines = [
        "Evidence Vault clear list (可从执法记录仪清除的文件)",
        f"vault: {server}  signing key: {key_id}  written: {now.isoformat()}",
        "Each CLEAR file has a receipt signed by the vault for exactly its bytes (SHA-256), beside it as",
        "<name>.evault-receipt.json. Only those may be cleared. evault itself never deletes anything.",
        "",
    ]
    for outcome in outcomes:
        name = outcome.path.relative_to(folder).as_posix()
        if outcome.clearable:
            lines.append(f"CLEAR\t{name}\tsha256={outcome.sha256}\tevidence={outcome.evidence_id}")
    for outcome in outcomes:
        if not outcome.clearable:
            lines.append(f"KEEP\t{outcome.path.relative_to(folder).as_posix()}\t{outcome.error or 'no receipt'}")
    return "\n".join(lines) + "\n"


def write_clear_list(folder: Path, outcomes: list[FileOutcome], *, server: str, key_id: str, now: datetime) -> Path:
    """Write the clear list into the recorder folder atomically."""
    target = folder / CLEARED_NAME
    text = clear_list_text(folder, outcomes, server=server, key_id=key_id, now=now)
    fd, tmp = tempfile.mkstemp(prefix=".evault-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


class StationStatus:
    """Tells the vault after each pass which recorders this station ingested (POST /api/docks/status); an older
    vault without that endpoint is warned about once, and the station goes on.

    The vault keeps each report's counts as the day's totals for that recorder (so a resent report counts nothing
    twice): a recorder docked twice in a day is reported with both dockings added up."""

    def __init__(self, client: IngestClient, *, station: str, client_version: str,
                 warn: Callable[[str], None], zone: tzinfo = UTC) -> None:
        self.client = client
        self.station = station
        self.client_version = client_version
        self.warn = warn
        self.zone = zone
        self._unsupported = False
        self._day_totals: dict[tuple[date, str], tuple[int, int]] = {}

    def record(self, reports: list[FolderReport]) -> None:
        """Add a pass's ingested files to each recorder's totals for its day."""
        for report in reports:
            if report.finished_at is None:
                continue
            held = [o for o in report.outcomes if o.clearable]
            key = (report.finished_at.astimezone(self.zone).date(), report.recorder or report.folder.name)
            files, size = self._day_totals.get(key, (0, 0))
            self._day_totals[key] = (files + len(held), size + sum(o.size for o in held))

    def document(self, reports: list[FolderReport]) -> dict[str, object]:
        """Return the status body for a pass's reports: each recorder's totals for its day so far."""
        recorders = []
        for report in reports:
            moment = report.finished_at
            recorder = report.recorder or report.folder.name
            held = [o for o in report.outcomes if o.clearable]
            files, size = (self._day_totals.get((moment.astimezone(self.zone).date(), recorder), (0, 0)) if moment
                           else (len(held), sum(o.size for o in held)))
            recorders.append({"recorder": recorder, "files": files, "bytes": size,
                              "ingested_at": moment.isoformat() if moment else None})
        errors = sum((1 if r.error else 0) + sum(1 for o in r.outcomes if not o.clearable) for r in reports)
        return {"station": self.station, "client_version": self.client_version, "recorders": recorders,
                "errors": errors}

    def report(self, reports: list[FolderReport]) -> None:
        """Send the status; never stop the station over it."""
        if self._unsupported:
            return
        self.record(reports)
        try:
            self.client.api.post_json(STATUS_PATH, self.document(reports))
        except ServerRefused as exc:
            if exc.status == 404:
                self._unsupported = True
                self.warn("vault_has_no_dock_status")
                return
            log.warning("dock.status_failed error=%s", exc.message)
