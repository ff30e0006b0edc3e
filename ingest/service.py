"""Turn a staged, hashed file into a catalog record: sniff, deduplicate, store write-once, register, flag."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ingest.continuity import check_continuity
from ingest.errors import UnsupportedMedia
from ingest.exif import read_exif
from ingest.metadata import UploadMetadata
from ingest.models import IngestRecord
from ingest.probe import MediaProbe, parse_creation_time, probe_media, read_head, require_media_head
from ingest.rules import IngestRules
from ingest.storing import StagedFile, finish_write
from ingest.tagging import DAMAGED, build_tags, expected_tag_flags, sync_flags
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.db import utcnow
from vault.errors import ChecksumMismatch, Conflict
from vault.evidence.models import Evidence
from vault.evidence.service import EvidenceTags, FlagReason, find_by_sha256, register_evidence
from vault.faults import crash_point
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.metrics import NO_STEPS, StepTimer
from vault.storage.base import BlobStore, PendingBlob, StoredBlob

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Judgement:
    """What probing the staged copy found: the media summary, and EXIF for photos."""

    probe: MediaProbe
    exif: dict[str, object]


def judge_staged(path: Path, rules: IngestRules) -> Judgement:
    """Probe a staged copy (UnsupportedMedia unless it is media) and read a photo's EXIF."""
    probe = probe_media(path)
    return Judgement(probe=probe, exif=read_exif(path, zone=rules.zone) if probe.kind == "image" else {})


@dataclass(frozen=True)
class IngestOutcome:
    """The record a submission ended in, and whether it was already there.

    `pending` is the new original, finished but unlocked: the caller commits the record, then calls
    lock_ingested. A crash in between leaves a committed, unlocked object that the reconciler locks.
    """

    evidence: Evidence
    duplicate: bool
    received_at: datetime
    original_name: str
    pending: PendingBlob | None = None


def reject_upload(
    *, session: Session, actor: Actor, error: ChecksumMismatch | UnsupportedMedia, subject_id: str,
    meta: UploadMetadata | None, now: datetime,
) -> None:
    """Log a refused submission in the custody log and mark the error so the caller commits that entry."""
    record_event(
        session=session, actor=actor, action=CustodyAction.EVIDENCE_REJECTED, subject_type="upload",
        subject_id=subject_id, now=now,
        details={"code": error.code, "reason": error.message, "name": meta.filename if meta else None},
    )
    error.record_kept = True


def _capture_window(tags: EvidenceTags, probe: MediaProbe, exif: dict[str, object]) -> None:
    start = tags.capture_start or parse_creation_time(exif.get("capture_time")) or probe.creation_time
    if start is None:
        return
    tags.capture_start = start
    if tags.capture_end is None:
        tags.capture_end = start + timedelta(seconds=probe.duration or 0)


def _duplicate(*, session: Session, actor: Actor, existing: Evidence, meta: UploadMetadata, subject: str,
               now: datetime) -> IngestOutcome:
    record_event(
        session=session, actor=actor, action=CustodyAction.EVIDENCE_DUPLICATE_SUBMITTED, subject_type="evidence",
        subject_id=existing.id, case_id=existing.case_id, now=now,
        details={"sha256": existing.sha256, "submitted_name": meta.filename, "submission": subject},
    )
    log.info("ingest.duplicate", evidence_id=str(existing.id), sha256=existing.sha256)
    return IngestOutcome(evidence=existing, duplicate=True, received_at=now, original_name=meta.filename)


def ingest_staged(
    *, session: Session, actor: Actor, store: BlobStore, rules: IngestRules, staged: StagedFile,
    meta: UploadMetadata, now: datetime, submission_id: uuid.UUID | None = None,
) -> IngestOutcome:
    """Catalog a staged file (see ingest_upload); the caller commits, then calls lock_ingested."""
    return ingest_upload(session=session, actor=actor, store=store, rules=rules, staged=staged, piped=None,
                         judge=lambda: judge_staged(staged.path, rules), meta=meta, now=now,
                         submission_id=submission_id)


