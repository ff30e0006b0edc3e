"""Receive uploads: tus 1.0 resumable uploads (core, creation, termination, checksum) and single requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread
import structlog
from sqlalchemy.orm import Session

from ingest.errors import (
    ChunkChecksumMismatch,
    InvalidTusRequest,
    UnsupportedMedia,
    UploadNotFound,
    UploadOffsetMismatch,
)
from ingest.metadata import (
    UploadMetadata,
    declared_moments,
    parse_header_metadata,
    parse_metadata,
    parse_tus_metadata,
    refuse_future,
)
from ingest.models import Upload, UploadState
from ingest.probe import SNIFF_BYTES, sniff_media_type
from ingest.rules import IngestRules
from ingest.service import IngestOutcome, Judgement, ingest_upload, judge_staged, lock_ingested
from ingest.staging import StagingWriter, pump, rehash
from ingest.storing import StagedFile, streams_while_receiving
from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import ChecksumMismatch, Conflict, StorageError, TooLarge
from vault.evidence.models import Evidence
from vault.evidence.service import find_by_sha256
from vault.faults import crash_point
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.storage.base import PendingBlob

if TYPE_CHECKING:
    from _hashlib import HASH

log = structlog.get_logger(__name__)

CHECKSUM_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}


@dataclass
class _Piped:
    """A write to the store fed while an upload arrives, and how many bytes of the upload it carried."""

    pending: PendingBlob
    offset: int = 0
    broken: bool = False


class _Progress:
    """SHA-256 state and piped writes of open uploads, valid for this process only (neither can be persisted).

    Another process (or host) that takes over an upload re-reads the shared staged file instead.
    """

    def __init__(self) -> None:
        self._states: dict[uuid.UUID, tuple[int, HASH]] = {}
        self._pipes: dict[uuid.UUID, _Piped] = {}
        self._mutex = threading.Lock()

    def digest_at(self, upload_id: uuid.UUID, offset: int, path: Path) -> HASH:
        """Return a copy of the digest of the first offset bytes, re-reading the staged file once if unknown."""
        with self._mutex:
            state = self._states.get(upload_id)
        if state is not None and state[0] == offset:
            return state[1].copy()
        log.info("ingest.upload.rehash", upload_id=str(upload_id), offset=offset)
        digest = rehash(path, offset)
        self.remember(upload_id, offset, digest)
        return digest.copy()

    def remember(self, upload_id: uuid.UUID, offset: int, digest: HASH) -> None:
        """Keep the digest of the first offset bytes."""
        with self._mutex:
            self._states[upload_id] = (offset, digest)

    def take_pipe(self, upload_id: uuid.UUID, offset: int) -> _Piped | None:
        """Remove and return the piped write if it carried exactly the first offset bytes; discard a stale one."""
        with self._mutex:
            piped = self._pipes.pop(upload_id, None)
        if piped is None or (piped.offset == offset and not piped.broken):
            return piped
        piped.pending.discard()
        return None

    def keep_pipe(self, upload_id: uuid.UUID, piped: _Piped) -> None:
        """Keep the piped write between PATCH requests."""
        with self._mutex:
            stale = self._pipes.get(upload_id)
            self._pipes[upload_id] = piped
        if stale is not None and stale is not piped:
            stale.pending.discard()

    def forget(self, upload_id: uuid.UUID) -> None:
        """Drop what is kept for a finished or terminated upload, discarding a piped write's unlocked bytes."""
        with self._mutex:
            piped = self._pipes.pop(upload_id, None)
            self._states.pop(upload_id, None)
        if piped is not None:
            piped.pending.discard()


PROGRESS = _Progress()
_PROBES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ingest-probe")


class _Forward:
    """Hands each staged batch on to a write to the store, begun at the upload's first bytes if they sniff as media."""

    def __init__(self, begin: Callable[[str], PendingBlob] | None, piped: _Piped | None = None) -> None:
        self.piped = piped
        self._begin = begin

    def __call__(self, batch: list[bytes]) -> None:
        if self._begin is not None:
            begin, self._begin = self._begin, None
            media_type = sniff_media_type(_head_of(batch))
            if media_type is not None:  # non-media is refused from the staged copy: never send it to the store
                self.piped = _Piped(begin(media_type))
        piped = self.piped
        if piped is not None and not piped.broken:
            try:
                piped.pending.write(batch)
                piped.offset += sum(len(chunk) for chunk in batch)
            except StorageError as error:  # the staged copy goes to the store instead, when the upload ends
                piped.broken = True
                log.warning("ingest.pipe_broken", reason=error.message)


def _head_of(batch: list[bytes]) -> bytes:
    head = bytearray()
    for chunk in batch:
        head += chunk[:SNIFF_BYTES - len(head)]
        if len(head) >= SNIFF_BYTES:
            break
    return bytes(head)


