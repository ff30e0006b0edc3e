"""Turn a staged, hashed file into a catalog record: sniff, deduplicate, store write-once, register, flag."""

from __future__ import annotations

import uuid
from collections.abc import Callable
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
from ingest.probe import MediaProbe, parse_creation_time, probe_media, read_head, require_media_head
from ingest.rules import IngestRules
from ingest.storing import Put, StagedFile, staged_put
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
    return ingest_upload(session=session, actor=actor, store=store, rules=rules, staged=staged,
                         put=staged_put(store, staged), judge=lambda: judge_staged(staged.path, rules), meta=meta,
                         now=now, submission_id=submission_id)


class _AlreadyStored(Exception):
    """The verdict found these bytes already stored: the new copy is discarded and the record returned."""

    def __init__(self, existing: Evidence) -> None:
        super().__init__(str(existing.id))
        self.existing = existing


def ingest_upload(
    *, session: Session, actor: Actor, store: BlobStore, rules: IngestRules, staged: StagedFile, put: Put,
    judge: Callable[[], Judgement], meta: UploadMetadata, now: datetime, submission_id: uuid.UUID | None = None,
) -> IngestOutcome:
    """Store an upload through `put` and catalog it; the staged copy is deleted whatever happens.

    Before anything is locked, the verdict checks the declared digest, sniffs and probes the staged copy
    (refusing non-media with 415) and looks for the same bytes already stored (returning that record).
    """
    require(actor, Permission.UPLOAD_EVIDENCE)
    judged: list[Judgement] = []
    hashed: list[str] = [staged.sha256] if staged.sha256 else []

    def accept(blob: StoredBlob) -> None:
        hashed.append(blob.sha256)
        verify_expected(blob.sha256, meta.sha256)
        judged.append(judge())
        existing = find_by_sha256(session=session, sha256=blob.sha256)
        if existing is not None:
            raise _AlreadyStored(existing)
        # Let go of the catalog while the store locks the object: on SQLite this read holds the writer lock,
        # and eight recorders finishing together would queue every catalog request behind their S3 calls.
        session.rollback()

    # The store enforces the lock against its own clock, so never count from a `now` in the past.
    retain_until = max(now, utcnow()) + rules.minimum_retention
    try:
        # Sniff before storing: refused bytes should not even reach the store unlocked.
        content_type = require_media_head(read_head(staged.path))
        blob = put(retain_until, content_type, accept)
    except _AlreadyStored as already:
        return _duplicate(session=session, actor=actor, existing=already.existing, meta=meta,
                          subject=str(submission_id or already.existing.sha256), now=now)
    except (ChecksumMismatch, UnsupportedMedia) as error:
        subject = str(submission_id or (hashed[0] if hashed else "upload"))
        reject_upload(session=session, actor=actor, error=error, subject_id=subject, meta=meta, now=now)
        raise
    finally:
        staged.path.unlink(missing_ok=True)
    return _register(session=session, actor=actor, store=store, rules=rules, blob=blob, probe=judged[0].probe,
                     exif=judged[0].exif, meta=meta, retain_until=retain_until, now=now)


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
