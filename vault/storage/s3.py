"""S3 Object Lock backend (MinIO in production, Ceph RGW in tests) over the minio client."""

from __future__ import annotations

import io
import itertools
import re
import threading
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Literal, cast
from urllib.parse import urlsplit

import certifi
import structlog
import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import MinioException, S3Error
from minio.lifecycleconfig import AbortIncompleteMultipartUpload, LifecycleConfig, Rule
from minio.retention import Retention
from minio.sse import Sse, SseKMS, SseS3
from urllib3 import BaseHTTPResponse

from vault.errors import (
    Conflict,
    InvalidInput,
    LengthMismatch,
    NotFound,
    ObjectLocked,
    RetentionShortening,
    StorageError,
    StoreAccessDenied,
    StoreNotEncrypted,
    VaultError,
)
from vault.storage.base import (
    CHUNK_SIZE,
    DERIVATIVE_LOCK_MODE,
    DERIVATIVES_PREFIX,
    BlobStat,
    FileSource,
    HashingReader,
    LockMode,
    StoreArea,
    StoreCapabilities,
    StoredAnchor,
    StoredBlob,
    StoredVersion,
    check_limits,
    put_whole,
    verify_expected,
    verify_length,
)
from vault.storage.pipe import ChunkQueue
from vault.storage.reading import PrimedStream

log = structlog.get_logger(__name__)

PART_SIZE = 8 * 1024 * 1024  # like aws s3 cp: the last part's upload is the tail left once the stream ends
MAX_PARTS = 10_000  # the S3 limit on parts per upload
# Parts in flight at once (minio's pool reads the next part only when a slot is free; memory: threads + 1 parts).
# Profiled on RGW, 1 GiB: with 3 or 8 the part threads wait for bytes half the time, since the request body
# arrives no faster; 8 only added 48 MB of peak RSS.
UPLOAD_THREADS = 3
MAX_PRESIGN_SECONDS = 900
ANCHOR_READERS = 8  # concurrent GETs while reading anchors back
ANCHOR_BATCH = 256
DEFAULT_TIMEOUT = 10.0
ABORT_MULTIPART_RULE = "evault-abort-incomplete-multipart"

_MODE = "x-amz-object-lock-mode"
_RETAIN_UNTIL = "x-amz-object-lock-retain-until-date"
_LEGAL_HOLD = "x-amz-object-lock-legal-hold"
_SSE = "x-amz-server-side-encryption"
_SSE_KEY = "x-amz-server-side-encryption-aws-kms-key-id"
SseMode = Literal["none", "s3", "kms"]
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchVersion"})
# RGW fills in up to nine fractional digits, which minio's own date parser rejects.
_ISO_DATE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _public_endpoint(url: str) -> tuple[str, bool] | None:
    """Return (host[:port], https) of the endpoint links are signed for; None to sign for the internal one."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") or parts.query:
        raise InvalidInput("the public S3 endpoint must look like https://s3.agency.example[:port], without a path",
                           details={"public_endpoint": url})
    return parts.netloc, parts.scheme == "https"


def _sse_of(mode: SseMode, kms_key_id: str) -> Sse | None:
    if mode == "s3":
        return SseS3()
    if mode == "kms":
        if not kms_key_id:
            raise InvalidInput("SSE-KMS needs a key id", details={"sse": mode})
        return SseKMS(kms_key_id, {})
    return None


def _http_client(timeout_seconds: float, connections: int) -> urllib3.PoolManager:
    """Build a pool whose requests, retries included, fail within about timeout_seconds (minio's default: 5 min)."""
    # Three connection attempts share the budget; a read that times out is not retried, so a gateway that
    # accepts and never answers costs one read timeout; server-sent Retry-After waits are not honoured.
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout_seconds / 3, read=timeout_seconds),
        maxsize=connections,
        cert_reqs="CERT_REQUIRED",
        ca_certs=certifi.where(),
        retries=urllib3.Retry(total=2, connect=2, read=0, status=2, other=0, backoff_factor=0.2,
                              status_forcelist=(500, 502, 503, 504), respect_retry_after_header=False),
    )


def _lock_date(value: datetime) -> datetime:
    """Round up to the millisecond S3 keeps, so a stored date is never earlier than the one asked for."""
    if value.tzinfo is None:
        raise InvalidInput("retain_until must be timezone-aware", details={"retain_until": value.isoformat()})
    value = value.astimezone(UTC)
    extra = value.microsecond % 1000
    return value + timedelta(microseconds=1000 - extra) if extra else value