def _hashes_staging(context: VaultContext) -> bool:
    """True when the staged file becomes the stored original (local store), so receiving it must hash it."""
    return not streams_while_receiving(context.store)


def _write_opener(context: VaultContext, *, max_size: int, length: int | None) -> Callable[[str], PendingBlob] | None:
    """Return how to begin a write to the store, or None when the store gains nothing from one (local disk)."""
    store = context.store
    if not streams_while_receiving(store):
        return None

    def begin(media_type: str) -> PendingBlob:
        return store.begin_put(content_type=media_type, max_size=max_size, length=length)

    return begin


def staging_path(context: VaultContext, upload_id: uuid.UUID) -> Path:
    """Return where an upload's bytes are staged."""
    return context.settings.uploads_dir / str(upload_id)


def _check_length(length: int | None, maximum: int) -> int:
    if length is None:
        raise InvalidTusRequest("Upload-Length is required (deferred length is not supported)")
    if length < 0:
        raise InvalidTusRequest("Upload-Length must be a non-negative integer")
    if length > maximum:
        raise TooLarge(f"the upload of {length} bytes exceeds the maximum of {maximum} bytes",
                       details={"max_size": maximum})
    if length == 0:
        raise UnsupportedMedia("an empty file is not a recording; nothing was stored")
    return length


def create_upload(
    *, session: Session, actor: Actor, context: VaultContext, length: int | None, metadata_header: str | None,
    now: datetime,
) -> Upload:
    """Open a resumable upload, or complete it at once when the declared sha256 names bytes already stored."""
    require(actor, Permission.UPLOAD_EVIDENCE)
    size = _check_length(length, context.settings.max_upload_bytes)
    raw = parse_tus_metadata(metadata_header)
    meta = parse_metadata(raw)
    refuse_future(declared_moments(meta), now=now, tolerance=IngestRules.of(context.settings).clock_tolerance)
    assert actor.id is not None
    upload = Upload(owner_id=actor.id, length=size, filename=meta.filename, meta=raw, created_at=now, updated_at=now)
    existing = find_by_sha256(session=session, sha256=meta.sha256) if meta.sha256 else None
    if existing is not None and existing.size == size:
        upload.offset, upload.state, upload.duplicate = size, UploadState.COMPLETED, True
        upload.evidence_id, upload.completed_at = existing.id, now
    session.add(upload)
    session.flush()
    if existing is not None and upload.duplicate:
        record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_DUPLICATE_SUBMITTED,
                     subject_type="evidence", subject_id=existing.id, case_id=existing.case_id, now=now,
                     details={"sha256": existing.sha256, "submitted_name": meta.filename, "submission": str(upload.id)})
        return upload
    path = staging_path(context, upload.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=False)
    record_event(session=session, actor=actor, action=CustodyAction.UPLOAD_CREATED, subject_type="upload",
                 subject_id=upload.id, now=now, details={"name": meta.filename, "length": size})
    return upload


def get_upload(*, session: Session, actor: Actor, upload_id: uuid.UUID) -> Upload:
    """Return an upload of the actor's (others' uploads do not exist for them)."""
    upload = session.get(Upload, upload_id)
    if upload is None or (actor.id is not None and upload.owner_id != actor.id):
        raise UploadNotFound(f"no upload {upload_id}", details={"upload_id": str(upload_id)})
    return upload


def current_offset(*, context: VaultContext, upload: Upload) -> int:
    """Return the durable offset, or 0 when the staged bytes were lost (a crash after storing, before commit)."""
    if upload.state != UploadState.RECEIVING:
        return upload.offset
    path = staging_path(context, upload.id)
    if not path.exists() or path.stat().st_size < upload.offset:
        log.warning("ingest.upload.staging_lost", upload_id=str(upload.id), offset=upload.offset)
        return 0
    return upload.offset


def parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    """Parse a tus Upload-Checksum header (`algorithm base64digest`); a malformed one is 400, never 460."""
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise InvalidTusRequest(f"checksum algorithm '{algorithm}' is not supported",
                                details={"supported": sorted(CHECKSUM_ALGORITHMS)})
    size = CHECKSUM_ALGORITHMS[algorithm]().digest_size
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except ValueError:  # binascii.Error, and non-ASCII text
        digest = b""
    if len(digest) != size:
        raise InvalidTusRequest(f"Upload-Checksum must be `{algorithm} <base64 of the {size}-byte digest>`",
                                details={"header": "Upload-Checksum"})
    return algorithm, digest


