"""Finish what a crash or a store outage left half done: uploads whose bytes are all staged, and stray staged files."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select

from ingest.models import Upload, UploadState
from ingest.uploads.locking import try_upload_lock
from ingest.uploads.service import finalize_upload, lock_finalized, staging_path, terminate_upload
from vault.context import VaultContext
from vault.errors import VaultError
from vault.identities.actor import SYSTEM, Actor
from vault.identities.models import User

log = structlog.get_logger(__name__)


@dataclass
class UploadRecovery:
    """What finishing stranded uploads did."""

    finished: int = 0
    expired: int = 0
    refused: int = 0
    failed: int = 0
    swept: int = 0


def stranded_uploads(context: VaultContext) -> list[uuid.UUID]:
    """Return uploads that received every byte into staging but never became a record."""
    with context.sessions() as session:
        candidates = session.scalars(select(Upload.id).where(Upload.state == UploadState.RECEIVING,
                                                             Upload.offset == Upload.length)).all()
    return [upload_id for upload_id in candidates if staging_path(context, upload_id).exists()]


def finish_stranded_upload(context: VaultContext, upload_id: uuid.UUID, *, now: datetime) -> str:
    """Finish one stranded upload as its owner, unless a live request holds it; return what happened."""
    held = try_upload_lock(context, upload_id)
    if held is None:
        return "busy"
    ended = True
    try:
        with context.sessions() as session:
            upload = session.get(Upload, upload_id)
            owner = session.get(User, upload.owner_id) if upload is not None else None
            if upload is None or owner is None or upload.state != UploadState.RECEIVING:
                return "gone"
            try:
                outcome = finalize_upload(session=session, actor=Actor.of(owner), context=context,
                                          upload_id=upload_id, now=now)
            except VaultError as error:
                if not error.record_kept:
                    ended = False
                    raise
                session.commit()  # the refusal and its custody event
                log.info("reconcile.upload_refused", upload_id=str(upload_id), code=error.code)
                return "refused"
            session.commit()
        lock_finalized(context=context, outcome=outcome, upload_id=upload_id)
        log.warning("reconcile.upload_finished", upload_id=str(upload_id), evidence_id=str(outcome.evidence.id))
        return "finished"
    finally:
        held.release(upload_ended=ended)


def expire_uploads(context: VaultContext, *, now: datetime, idle: timedelta) -> int:
    """Terminate unfinished uploads no request has touched for `idle` (as tus expiration); return the count."""
    with context.sessions() as session:
        idle_ids = session.scalars(select(Upload.id).where(Upload.state == UploadState.RECEIVING,
                                                           Upload.offset < Upload.length,
                                                           Upload.updated_at < now - idle)).all()
    expired = 0
    for upload_id in idle_ids:
        held = try_upload_lock(context, upload_id)
        if held is None:
            continue  # a request is writing to it right now: not idle after all
        try:
            with context.sessions() as session:
                terminate_upload(session=session, actor=SYSTEM, context=context, upload_id=upload_id, now=now)
                session.commit()
        finally:
            held.release(upload_ended=True)
        log.info("reconcile.upload_expired", upload_id=str(upload_id))
        expired += 1
    return expired


def sweep_staging(context: VaultContext, *, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete staged files no receiving upload owns: ended uploads' files at once, strays once old; return count."""
    folder = context.settings.uploads_dir
    if not folder.exists():
        return 0
    with context.sessions() as session:
        receiving = {str(upload_id) for upload_id in session.scalars(
            select(Upload.id).where(Upload.state == UploadState.RECEIVING))}
        known = {str(upload_id) for upload_id in session.scalars(select(Upload.id))}
    cutoff = (now or datetime.now(UTC)) - older_than
    removed = 0
    for path in folder.iterdir():
        owner = path.name.split(".")[0]
        if not path.is_file() or owner in receiving:
            continue
        modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        if owner in known or modified < cutoff:  # an ended upload's leftovers, or a stray past the grace
            path.unlink(missing_ok=True)
            log.info("ingest.staging.swept", name=path.name)
            removed += 1
    return removed


def recover_uploads(context: VaultContext, *, now: datetime, grace: timedelta, idle: timedelta) -> UploadRecovery:
    """Finish every stranded upload, expire idle unfinished ones, then sweep staged files nothing owns."""
    report = UploadRecovery()
    report.expired = expire_uploads(context, now=now, idle=idle)
    for upload_id in stranded_uploads(context):
        try:
            outcome = finish_stranded_upload(context, upload_id, now=now)
        except VaultError as error:  # the store is still away: the staged bytes stay for the next pass
            log.error("reconcile.upload_failed", upload_id=str(upload_id), code=error.code, error=error.message)
            report.failed += 1
            continue
        report.finished += outcome == "finished"
        report.refused += outcome == "refused"
    report.swept = sweep_staging(context, older_than=grace, now=now)
    return report