def _parse_date(value: str) -> datetime:
    match = _ISO_DATE.match(value.strip())
    if match is None:
        raise StorageError("the object store sent an unreadable retain-until date", details={"value": value})
    seconds, fraction, zone = match.groups()
    parsed = datetime.fromisoformat(seconds + ("+00:00" if zone == "Z" else zone))
    return parsed.replace(microsecond=int((fraction or "0")[:6].ljust(6, "0"))).astimezone(UTC)


def _is_lock_refusal(exc: S3Error) -> bool:
    # AWS and RGW answer AccessDenied; MinIO answers InvalidRequest "Object is WORM protected".
    return exc.code in {"AccessDenied", "ObjectLocked"} or (
        exc.code == "InvalidRequest" and "worm" in (exc.message or "").lower()
    )


def _from_s3(exc: S3Error, action: str, details: dict[str, Any], refused: type[VaultError]) -> VaultError:
    details = {**details, "server_code": exc.code, "server_message": exc.message}
    if exc.code in _NOT_FOUND_CODES:
        return NotFound("no such stored object", details=details)
    if refused is not StorageError and _is_lock_refusal(exc):
        return refused(f"the object store refused to {action} a locked object", details=details)
    if exc.code == "InvalidRange":
        return InvalidInput("the requested range lies outside the object", details=details)
    if exc.code == "AccessDenied":
        return StoreAccessDenied(f"the object store denied the vault's account permission to {action}; "
                                 "the bucket policy does not allow it", details=details)
    return StorageError(f"the object store failed to {action}: {exc.code}", details=details)


@contextmanager
def _translated(action: str, *, refused: type[VaultError] = StorageError, **context: str) -> Iterator[None]:
    """Turn minio, urllib3 and socket errors into vault errors; nothing outside this module sees them."""
    details: dict[str, Any] = {"action": action, **context}
    try:
        yield
    except S3Error as exc:
        raise _from_s3(exc, action, details, refused) from exc
    except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
        details["reason"] = f"{type(exc).__name__}: {exc}"
        raise StorageError(f"the object store is unreachable or failed to {action}", details=details) from exc


