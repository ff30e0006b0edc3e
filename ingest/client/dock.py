"""Docking station: ingest each recorder folder once its files stop changing; write receipts and a clear list."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from ingest.client.errors import ClientError
from ingest.client.files import CLEARED_NAME, SIDECAR_NAMES, receipt_path, walk_folder
from ingest.client.runner import FileOutcome, IngestClient
from ingest.client.tags import Tags, read_sidecar

log = structlog.get_logger(__name__)

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
                 batch: Callable[[list[Path]], AbstractContextManager[None]] = lambda files: nullcontext()) -> None:
        self.client = client
        self.watch_dir = watch_dir
        self.defaults = defaults
        self.clock = clock
        self.on_report = on_report
        self.batch = batch
        self._watches: dict[Path, _Watch] = {}

    def poll(self) -> tuple[list[FolderReport], bool]:
        """Scan once; ingest folders stable since the last scan. Return the reports and whether any folder waits."""
        reports: list[FolderReport] = []
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
            try:
                report = self.ingest(folder)
            except OSError as exc:  # unplugged mid-ingest: start over once it is back and stable
                report = FolderReport(folder=folder, outcomes=[], error=f"cannot read the folder: {exc}")
                self._watches.pop(folder)
            else:
                if not any(o.retry_later for o in report.outcomes):
                    watch.done = current
            reports.append(report)
            self.on_report(report)
        return reports, waiting

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
            log.warning("dock.sidecar_refused", folder=folder.name, error=exc.message)
            return FolderReport(folder=folder, outcomes=[], error=exc.message)
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
        with self.batch(pending):
            for outcome in self.client.upload(pending, tags):
                outcomes[outcome.path] = outcome
        ordered = [outcomes[p] for p in sorted(outcomes)]
        try:
            write_clear_list(folder, ordered, server=self.client.api.server, key_id=self.client.key.key_id,
                             now=self.clock())
        except OSError as exc:
            return FolderReport(folder=folder, outcomes=ordered, error=f"cannot write {CLEARED_NAME}: {exc}")
        log.info("dock.folder_done", folder=folder.name, files=len(ordered),
                 clearable=sum(o.clearable for o in ordered))
        return FolderReport(folder=folder, outcomes=ordered)


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