async def append_to_upload(
    *, session: Session, actor: Actor, context: VaultContext, upload_id: uuid.UUID, offset: int,
    chunks: AsyncIterator[bytes], checksum_header: str | None, now: datetime,
) -> Upload:
    """Append a PATCH body at offset and fsync it; the caller holds the upload's lock and commits the offset."""
    checksum = parse_checksum(checksum_header)
    upload = await anyio.to_thread.run_sync(lambda: get_upload(session=session, actor=actor, upload_id=upload_id))
    if upload.state == UploadState.COMPLETED and offset == upload.length:
        return upload
    path = staging_path(context, upload.id)
    start, length = current_offset(context=context, upload=upload), upload.length
    if offset != start or upload.state != UploadState.RECEIVING:
        raise UploadOffsetMismatch(f"the upload stands at offset {start}, not {offset}", details={"offset": start})
    # End the read transaction: on SQLite it would hold the writer lock for the whole transfer.
    await anyio.to_thread.run_sync(session.rollback)
    hashing = _hashes_staging(context)
    sha256 = await anyio.to_thread.run_sync(PROGRESS.digest_at, upload_id, start, path) if hashing else None
    # In a worker thread: discarding a stale piped write may wait for the store.
    piped = await anyio.to_thread.run_sync(PROGRESS.take_pipe, upload_id, start)
    opener = _write_opener(context, max_size=length, length=length) if start == 0 else None
    forward = _Forward(opener, piped)
    request_digest = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
    with StagingWriter(path, offset=start, sha256=sha256, limit=length, request_digest=request_digest,
                       hash_bytes=hashing) as writer:
        try:
            completed = await pump(chunks, writer, forward=forward)
            if checksum and request_digest is not None and (
                    not completed or not hmac.compare_digest(request_digest.digest(), checksum[1])):
                raise ChunkChecksumMismatch("the PATCH body does not match Upload-Checksum; it was discarded",
                                            details={"offset": start})
        except (TooLarge, ChunkChecksumMismatch):
            await anyio.to_thread.run_sync(writer.rewind, start)
            if forward.piped is not None:
                forward.piped.pending.discard()
            raise
        except BaseException:
            if forward.piped is not None:
                forward.piped.pending.discard()
            raise
        if forward.piped is not None:
            PROGRESS.keep_pipe(upload_id, forward.piped)
        if hashing:
            PROGRESS.remember(upload_id, writer.offset, writer.sha256)
        end = writer.offset
    # In a worker thread: on SQLite this begins a write transaction, and waiting for the lock on the event
    # loop would stall the very request (finishing in a thread) that holds it.
    upload = await anyio.to_thread.run_sync(lambda: _record_offset(session, actor, upload_id, end, now))
    log.info("ingest.upload.patched", upload_id=str(upload_id), offset=end, length=length, interrupted=not completed)
    return upload


def _record_offset(session: Session, actor: Actor, upload_id: uuid.UUID, offset: int, now: datetime) -> Upload:
    upload = get_upload(session=session, actor=actor, upload_id=upload_id)
    upload.offset, upload.updated_at = offset, now
    session.flush()
    return upload


def _declared(upload: Upload) -> UploadMetadata:
    return parse_metadata(upload.meta)


def finalize_upload(*, session: Session, actor: Actor, context: VaultContext, upload_id: uuid.UUID,
                    now: datetime) -> IngestOutcome:
    """Turn a fully received upload into a record (idempotent; the caller holds the upload's lock and commits).

    Refusals delete the upload and keep nothing. A failure of the store keeps every staged byte: finishing
    again (an empty PATCH at the full offset, or the reconciler) needs nothing sent again.
    """
    upload = get_upload(session=session, actor=actor, upload_id=upload_id)
    if upload.state == UploadState.COMPLETED:
        return outcome_of(session=session, upload=upload)
    if current_offset(context=context, upload=upload) != upload.length:
        raise Conflict(f"the upload has {upload.offset} of {upload.length} bytes", details={"offset": upload.offset})
    path = staging_path(context, upload.id)
    # A network store hashes the bytes as it receives them; only a local store needs the digest of staging.
    digest = PROGRESS.digest_at(upload.id, upload.offset, path).hexdigest() if _hashes_staging(context) else None
    staged = StagedFile(path=path, size=upload.length, sha256=digest)
    rules = IngestRules.of(context.settings)
    piped = PROGRESS.take_pipe(upload.id, upload.length)
    try:
        outcome = ingest_upload(
            session=session, actor=actor, store=context.store, rules=rules, staged=staged,
            piped=piped.pending if piped is not None else None, judge=lambda: judge_staged(path, rules),
            meta=_declared(upload), now=now, submission_id=upload.id, steps=context.metrics.ingest_steps)
    except UnsupportedMedia:
        _discard(session=session, context=context, upload=upload)
        raise
    except ChecksumMismatch as mismatch:  # tus answers a whole-upload mismatch with 460, like a chunk's
        _discard(session=session, context=context, upload=upload)
        refusal = ChunkChecksumMismatch(mismatch.message, details=mismatch.details)
        refusal.record_kept = mismatch.record_kept
        raise refusal from None
    upload.state, upload.completed_at = UploadState.COMPLETED, now
    upload.evidence_id, upload.duplicate = outcome.evidence.id, outcome.duplicate
    session.flush()
    PROGRESS.forget(upload.id)
    return outcome


