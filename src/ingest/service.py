"""Turn a staged, hashed file into a catalog record: sniff, deduplicate, store write-once, register, flag."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
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
from ingest.probe import MediaProbe, parse_creation_time, probe_media
from ingest.rules import IngestRules
from ingest.tagging import DAMAGED, build_tags, expected_tag_flags, sync_flags
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.db import utcnow
from vault.errors import ChecksumMismatch, Conflict
from vault.evidence.models import Evidence
from vault.evidence.service import EvidenceTags, find_by_sha256, register_evidence
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.storage.base import BlobStore, StoredBlob, verify_expected
from vault.storage.local import LocalBlobStore

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StagedFile:
    """Bytes received in full, fsynced, with the SHA-256 computed while they arrived."""

    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class IngestOutcome:
    """The record a submission ended in, and whether it was already there."""

    evidence: Evidence
    duplicate: bool
    received_at: datetime
    original_name: str


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


def _store(store: BlobStore, staged: StagedFile, *, retain_until: datetime, media_type: str) -> StoredBlob:
    if isinstance(store, LocalBlobStore):
        # Same filesystem: a rename, so the bytes are written and hashed exactly once.
        return store.adopt_file(staged.path, sha256=staged.sha256, size=staged.size, retain_until=retain_until)
    with staged.path.open("rb") as handle:
        blob = store.put_stream(handle, retain_until=retain_until, expected_sha256=staged.sha256,
                                content_type=media_type)
    staged.path.unlink(missing_ok=True)
    return blob


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
    """Catalog a staged file; the staged file is consumed (stored or deleted) whatever happens."""
    require(actor, Permission.UPLOAD_EVIDENCE)
    subject = str(submission_id or staged.sha256)
    try:
        verify_expected(staged.sha256, meta.sha256)
        # Sniff before storing: store objects are locked, so refused bytes must never reach the store.
        probe = probe_media(staged.path)
        exif = read_exif(staged.path, zone=rules.zone) if probe.kind == "image" else {}
        existing = find_by_sha256(session=session, sha256=staged.sha256)
        if existing is not None:
            staged.path.unlink(missing_ok=True)
            return _duplicate(session=session, actor=actor, existing=existing, meta=meta, subject=subject, now=now)
        # The store enforces the lock against its own clock, so never count from a `now` in the past.
        retain_until = max(now, utcnow()) + rules.minimum_retention
        blob = _store(store, staged, retain_until=retain_until, media_type=probe.media_type)
    except (ChecksumMismatch, UnsupportedMedia) as error:
        staged.path.unlink(missing_ok=True)
        reject_upload(session=session, actor=actor, error=error, subject_id=subject, meta=meta, now=now)
        raise
    except BaseException:
        staged.path.unlink(missing_ok=True)
        raise
    return _register(session=session, actor=actor, store=store, rules=rules, blob=blob, probe=probe, exif=exif,
                     meta=meta, retain_until=retain_until, now=now)


def _register(
    *, session: Session, actor: Actor, store: BlobStore, rules: IngestRules, blob: StoredBlob, probe: MediaProbe,
    exif: dict[str, object], meta: UploadMetadata, retain_until: datetime, now: datetime,
) -> IngestOutcome:
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
        wanted[DAMAGED] = probe.damage
    session.flush()
    sync_flags(session=session, actor=actor, evidence=evidence, wanted=wanted, governed=frozenset(), now=now)
    check_continuity(session=session, actor=actor, evidence=evidence, tolerance=rules.continuity_tolerance, now=now)
    log.info("ingest.registered", evidence_id=str(evidence.id), sha256=blob.sha256, size=blob.size,
             media_type=probe.media_type, flags=sorted(wanted))
    return IngestOutcome(evidence=evidence, duplicate=False, received_at=now, original_name=meta.filename)
