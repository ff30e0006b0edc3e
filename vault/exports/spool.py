"""Build a bundle in the background into the vault's spool folder, so a page can show progress and then hand it over.

The build is the API's ExportRun unchanged: the request commits prepare_export's events, the thread streams the
bag into a partial file and ExportRun commits the retained copy in its own session before the last bytes. Progress
is read off the files on disk (bytes written against the originals' size), and "done" off the renamed file, so
any web worker sharing the vault's home can answer a poll; nothing is kept in memory between requests.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import structlog

from vault.context import VaultContext
from vault.exports.bundle import ExportPlan
from vault.exports.stream import SPOOL_FOLDER, ExportRun
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require

log = structlog.get_logger(__name__)

# A built bundle waits this long for its download; it holds originals, so it is not kept on disk for good.
KEEP_SECONDS = 24 * 3600
# A build that wrote nothing for this long has stopped (its process ended); the page says so instead of waiting.
STALL_SECONDS = 300


class BuildState(StrEnum):
    """Where a background build stands."""

    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"
    GONE = "gone"


@dataclass(frozen=True)
class BuildProgress:
    """Bytes written so far against the originals' total (the bag adds a few kilobytes of metadata)."""

    state: BuildState
    written: int
    expected: int
    error: str | None = None

    @property
    def percent(self) -> int:
        """Return progress in whole percent, 100 only once the bundle is complete."""
        if self.state == BuildState.READY:
            return 100
        return min(99, self.written * 100 // self.expected) if self.expected else 0


def spool_dir(context: VaultContext) -> Path:
    """Return the folder where bundles are built and wait for their download."""
    return context.settings.home / SPOOL_FOLDER


def _paths(context: VaultContext, export_id: uuid.UUID) -> tuple[Path, Path, Path]:
    folder = spool_dir(context)
    return folder / f"{export_id}.part", folder / f"{export_id}.zip", folder / f"{export_id}.json"


def bundle_path(context: VaultContext, export_id: uuid.UUID) -> Path | None:
    """Return the built bundle waiting for download, if it is still there."""
    done = _paths(context, export_id)[1]
    return done if done.exists() else None


def _sweep(folder: Path) -> None:
    cutoff = time.time() - KEEP_SECONDS
    for path in folder.glob("*"):
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def start_build(*, context: VaultContext, actor: Actor, plan: ExportPlan) -> threading.Thread:
    """Start building a prepared (and committed) export in a thread of its own; return the thread."""
    folder = spool_dir(context)
    folder.mkdir(parents=True, exist_ok=True)
    _sweep(folder)
    part, _done, status = _paths(context, plan.export_id)
    status.write_text(json.dumps({"expected": plan.payload_bytes, "error": None}))
    part.touch()
    thread = threading.Thread(target=_build, args=(context, actor, plan), name=f"export-{plan.export_id}",
                              daemon=True)
    thread.start()
    return thread


def _build(context: VaultContext, actor: Actor, plan: ExportPlan) -> None:
    part, done, status = _paths(context, plan.export_id)
    try:
        with part.open("wb") as handle:
            for chunk in ExportRun(context=context, actor=actor, plan=plan):
                handle.write(chunk)
                handle.flush()
            # A crash after the rename must not leave a short bundle that the page offers as ready.
            os.fsync(handle.fileno())
        part.rename(done)
        log.info("export.spooled", export_id=str(plan.export_id), path=str(done))
    except Exception as exc:  # the page shows why; ExportRun has already logged a fixity failure
        log.exception("export.spool_failed", export_id=str(plan.export_id))
        part.unlink(missing_ok=True)
        status.write_text(json.dumps({"expected": plan.payload_bytes, "error": str(exc) or type(exc).__name__}))


def build_progress(*, context: VaultContext, actor: Actor, export_id: uuid.UUID) -> BuildProgress:
    """Return how far a background build has got, read off the spool folder (those who export)."""
    require(actor, Permission.EXPORT_EVIDENCE)
    part, done, status = _paths(context, export_id)
    try:
        recorded = json.loads(status.read_text())
    except FileNotFoundError:
        return BuildProgress(BuildState.GONE, 0, 0)
    expected = int(recorded["expected"])
    if recorded["error"]:
        return BuildProgress(BuildState.FAILED, 0, expected, recorded["error"])
    if done.exists():
        return BuildProgress(BuildState.READY, done.stat().st_size, expected)
    try:
        written = part.stat()
    except FileNotFoundError:  # renamed between the two checks
        return BuildProgress(BuildState.READY if done.exists() else BuildState.GONE, 0, expected)
    if written.st_mtime < time.time() - STALL_SECONDS:
        # The thread dies with its process (a restart); the export stays logged as prepared, without a copy.
        return BuildProgress(BuildState.FAILED, written.st_size, expected,
                             f"nothing was written for {STALL_SECONDS // 60} minutes (the server may have restarted); "
                             "build the bundle again")
    return BuildProgress(BuildState.BUILDING, written.st_size, expected)


def discard_bundle(*, context: VaultContext, export_id: uuid.UUID) -> None:
    """Remove a downloaded bundle from the spool; the retained copy's record stays in the catalog."""
    for path in _paths(context, export_id):
        path.unlink(missing_ok=True)
