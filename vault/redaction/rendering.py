"""The slow parts of an edit, run in the background: finding faces and rendering the derivative.

Each owns its sessions: progress is committed every few seconds, so any process can answer a poll, and an edit
whose progress stopped moving (its process ended) is taken up again by the `redaction_resume` job.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import or_, select

from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.db import transaction, utcnow
from vault.errors import VaultError
from vault.evidence.derivatives import store_derivative
from vault.evidence.models import Derivative, DerivativeKind, Evidence
from vault.identities.actor import SYSTEM
from vault.redaction.faces import SAMPLES_PER_SECOND, detect_faces, detector_version, link_tracks
from vault.redaction.media import CutMode, media_facts, render
from vault.redaction.models import DetectionStatus, Edit, EditStatus
from vault.redaction.spec import EditSpec

log = structlog.get_logger(__name__)

PROGRESS_EVERY_SECONDS = 2.0
STALL_SECONDS = 300  # no progress for this long: the process rendering it has ended
CHUNK = 4 * 1024 * 1024


@contextmanager
def _original_file(context: VaultContext, evidence: Evidence) -> Iterator[str]:
    """Yield a seekable path of the original: in place for the local store, else a copy fetched once."""
    local = context.store.local_path(evidence.storage_key, evidence.version_id)
    if local is not None:
        yield str(local)
        return
    work = Path(tempfile.mkdtemp(prefix="edit-source-", dir=context.settings.home))
    try:
        copy = work / "original"
        with copy.open("wb") as out:
            for chunk in context.store.open_range(evidence.storage_key, evidence.version_id):
                out.write(chunk)
        yield str(copy)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _reporter(context: VaultContext, edit_id: uuid.UUID, *, keep_progress: bool) -> Callable[[float], None]:
    """Return a callback that commits the edit's heartbeat (and its render progress) at most every few seconds."""
    last = [0.0]

    def report(fraction: float) -> None:
        if time.monotonic() - last[0] < PROGRESS_EVERY_SECONDS and fraction < 1.0:
            return
        last[0] = time.monotonic()
        with transaction(context.sessions) as session:
            edit = session.get(Edit, edit_id)
            if edit is not None:
                if keep_progress:
                    edit.progress = round(fraction, 3)
                edit.updated_at = utcnow()

    return report


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _ffmpeg_version() -> str:
    first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=False).stdout.splitlines()
    return first[0] if first else "ffmpeg (version unknown)"


def _load(context: VaultContext, edit_id: uuid.UUID) -> tuple[Edit, Evidence]:
    with context.sessions() as session:
        edit = session.get(Edit, edit_id)
        evidence = session.get(Evidence, edit.evidence_id) if edit else None
        if edit is None or evidence is None:
            raise VaultError(f"no edit {edit_id}")
        session.expunge_all()
        return edit, evidence


def _provenance(edit: Edit, evidence: Evidence, spec: EditSpec, mode: CutMode, output: Path, sha256: str,
                detector: str | None) -> dict[str, Any]:
    """Return what a court needs to check the derivative: the original, the spec, the output, who, and with what."""
    tools = {"ffmpeg": _ffmpeg_version(), "evault": metadata.version("evidence-vault")}
    if detector:
        tools["face_detector"] = detector
    return {
        "spec_version": 1,
        "edit_id": str(edit.id),
        "kind": (DerivativeKind.REDACTED if spec.redacts else DerivativeKind.CLIP).value,
        "original": {"evidence_id": str(evidence.id), "sha256": evidence.sha256, "size": evidence.size,
                     "media_type": evidence.media_type, "name": evidence.original_name},
        "spec": spec.model_dump(mode="json"),
        "cut": mode.value,
        "output": {"sha256": sha256, "size": output.stat().st_size, "media_type": "video/mp4"},
        "editor": edit.editor_name,
        "approver": None,
        "rendered_at": utcnow().isoformat(),
        "tools": tools,
    }