class _PartReader:
    """Feed minio whole parts through the hashing reader, holding back any error until minio is done.

    minio aborts a multipart upload on a read error but leaves its upload threads waiting forever, so
    an oversize or broken stream ends the upload early instead; the caller then discards that version.
    """

    def __init__(self, reader: HashingReader) -> None:
        self._reader = reader
        self.error: Exception | None = None
        self.exhausted = False

    def read(self, size: int = -1) -> bytes:
        """Return up to size bytes (minio asks for a whole part), or nothing after an error."""
        if self.error is not None:
            return b""
        wanted = size if size > 0 else CHUNK_SIZE
        chunks: list[bytes] = []
        got = 0
        try:
            while got < wanted:
                chunk = self._reader.read(min(CHUNK_SIZE, wanted - got))
                if not chunk:
                    self.exhausted = True
                    break
                chunks.append(chunk)
                got += len(chunk)
        except Exception as exc:  # re-raised by put_stream once minio has finished cleanly
            self.error = exc
            return b""
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class S3BlobStore:
    """Stores originals write-once in an Object Lock bucket, each addressed by key and version id.

    Originals live under the evidence prefix (`originals/`), locked in the store's mode (COMPLIANCE in
    production); derived files under `derivatives/`, always in GOVERNANCE mode.
    """

    name = "s3"
    capabilities = StoreCapabilities(presigned_links=True, server_side_locks=True, local_paths=False,
                                     link_max_seconds=MAX_PRESIGN_SECONDS)

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str | None = None,
        lock_mode: LockMode = LockMode.COMPLIANCE,
        prefix: str = "originals/",
        clock: Callable[[], datetime] = _utcnow,
        timeout_seconds: float = DEFAULT_TIMEOUT,
        public_endpoint: str = "",
        sse: SseMode = "none",
        kms_key_id: str = "",
        upload_threads: int = UPLOAD_THREADS,
    ) -> None:
        self.bucket = bucket
        self._region = region
        self._lock_mode = lock_mode
        self._prefix = prefix
        self._prefixes = {StoreArea.ORIGINALS: prefix, StoreArea.DERIVATIVES: DERIVATIVES_PREFIX}
        self._clock = clock
        self._client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure,
                             region=region, http_client=_http_client(timeout_seconds, max(10, upload_threads + 2)))
        self._credentials = (access_key, secret_key)
        self._public = _public_endpoint(public_endpoint)
        self._signer: Minio | None = None if self._public else self._client
        self._sse = _sse_of(sse, kms_key_id)
        self._upload_threads = upload_threads

    def ensure_bucket(self, *, abort_multipart_days: int = 1) -> None:
        """Create the bucket with Object Lock, or check an existing one; then keep an abort-multipart rule on it.

        Refuses, before changing anything, a bucket without Object Lock, with a default retention rule, or with a
        lifecycle rule that could expire or move evidence.
        """
        with _translated("create the bucket", bucket=self.bucket):
            exists = self._client.bucket_exists(self.bucket)
            if not exists:
                self._client.make_bucket(self.bucket, location=self._region, object_lock=True)
                log.info("storage.s3.bucket_created", bucket=self.bucket)
        if exists:
            self._check_object_lock()
        with _translated("read the lifecycle configuration", bucket=self.bucket):
            lifecycle = self._client.get_bucket_lifecycle(self.bucket)
        rules = [] if lifecycle is None else list(lifecycle.rules)
        kept = [rule for rule in rules if rule.rule_id != ABORT_MULTIPART_RULE]
        expiring = [rule.rule_id or "(unnamed)" for rule in kept if _could_expire(rule, self._prefix)]
        if expiring:
            raise StorageError(
                f"bucket {self.bucket} has lifecycle rules that could expire or move evidence: "
                f"{', '.join(expiring)}; remove them (only abort-incomplete-multipart rules are allowed)",
                details={"bucket": self.bucket, "rules": expiring})
        if abort_multipart_days == 0:
            return  # the server or its owner manages stale uploads (MinIO refuses the rule); the reconciler aborts too
        wanted = [*kept, _abort_multipart_rule(abort_multipart_days)]
        # Compared by meaning: RGW hands an empty prefix filter back as no filter. Rewriting an unchanged rule
        # would need a permission the vault's own account does not have.
        if not any(_is_abort_rule(rule, abort_multipart_days) for rule in rules):
            with _translated("set the lifecycle configuration", bucket=self.bucket):
                self._client.set_bucket_lifecycle(self.bucket, LifecycleConfig(wanted))
            log.info("storage.s3.lifecycle_set", bucket=self.bucket, abort_multipart_days=abort_multipart_days)

    def set_bucket_policy(self, policy: str) -> None:
        """Set the bucket's policy document (with the owner's keys: the vault's own may not)."""
        with _translated("set the bucket policy", bucket=self.bucket):
            self._client.set_bucket_policy(self.bucket, policy)

    def bucket_policy(self) -> str:
        """Return the bucket's policy document as the server keeps it."""
        with _translated("read the bucket policy", bucket=self.bucket):
            return self._client.get_bucket_policy(self.bucket)

    def _check_object_lock(self) -> None:
        try:
            with _translated("read the Object Lock configuration", bucket=self.bucket):
                config = self._client.get_object_lock_config(self.bucket)
        except StorageError as exc:
            if exc.details.get("server_code") != "ObjectLockConfigurationNotFoundError":
                raise
            raise StorageError(f"bucket {self.bucket} exists without Object Lock enabled; evidence needs a bucket "
                               "created with Object Lock", details=exc.details) from exc
        if config.mode is not None:
            # A default rule would lock a rejected upload before we could remove it.
            raise StorageError(f"bucket {self.bucket} has a default retention rule; remove it",
                               details={"mode": config.mode, "duration": config.duration})

    def begin_put(
        self, *, content_type: str = "application/octet-stream", max_size: int | None = None,
        length: int | None = None, source: FileSource | None = None, area: StoreArea = StoreArea.ORIGINALS,
    ) -> S3PendingBlob:
        """Start an unlocked upload under a fresh key of the area; chunks stream to the bucket on their own thread."""
        return S3PendingBlob(self, content_type=content_type, max_size=max_size, length=length, source=source,
                             prefix=self._prefixes[area])

    def put_stream(
        self, stream: BinaryIO, *, retain_until: datetime, expected_sha256: str | None = None,
        max_size: int | None = None, content_type: str = "application/octet-stream", length: int | None = None,
    ) -> StoredBlob:
        """Store a stream and lock it at once."""
        if _lock_date(retain_until) <= self._clock():
            raise InvalidInput("retain_until must be in the future", details={"retain_until": retain_until.isoformat()})
        return put_whole(self, stream, retain_until=retain_until, expected_sha256=expected_sha256,
                         max_size=max_size, content_type=content_type, length=length)

    def upload_unlocked(self, key: str, reader: _PartReader, *, length: int | None, max_size: int | None,
                        content_type: str) -> str:
        """Upload a reader's bytes to key without any lock and return the new version id."""
        with _translated("store the upload", key=key):
            # The reader satisfies minio's read() protocol; BinaryIO is only the declared type. A known
            # length spares minio a copy of every part (it reads one byte ahead to find the end otherwise).
            result = self._client.put_object(self.bucket, key, cast(BinaryIO, reader),
                                             length=-1 if length is None else length,
                                             part_size=part_size_for(length or max_size), content_type=content_type,
                                             sse=self._sse, num_parallel_uploads=self._upload_threads)
        if not result.version_id:
            raise StorageError(f"bucket {self.bucket} returned no version id; is Object Lock enabled?",
                               details={"key": key})
        if self._sse is not None:
            headers, _ = self._head(key, result.version_id)
            try:
                self._confirm_encrypted(key, result.version_id, headers)
            except StoreNotEncrypted:
                self._discard(key, result.version_id)
                raise
        return result.version_id

    def _confirm_encrypted(self, key: str, version_id: str, headers: dict[str, str]) -> None:
        """Raise StoreNotEncrypted unless HEAD reports the server-side encryption asked for."""
        if self._sse is None:
            return
        wanted = {name.lower(): value for name, value in self._sse.headers().items()}
        algorithm, key_id = headers.get(_SSE), headers.get(_SSE_KEY)
        # AWS answers a key alias with the key's ARN, so only a key id that is not an alias is compared.
        wanted_key = wanted.get(_SSE_KEY, "")
        key_differs = bool(key_id and wanted_key and not wanted_key.startswith("alias/")
                           and not key_id.endswith(wanted_key))
        if algorithm != wanted[_SSE] or key_differs:
            seen = {_SSE: algorithm, _SSE_KEY: key_id}
            raise StoreNotEncrypted(
                "the object store did not confirm server-side encryption of the object it was sent; "
                "it was not locked, and the write failed", details={"key": key, "version_id": version_id,
                                                                     "wanted": wanted, "seen": seen})

    def lock(self, key: str, version_id: str, retain_until: datetime) -> None:
        """Lock a finished object until at least retain_until (keeping a longer lock) and confirm it by HEAD."""
        until = _lock_date(retain_until)
        current = self.stat(key, version_id)
        if current.retain_until is not None and current.retain_until >= until:
            return
        if current.retain_until is None:
            self._lock_new(key, version_id, until, legal_hold=current.legal_hold)
        else:
            self.set_retention(key, version_id, until)

    def local_path(self, key: str, version_id: str) -> None:
        """Return None: objects live in the bucket."""
        return None

    def list_versions(self, *, since: datetime | None = None) -> Iterator[StoredVersion]:
        """Yield the object versions under both areas' prefixes (only the days from `since` on, if given)."""
        prefixes = list(self._prefixes.values())
        if since is not None:
            days = (_utcnow().date() - since.astimezone(UTC).date()).days
            prefixes = [f"{area_prefix}{since.astimezone(UTC).date() + timedelta(days=n):%Y/%m/%d}/"
                        for area_prefix in self._prefixes.values() for n in range(max(days, 0) + 1)]
        with _translated("list the bucket", bucket=self.bucket):
            for prefix in prefixes:
                for item in self._client.list_objects(self.bucket, prefix=prefix, recursive=True,
                                                      include_version=True):
                    if item.is_delete_marker or item.object_name is None or not item.version_id:
                        continue
                    modified = item.last_modified or self._clock()
                    if since is None or modified >= since:
                        yield StoredVersion(key=item.object_name, version_id=item.version_id, size=item.size or 0,
                                            modified=modified)

    def abort_incomplete(self, *, older_than: datetime) -> int:
        """Abort multipart uploads under both areas' prefixes that began before older_than; their parts are freed."""
        aborted = 0
        with _translated("list incomplete uploads", bucket=self.bucket):
            for prefix in self._prefixes.values():
                # minio offers no public call for these two S3 operations; both are plain, stable S3 API calls.
                listing = self._client._list_multipart_uploads(self.bucket, prefix=prefix, max_uploads=1000)
                for upload in listing.uploads:
                    started = upload.initiated_time
                    if started is not None and started < older_than and upload.object_name and upload.upload_id:
                        self._client._abort_multipart_upload(self.bucket, upload.object_name, upload.upload_id)
                        aborted += 1
        return aborted

    def _mode_of(self, key: str) -> LockMode:
        # A derived file can be made again from its original: GOVERNANCE, never a COMPLIANCE lock.
        return DERIVATIVE_LOCK_MODE if key.startswith(DERIVATIVES_PREFIX) else self._lock_mode

    def _lock_new(self, key: str, version_id: str, until: datetime, *, legal_hold: bool = False) -> None:
        # Lock headers sent with a multipart upload are dropped silently, so lock the version afterwards.
        if until <= self._clock():
            raise InvalidInput("retain_until passed during the upload, before the object could be locked",
                               details={"retain_until": until.isoformat()})
        mode = self._mode_of(key)
        with _translated("lock the new object", key=key, version_id=version_id):
            self._client.set_object_retention(self.bucket, key, Retention(mode.value, until), version_id=version_id)
            if not legal_hold:
                self._client.disable_object_legal_hold(self.bucket, key, version_id=version_id)
        headers, _ = self._head(key, version_id)
        seen = {name: headers.get(name) for name in (_MODE, _RETAIN_UNTIL, _LEGAL_HOLD)}
        retain = seen[_RETAIN_UNTIL]
        if seen[_MODE] != mode.value or retain is None or _parse_date(retain) != until \
                or seen[_LEGAL_HOLD] != ("ON" if legal_hold else "OFF"):
            raise StorageError("the object store did not confirm the lock on the new object",
                               details={"key": key, "version_id": version_id, "wanted": until.isoformat(), **seen})

    def _discard(self, key: str, version_id: str) -> None:
        """Remove a rejected, still unlocked upload; never mask the error that caused it (the reconciler
        removes what a failure here leaves)."""
        try:
            with _translated("discard the rejected upload", key=key, version_id=version_id):
                self._client.remove_object(self.bucket, key, version_id=version_id)
        except VaultError as exc:
            log.error("storage.s3.discard_failed", key=key, version_id=version_id, error=exc.message)

    def open_range(self, key: str, version_id: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Open the bytes [start, end] (inclusive, like HTTP ranges) of a stored object and return them in chunks.

        The request is sent and the first chunk read before this returns: an outage or a missing object raises here.
        """
        if start < 0 or (end is not None and end < start):
            raise InvalidInput("invalid byte range", details={"start": start, "end": end})
        length = 0 if end is None else end - start + 1
        with _translated("read the object", key=key, version_id=version_id):
            response = self._client.get_object(self.bucket, key, offset=start, length=length,
                                               version_id=_required(version_id))
        return PrimedStream(_chunks(response, key, version_id))

    def _head(self, key: str, version_id: str) -> tuple[dict[str, str], int]:
        with _translated("read the object's metadata", key=key, version_id=version_id):
            obj = self._client.stat_object(self.bucket, key, version_id=_required(version_id))
        headers = {name.lower(): value for name, value in (obj.metadata or {}).items()}
        return headers, obj.size or 0

    def stat(self, key: str, version_id: str) -> BlobStat:
        """Return size, retain-until and legal hold as the store enforces them; NotFound if absent."""
        headers, size = self._head(key, version_id)
        retain = headers.get(_RETAIN_UNTIL)
        mode = headers.get(_MODE)
        return BlobStat(
            key=key,
            version_id=version_id,
            size=size,
            retain_until=_parse_date(retain) if retain else None,
            legal_hold=headers.get(_LEGAL_HOLD, "OFF").upper() == "ON",
            lock_mode=LockMode(mode) if mode is not None and mode in LockMode.__members__ else None,
        )

    def set_retention(self, key: str, version_id: str, retain_until: datetime) -> None:
        """Extend the store's retention; raise RetentionShortening if it would shorten it."""
        until = _lock_date(retain_until)
        current = self.stat(key, version_id)
        if current.retain_until is not None:
            if until < current.retain_until:
                raise RetentionShortening(
                    f"retention of {key} runs until {current.retain_until.isoformat()}; it cannot be shortened",
                    details={"current": current.retain_until.isoformat(), "requested": until.isoformat()},
                )
            if until == current.retain_until:
                return
        if until <= self._clock():
            raise InvalidInput("retain_until must be in the future", details={"retain_until": until.isoformat()})
        # Keep the object's own mode: COMPLIANCE can never be downgraded, GOVERNANCE stays as chosen.
        mode = current.lock_mode or self._mode_of(key)
        with _translated("change retention of", refused=RetentionShortening, key=key, version_id=version_id):
            self._client.set_object_retention(self.bucket, key, Retention(mode.value, until), version_id=version_id)

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> None:
        """Place or release a legal hold on the object."""
        with _translated("change the legal hold of", key=key, version_id=version_id):
            if on:
                self._client.enable_object_legal_hold(self.bucket, key, version_id=_required(version_id))
            else:
                self._client.disable_object_legal_hold(self.bucket, key, version_id=_required(version_id))

    def delete(self, key: str, version_id: str) -> None:
        """Delete the object version; raise ObjectLocked while retention runs or a hold is on."""
        self._head(key, version_id)  # S3 reports success for a missing version; callers want NotFound
        with _translated("delete", refused=ObjectLocked, key=key, version_id=version_id):
            self._client.remove_object(self.bucket, key, version_id=version_id)

    def presign_get(self, key: str, version_id: str, *, expires_seconds: int, signed_at: datetime | None = None,
                    public: bool = False) -> str | None:
        """Return a GET URL for this version signed at signed_at (whole seconds), valid at most MAX_PRESIGN_SECONDS.

        A public link names the public endpoint, if one is set; others (the vault's own jobs) the internal one.
        """
        seconds = max(1, min(expires_seconds, MAX_PRESIGN_SECONDS))
        with _translated("presign a download of", key=key, version_id=version_id):
            return (self._link_signer() if public else self._client).presigned_get_object(
                self.bucket, key, expires=timedelta(seconds=seconds), version_id=_required(version_id),
                request_date=None if signed_at is None else signed_at.astimezone(UTC))

    def _link_signer(self) -> Minio:
        """Return a client signing for the public endpoint; it never sends a request (the region is given)."""
        if self._signer is None:
            assert self._public is not None
            region = self._region or self._client._get_region(self.bucket)  # asks the internal endpoint once
            host, https = self._public
            self._signer = Minio(host, access_key=self._credentials[0], secret_key=self._credentials[1],
                                 secure=https, region=region)
        return self._signer

    def check(self) -> None:
        """Raise StorageError if the endpoint is unreachable or the bucket is missing."""
        with _translated("reach the bucket", bucket=self.bucket):
            exists = self._client.bucket_exists(self.bucket)
        if not exists:
            raise StorageError(f"bucket {self.bucket} does not exist; `evault init` creates it with Object Lock",
                               details={"bucket": self.bucket})

    def write_anchor(self, name: str, data: bytes, *, retain_until: datetime) -> StoredAnchor:
        """Put data under name in one request carrying its lock (single PUTs keep lock headers); confirm by HEAD."""
        for existing in self.list_anchors(name):
            if existing.name == name:
                if existing.data != data:
                    raise Conflict(f"anchor {name} already holds different content", details={"name": name})
                return existing
        until = _lock_date(retain_until)
        with _translated("write the anchor", key=name):
            result = self._client.put_object(self.bucket, name, io.BytesIO(data), len(data),
                                             content_type="text/plain; charset=utf-8", sse=self._sse,
                                             retention=Retention(self._lock_mode.value, until))
        version_id = _required(result.version_id or "")
        headers, _ = self._head(name, version_id)
        self._confirm_encrypted(name, version_id, headers)  # locked already: a failure here is only reported
        if headers.get(_MODE) != self._lock_mode.value:
            raise StorageError("the object store did not confirm the lock on the anchor",
                               details={"name": name, "version_id": version_id})
        return StoredAnchor(name=name, version_id=version_id, location=self._location(name, version_id), data=data)

    def list_anchors(self, prefix: str, *, limit: int | None = None) -> Iterator[StoredAnchor]:
        """Yield every version of each anchor under prefix, in ascending name order, read back.

        Anchors are small and many (one per commit), so they are read a batch at a time, several at once.
        """
        with _translated("list the anchors", bucket=self.bucket, prefix=prefix):
            items = self._client.list_objects(self.bucket, prefix=prefix, recursive=True, include_version=True)
            versions: Iterator[tuple[str, str]] = (
                (item.object_name, item.version_id) for item in items
                if not item.is_delete_marker and item.object_name is not None and item.version_id)
            versions = itertools.islice(versions, limit)
            with ThreadPoolExecutor(max_workers=ANCHOR_READERS) as pool:
                while batch := list(itertools.islice(versions, ANCHOR_BATCH)):
                    yield from pool.map(self._read_anchor, batch)

    def _read_anchor(self, version: tuple[str, str]) -> StoredAnchor:
        name, version_id = version
        with _translated("read the anchor", key=name, version_id=version_id):
            response = self._client.get_object(self.bucket, name, version_id=version_id)
            try:
                data = response.read()
            finally:
                response.close()
                response.release_conn()
        return StoredAnchor(name=name, version_id=version_id, location=self._location(name, version_id), data=data)

    def _location(self, name: str, version_id: str) -> str:
        return f"s3://{self.bucket}/{name}?versionId={version_id}"


def _abort_multipart_rule(days: int) -> Rule:
    return Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id=ABORT_MULTIPART_RULE,
                abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(days_after_initiation=days))