def ingest_upload(
    *, session: Session, actor: Actor, store: BlobStore, rules: IngestRules, staged: StagedFile,
    piped: PendingBlob | None, judge: Callable[[], Judgement], meta: UploadMetadata, now: datetime,
    submission_id: uuid.UUID | None = None, steps: StepTimer = NO_STEPS,
) -> IngestOutcome:
    """Finish writing an upload to the store, judge it, and register its record; nothing is locked yet.

    The verdict checks the declared digest, sniffs and probes the staged copy (refusing non-media with 415)
    and looks for the same bytes already stored (returning that record). A refusal or a duplicate discards
    the new bytes and the staged copy; any other failure (the store's, say) keeps the staged copy, so the
    client can finish again without sending the file again. `steps` times store, probe and register (/metrics).
    """
    require(actor, Permission.UPLOAD_EVIDENCE)
    subject = str(submission_id or staged.sha256 or "upload")
    try:
        content_type = require_media_head(read_head(staged.path))  # refused bytes never reach the store
        with steps.step("store"):
            pending, blob = finish_write(store, staged, piped=piped, content_type=content_type,
                                         expected_sha256=meta.sha256)
    except (ChecksumMismatch, UnsupportedMedia) as error:
        if piped is not None:
            piped.discard()
        _refuse(session=session, actor=actor, error=error, subject=subject, staged=staged, meta=meta, now=now)
        raise
    except BaseException:
        if piped is not None:
            piped.discard()
        raise
    crash_point(rules.crash_at, "ingest.after_finish")
    try:
        with steps.step("probe"):
            judged = judge()
        with steps.step("register"):
            existing = find_by_sha256(session=session, sha256=blob.sha256)
            if existing is not None:
                pending.discard()
                staged.path.unlink(missing_ok=True)
                return _duplicate(session=session, actor=actor, existing=existing, meta=meta,
                                  subject=str(submission_id or existing.sha256), now=now)
            outcome = _register(session=session, actor=actor, store=store, rules=rules, blob=blob,
                                probe=judged.probe, exif=judged.exif, meta=meta, now=now)
    except UnsupportedMedia as error:
        pending.discard()
        _refuse(session=session, actor=actor, error=error, subject=subject, staged=staged, meta=meta, now=now)
        raise
    except BaseException:
        pending.discard()
        raise
    return replace(outcome, pending=pending)


def _refuse(*, session: Session, actor: Actor, error: ChecksumMismatch | UnsupportedMedia, subject: str,
            staged: StagedFile, meta: UploadMetadata, now: datetime) -> None:
    staged.path.unlink(missing_ok=True)
    reject_upload(session=session, actor=actor, error=error, subject_id=subject, meta=meta, now=now)


def lock_ingested(*, store: BlobStore, outcome: IngestOutcome, staged: StagedFile | None,
                  steps: StepTimer = NO_STEPS) -> None:
    """Lock the original once its record is committed (again, harmlessly, for a duplicate); drop the staged copy.

    Every acknowledgement follows this, so an acknowledged upload is always locked in the store.
    """
    evidence = outcome.evidence
    with steps.step("lock"):
        if outcome.pending is not None:
            outcome.pending.lock(evidence.store_retain_until)
        else:
            store.lock(evidence.storage_key, evidence.version_id, evidence.store_retain_until)
    if staged is not None:
        staged.path.unlink(missing_ok=True)


def _register(
    *, session: Session, actor: Actor, store: BlobStore, rules: IngestRules, blob: StoredBlob, probe: MediaProbe,
    exif: dict[str, object], meta: UploadMetadata, now: datetime,
) -> IngestOutcome:
    # The store enforces the lock against its own clock, so never count from a `now` in the past.
    retain_until = max(now, utcnow()) + rules.minimum_retention
    tags = build_tags(session=session, meta=meta)
    _capture_window(tags, probe, exif)
    media_info = {**probe.info, "exif": exif, "damage": probe.damage or None}
    try:
        evidence = register_evidence(
            session=session, actor=actor, blob=blob, store_name=store.name, store_retain_until=retain_until,
            original_name=meta.filename, media_type=probe.media_type, tags=tags, media_info=media_info, now=now)
    except IntegrityError as exc:
        raise Conflict("the same bytes are being ingested by another request; retry to get its record",
                       details={"sha256": blob.sha256}) from exc
    record = IngestRecord(evidence_id=evidence.id, given_case_number=meta.case_number, given_party=meta.party,
                          given_handlers=list(meta.handlers), field_return_at=meta.field_return_at,
                          late_reason=meta.late_reason)
    session.add(record)
    wanted = expected_tag_flags(evidence=evidence, record=record, rules=rules)
    if probe.damaged:
        wanted[DAMAGED] = FlagReason(f"录像文件不完整或已损坏：{probe.damage}", facts={"damage": probe.damage})
    session.flush()
    sync_flags(session=session, actor=actor, evidence=evidence, wanted=wanted, governed=frozenset(), now=now)
    check_continuity(session=session, actor=actor, evidence=evidence, tolerance=rules.continuity_tolerance, now=now)
    log.info("ingest.registered", evidence_id=str(evidence.id), sha256=blob.sha256, size=blob.size,
             media_type=probe.media_type, flags=sorted(wanted))
    return IngestOutcome(evidence=evidence, duplicate=False, received_at=now, original_name=meta.filename)