def lock_finalized(*, context: VaultContext, outcome: IngestOutcome, upload_id: uuid.UUID) -> None:
    """After the record is committed: lock the original in the store and drop the staged copy."""
    crash_point(context.settings.crash_at, "ingest.after_commit")
    lock_ingested(store=context.store, outcome=outcome,
                  staged=StagedFile(path=staging_path(context, upload_id), size=0), steps=context.metrics.ingest_steps)
    crash_point(context.settings.crash_at, "ingest.after_lock")


def outcome_of(*, session: Session, upload: Upload) -> IngestOutcome:
    """Return the outcome a completed upload ended in."""
    evidence = session.get(Evidence, upload.evidence_id)
    if evidence is None or upload.completed_at is None:
        raise Conflict(f"upload {upload.id} is not complete yet", details={"offset": upload.offset})
    return IngestOutcome(evidence=evidence, duplicate=upload.duplicate, received_at=upload.completed_at,
                         original_name=upload.filename)


def _discard(*, session: Session, context: VaultContext, upload: Upload) -> None:
    staging_path(context, upload.id).unlink(missing_ok=True)
    PROGRESS.forget(upload.id)
    session.delete(upload)
    session.flush()


def terminate_upload(*, session: Session, actor: Actor, context: VaultContext, upload_id: uuid.UUID,
                     now: datetime) -> None:
    """Abandon an unfinished upload and delete its staged bytes (tus termination)."""
    upload = get_upload(session=session, actor=actor, upload_id=upload_id)
    if upload.state == UploadState.COMPLETED:
        raise Conflict("a completed upload cannot be terminated: its record is stored write-once")
    record_event(session=session, actor=actor, action=CustodyAction.UPLOAD_TERMINATED, subject_type="upload",
                 subject_id=upload.id, now=now, details={"name": upload.filename, "received": upload.offset})
    _discard(session=session, context=context, upload=upload)


async def receive_single(
    *, session: Session, actor: Actor, context: VaultContext, headers: dict[str, str],
    chunks: AsyncIterator[bytes], content_length: int | None, now: datetime,
) -> tuple[IngestOutcome, StagedFile]:
    """Stage a one-request upload (Evault-Meta-* headers) while hashing it, then ingest it; the caller commits
    and then calls lock_ingested with the staged file returned."""
    require(actor, Permission.UPLOAD_EVIDENCE)
    meta = parse_metadata(parse_header_metadata(headers))
    refuse_future(declared_moments(meta), now=now, tolerance=IngestRules.of(context.settings).clock_tolerance)
    maximum = context.settings.max_upload_bytes
    if content_length is not None and content_length > maximum:
        raise TooLarge(f"the upload exceeds the maximum size of {maximum} bytes", details={"max_size": maximum})
    session.rollback()  # release the SQLite writer lock taken by authentication while the body streams
    path = context.settings.uploads_dir / f"single-{uuid.uuid4().hex}"
    forward = _Forward(_write_opener(context, max_size=maximum, length=content_length))
    # A network store hashes the bytes and makes them durable itself; the staged copy is then only there to probe.
    local = _hashes_staging(context)
    try:
        with StagingWriter(path, limit=maximum, hash_bytes=local, durable=local) as writer:
            if not await pump(chunks, writer, forward=forward) or writer.offset == 0:
                raise UnsupportedMedia("the request body was empty or cut short; nothing was stored")
            staged = StagedFile(path=path, size=writer.offset, sha256=writer.sha256.hexdigest() if local else None)
    except BaseException:
        path.unlink(missing_ok=True)
        if forward.piped is not None:  # answer only once the store has discarded the partial upload
            pending = forward.piped.pending
            await anyio.to_thread.run_sync(pending.discard)
        raise
    rules = IngestRules.of(context.settings)
    judge: Callable[[], Judgement] = partial(judge_staged, path, rules)
    piped = forward.piped
    if piped is not None:  # probe now, while the piped write's last parts are still on their way to the store
        judge = _PROBES.submit(judge_staged, path, rules).result
    try:
        outcome = await anyio.to_thread.run_sync(lambda: ingest_upload(
            session=session, actor=actor, store=context.store, rules=rules, staged=staged,
            piped=piped.pending if piped is not None and not piped.broken else None, judge=judge, meta=meta,
            now=now, steps=context.metrics.ingest_steps))
    except BaseException:
        path.unlink(missing_ok=True)  # no upload to resume: the client sends the request again
        raise
    return outcome, staged