def _is_abort_rule(rule: Rule, days: int) -> bool:
    """Say whether rule is the vault's abort-incomplete-multipart rule for every key, with these days."""
    found = rule.abort_incomplete_multipart_upload
    return (rule.rule_id == ABORT_MULTIPART_RULE and rule.status == ENABLED and found is not None
            and found.days_after_initiation == days and _rule_prefixes(rule) in (None, [""]))


def _rule_prefixes(rule: Rule) -> list[str] | None:
    """Return the key prefixes a rule is limited to; None when it could reach any key (no filter, or tags only)."""
    found = rule.rule_filter
    if found is None:
        return None
    prefix = found.and_operator.prefix if found.and_operator is not None else found.prefix
    return None if prefix is None else [prefix]


def _could_expire(rule: Rule, evidence_prefix: str) -> bool:
    """Say whether an enabled rule expires, deletes or transitions objects under the evidence prefix."""
    if rule.status != ENABLED:
        return False
    acts = (rule.expiration, rule.noncurrent_version_expiration, rule.transition, rule.noncurrent_version_transition)
    if not any(action is not None for action in acts):
        return False  # abort-incomplete-multipart only: it removes parts, never a stored object
    prefixes = _rule_prefixes(rule)
    return prefixes is None or any(evidence_prefix.startswith(p) or p.startswith(evidence_prefix) for p in prefixes)