def render_edit(context: VaultContext, edit_id: uuid.UUID) -> None:
    """Render an edit into a derivative of its original and register it (the vault acts); a failure is kept."""
    edit, evidence = _load(context, edit_id)
    spec = EditSpec.model_validate(edit.spec)
    work = Path(tempfile.mkdtemp(prefix="edit-", dir=context.settings.home))
    try:
        output = work / "derivative.mp4"
        with _original_file(context, evidence) as source:
            facts = media_facts(source)
            mode = render(source, spec, facts, output, progress=_reporter(context, edit_id, keep_progress=True))
        sha256 = _sha256(output)
        accepted = any(s["decision"] == "accepted" for s in edit.suggestions)
        provenance = _provenance(edit, evidence, spec, mode, output, sha256, detector_version() if accepted else None)
        kind = DerivativeKind.REDACTED if spec.redacts else DerivativeKind.CLIP

        def finish(session: Any, item: Derivative) -> bool:
            current = session.get(Edit, edit_id)
            if current is None or current.status != EditStatus.RENDERING or current.spec != edit.spec:
                return False  # changed while rendering: the newer spec renders on its own
            current.status, current.progress, current.derivative_id = EditStatus.RENDERED, 1.0, item.id
            current.provenance, current.updated_at = provenance, utcnow()
            record_event(session=session, actor=SYSTEM, action=CustodyAction.EDIT_RENDERED, subject_type="evidence",
                         subject_id=evidence.id, case_id=evidence.case_id,
                         details={"edit_id": str(edit_id), "provenance": provenance})
            return True

        # Kept as long as the original is locked: a court may ask for the copy it was given.
        store_derivative(context, evidence_id=evidence.id, kind=kind, path=output, media_type="video/mp4",
                         retain_until=max(evidence.store_retain_until, utcnow() + timedelta(days=1)), actor=SYSTEM,
                         details={"edit_id": str(edit_id), "cut": mode.value}, also=finish)
        log.info("redaction.rendered", edit_id=str(edit_id), evidence_id=str(evidence.id), cut=mode.value)
    except (VaultError, OSError, subprocess.SubprocessError) as exc:
        log.error("redaction.render_failed", edit_id=str(edit_id), error=type(exc).__name__)
        with transaction(context.sessions) as session:
            current = session.get(Edit, edit_id)
            if current is not None and current.status == EditStatus.RENDERING:
                current.status, current.error = EditStatus.FAILED, str(getattr(exc, "message", exc))[:2000]
                current.updated_at = utcnow()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def detect_suggestions(context: VaultContext, edit_id: uuid.UUID) -> int:
    """Find faces in the edit's original and store them as suggestions, none of them applied; return how many."""
    _, evidence = _load(context, edit_id)
    try:
        with _original_file(context, evidence) as source:
            facts = media_facts(source)
            tracks = link_tracks(detect_faces(source, facts, progress=_reporter(context, edit_id, keep_progress=False)))
    except (VaultError, OSError, subprocess.SubprocessError) as exc:
        log.error("redaction.detection_failed", edit_id=str(edit_id), error=type(exc).__name__)
        with transaction(context.sessions) as session:
            current = session.get(Edit, edit_id)
            if current is not None:
                current.detection = DetectionStatus.FAILED
        return 0
    suggestions = [
        {"id": f"face-{index + 1}", "decision": "pending", "score": round(max(d.score for d in track.detections), 3),
         "keyframes": [d.box.model_dump(mode="json") for d in track.detections],
         "hold_until": min(facts.duration, track.last.t + 1 / SAMPLES_PER_SECOND)}
        for index, track in enumerate(tracks)
    ]
    with transaction(context.sessions) as session:
        current = session.get(Edit, edit_id)
        if current is not None:
            current.suggestions, current.detection, current.updated_at = suggestions, DetectionStatus.DONE, utcnow()
    log.info("redaction.faces_suggested", edit_id=str(edit_id), suggestions=len(suggestions))
    return len(suggestions)


def start_detection(context: VaultContext, edit_id: uuid.UUID) -> threading.Thread:
    """Mark the edit's detection running and run it in a thread of this process."""
    with transaction(context.sessions) as session:
        edit = session.get(Edit, edit_id)
        if edit is not None:
            edit.detection, edit.updated_at = DetectionStatus.RUNNING, utcnow()
    thread = threading.Thread(target=detect_suggestions, args=(context, edit_id), name=f"faces-{edit_id}",
                              daemon=True)
    thread.start()
    return thread


def start_render(context: VaultContext, edit_id: uuid.UUID) -> threading.Thread:
    """Run an edit's render (already marked rendering and committed) in a thread of this process."""
    thread = threading.Thread(target=render_edit, args=(context, edit_id), name=f"render-{edit_id}",
                              daemon=True)
    thread.start()
    return thread


def resume_stalled(context: VaultContext) -> int:
    """Render again the edits, and detect again the faces, whose progress stopped moving; return how many."""
    cutoff = utcnow() - timedelta(seconds=STALL_SECONDS)
    with context.sessions() as session:
        stalled = list(session.scalars(select(Edit).where(
            or_(Edit.status == EditStatus.RENDERING, Edit.detection == DetectionStatus.RUNNING),
            Edit.updated_at < cutoff)))
        work = [(e.id, e.status == EditStatus.RENDERING) for e in stalled]
    for edit_id, rendering in work:
        if rendering:
            render_edit(context, edit_id)
        else:
            detect_suggestions(context, edit_id)
    return len(work)
