"""Background jobs of the ingest (the scheduler calls them): SM3 digests and derived files. Each owns its sessions."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import ffmpeg
import structlog
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.derivatives import MEDIA_TYPES, needs_proxy, needs_thumbnail, render
from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.db import transaction, utcnow
from vault.errors import VaultError
from vault.evidence.derivatives import store_derivative
from vault.evidence.models import Derivative, DerivativeKind, Evidence, EvidenceStatus
from vault.identities.actor import SYSTEM

log = structlog.get_logger(__name__)


def _sm3_of(context: VaultContext, key: str, version_id: str) -> str:
    digest = hashes.Hash(hashes.SM3())
    for chunk in context.store.open_range(key, version_id):
        digest.update(chunk)
    return digest.finalize().hex()


def backfill_sm3(context: VaultContext, *, limit: int = 20, now: datetime | None = None) -> int:
    """Compute the SM3 (GB/T 32905) digest of originals that lack one, streamed from the store; return how many."""
    with context.sessions() as session:
        pending = list(session.execute(
            select(Evidence.id, Evidence.storage_key, Evidence.version_id)
            .where(Evidence.sm3.is_(None), Evidence.status == EvidenceStatus.STORED)
            .order_by(Evidence.uploaded_at).limit(limit)))
    done = 0
    for evidence_id, key, version_id in pending:
        try:
            # Hash outside any transaction: SM3 is slower than the disk, and SQLite would hold its writer lock.
            sm3 = _sm3_of(context, key, version_id)
        except VaultError as exc:
            log.error("ingest.sm3.failed", evidence_id=str(evidence_id), error=exc.message)
            continue
        with transaction(context.sessions) as session:
            evidence = session.get(Evidence, evidence_id)
            if evidence is None or evidence.sm3 is not None:
                continue
            evidence.sm3 = sm3
            record_event(session=session, actor=SYSTEM, action=CustodyAction.EVIDENCE_DIGEST_RECORDED,
                         subject_type="evidence", subject_id=evidence.id, case_id=evidence.case_id,
                         now=now or utcnow(), details={"algorithm": "SM3", "digest": sm3, "sha256": evidence.sha256})
        log.info("ingest.sm3.recorded", evidence_id=str(evidence_id))
        done += 1
    return done


def _missing(evidence: Evidence) -> list[DerivativeKind]:
    have = {d.kind for d in evidence.derivatives}
    wanted = []
    if needs_thumbnail(evidence) and DerivativeKind.THUMBNAIL not in have:
        wanted.append(DerivativeKind.THUMBNAIL)
    if needs_proxy(evidence) and DerivativeKind.PROXY not in have:
        wanted.append(DerivativeKind.PROXY)
    return wanted


def _candidates(context: VaultContext, limit: int) -> list[tuple[uuid.UUID, list[DerivativeKind]]]:
    found: list[tuple[uuid.UUID, list[DerivativeKind]]] = []
    with context.sessions() as session:
        query = (select(Evidence).where(Evidence.status == EvidenceStatus.STORED)
                 .order_by(Evidence.uploaded_at.desc()).execution_options(yield_per=200))
        for evidence in session.scalars(query):
            kinds = _missing(evidence)
            if kinds:
                found.append((evidence.id, kinds))
            if len(found) >= limit:
                break
    return found


THUMBNAIL_URL_SECONDS = 300


def _source_of(context: VaultContext, evidence: Evidence, kinds: Sequence[DerivativeKind], work: Path) -> str:
    """Where ffmpeg reads the original, which must be seekable (an MP4's index may sit at the end).

    A thumbnail needs a few reads: ffmpeg reads the local file in place, or S3 over a short-lived presigned URL
    with range requests, instead of fetching gigabytes for one frame. A proxy reads everything for minutes,
    longer than a presigned URL lives, so it (and a store offering neither) gets a copy fetched once.
    """
    store = context.store
    local = store.local_path(evidence.storage_key, evidence.version_id)
    if local is not None:
        return str(local)
    if list(kinds) == [DerivativeKind.THUMBNAIL]:
        url = store.presign_get(evidence.storage_key, evidence.version_id, expires_seconds=THUMBNAIL_URL_SECONDS)
        if url is not None:
            return url
    source = work / "original"
    with source.open("wb") as out:
        for chunk in store.open_range(evidence.storage_key, evidence.version_id):
            out.write(chunk)
    return str(source)


def _store_derivative(context: VaultContext, evidence_id: uuid.UUID, kind: DerivativeKind, path: Path) -> None:
    retain_until = utcnow() + timedelta(days=context.settings.derivative_retention_days)

    def first_of_its_kind(session: Session, item: Derivative) -> bool:
        evidence = session.get(Evidence, evidence_id)
        return evidence is not None and not any(d.kind == kind and d.id != item.id for d in evidence.derivatives)

    store_derivative(context, evidence_id=evidence_id, kind=kind, path=path, media_type=MEDIA_TYPES[kind],
                     retain_until=retain_until, actor=SYSTEM, also=first_of_its_kind)


def make_derivatives(context: VaultContext, *, limit: int = 5) -> int:
    """Make missing thumbnails and browser proxies (H.264 480p, faststart), stored apart from originals."""
    return sum(derive(context, evidence_id, kinds) for evidence_id, kinds in _candidates(context, limit))


def make_thumbnail(context: VaultContext, evidence_id: uuid.UUID) -> int:
    """Make one record's thumbnail right after its ingest (proxies stay with the background job)."""
    with context.sessions() as session:
        evidence = session.get(Evidence, evidence_id)
        wanted = [k for k in _missing(evidence) if k == DerivativeKind.THUMBNAIL] if evidence else []
    return derive(context, evidence_id, wanted) if wanted else 0


def derive(context: VaultContext, evidence_id: uuid.UUID, kinds: Sequence[DerivativeKind]) -> int:
    """Render and store the given derived files of one record; a failure is logged, never raised."""
    made = 0
    work = Path(tempfile.mkdtemp(prefix="derive-", dir=context.settings.home))
    try:
        with context.sessions() as session:
            evidence = session.get(Evidence, evidence_id)
            assert evidence is not None
            duration = evidence.media_info.get("duration")
        source = _source_of(context, evidence, kinds, work)
        for kind in kinds:
            target = work / kind.value
            render(kind, source, target, duration=duration)
            _store_derivative(context, evidence_id, kind, target)
            made += 1
            log.info("ingest.derivative.created", evidence_id=str(evidence_id), kind=kind.value)
    except (ffmpeg.Error, VaultError, OSError) as exc:
        log.error("ingest.derivative.failed", evidence_id=str(evidence_id), error=type(exc).__name__)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return made