def _chunks(response: BaseHTTPResponse, key: str, version_id: str) -> Generator[bytes, None, None]:
    try:
        with _translated("read the object", key=key, version_id=version_id):
            yield from response.stream(CHUNK_SIZE)
    finally:
        response.close()
        response.release_conn()


def part_size_for(size: int | None) -> int:
    """Return PART_SIZE, or a larger whole number of MiB when an upload of `size` would need more than MAX_PARTS."""
    mib = 1024 * 1024
    needed = -(-(size or 0) // MAX_PARTS)
    return max(PART_SIZE, -(-needed // mib) * mib)


def _required(version_id: str) -> str:
    # minio silently drops an empty version id and would act on the latest version instead.
    if not version_id:
        raise NotFound("a stored object is always addressed by its version id", details={"version_id": version_id})
    return version_id


class S3PendingBlob:
    """One unlocked upload to the bucket: chunks go through a ChunkQueue to put_object on its own thread."""

    def __init__(self, store: S3BlobStore, *, content_type: str, max_size: int | None, length: int | None,
                 source: FileSource | None, prefix: str) -> None:
        # A day in the key lets the reconciler list only the days it looks back over.
        self.key = f"{prefix}{_utcnow():%Y/%m/%d}/{uuid.uuid4().hex}"
        self._store = store
        self._content_type = content_type
        self._max_size = max_size
        self._length = length
        self._source = source
        self._queue: ChunkQueue | None = None
        self._thread: threading.Thread | None = None
        self._reader: _PartReader | None = None
        self._hashing: HashingReader | None = None
        self._version_id: str | None = None
        self._error: BaseException | None = None
        self._written = 0
        self._blob: StoredBlob | None = None

    @property
    def offset(self) -> int:
        """How many bytes were handed to this upload."""
        return self._written

    @property
    def usable(self) -> bool:
        """True while the upload still takes bytes."""
        return self._blob is None and self._error is None and (self._queue is None or self._queue.usable)

    def write(self, chunks: Sequence[bytes]) -> None:
        """Hand chunks to the upload thread (blocking while its buffer is full)."""
        if self._source is not None or self._blob is not None:
            raise StorageError("this write takes no more bytes")
        check_limits(self._written + sum(len(c) for c in chunks), max_size=self._max_size, length=self._length)
        if self._queue is None:
            # Room for one part beyond the one being read: the body keeps arriving while a part waits for a slot.
            self._queue = ChunkQueue(max_buffered=2 * part_size_for(self._length or self._max_size))
            self._thread = threading.Thread(target=self._upload, args=(self._queue,), daemon=True,
                                            name=f"s3-upload {self.key}")
            self._thread.start()
        self._queue.push(chunks)
        self._written += sum(len(c) for c in chunks)

    def _upload(self, stream: ChunkQueue | BinaryIO) -> None:
        self._hashing = HashingReader(cast(BinaryIO, stream), max_size=self._max_size)
        self._reader = _PartReader(self._hashing)
        try:
            self._version_id = self._store.upload_unlocked(self.key, self._reader, length=self._length,
                                                           max_size=self._max_size, content_type=self._content_type)
        except BaseException as exc:  # raised in finish(), in the caller's thread
            self._error = exc
        finally:
            if isinstance(stream, ChunkQueue):
                stream.consumer_done()

    def finish(self, *, expected_sha256: str | None = None) -> StoredBlob:
        """End the stream, wait for the upload and check length and digest; nothing is locked yet."""
        try:
            self._complete()
            assert self._hashing is not None and self._version_id is not None
            blob = StoredBlob(key=self.key, version_id=self._version_id, size=self._hashing.size,
                              sha256=self._hashing.hexdigest())
            verify_length(blob.size, self._length)
            verify_expected(blob.sha256, expected_sha256)
        except BaseException:
            self.discard()
            raise
        self._blob = blob
        return blob

    def _complete(self) -> None:
        if self._source is not None:
            with self._source.path.open("rb") as handle:
                self._upload(handle)
                self._check_upload()
            return
        if self._queue is None:
            self.write([])  # an empty stream still starts (and fails) an upload
        assert self._queue is not None and self._thread is not None
        self._queue.end()
        self._thread.join()
        self._check_upload()

    def _check_upload(self) -> None:
        reader, hashing = self._reader, self._hashing
        assert reader is not None and hashing is not None
        if self._error is not None:
            if reader.error is not None:  # minio aborted because the stream failed: report why it failed
                raise reader.error from None
            if reader.exhausted:  # minio refuses a stream that ends before the declared length
                verify_length(hashing.size, self._length)
            raise self._error
        if self._length is not None and reader.read(1):  # minio stops at the declared length
            raise LengthMismatch(f"the stream ran past its declared length of {self._length} bytes; "
                                 "nothing was stored", details={"declared": self._length})
        if reader.error is not None:
            raise reader.error

    def lock(self, retain_until: datetime) -> StoredBlob:
        """Lock the finished version (in its area's mode) and confirm it by HEAD."""
        if self._blob is None:
            raise StorageError("finish the upload before locking it")
        self._store._lock_new(self._blob.key, self._blob.version_id, _lock_date(retain_until))
        log.info("storage.s3.stored", key=self.key, version_id=self._blob.version_id, size=self._blob.size,
                 sha256=self._blob.sha256, retain_until=retain_until.isoformat())
        return self._blob

    def discard(self) -> None:
        """Stop the upload and remove the unlocked version, if one was made."""
        if self._queue is not None:
            self._queue.abandon("the write was discarded")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self._version_id is not None:
            self._store._discard(self.key, self._version_id)
            self._version_id = None
