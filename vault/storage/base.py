"""The blob store interface every backend implements, and the values it passes around."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Protocol

from vault.errors import ChecksumMismatch, LengthMismatch, TooLarge

CHUNK_SIZE = 1024 * 1024


class LockMode(StrEnum):
    """How strictly the store holds retention (S3 Object Lock modes)."""

    COMPLIANCE = "COMPLIANCE"
    GOVERNANCE = "GOVERNANCE"


class StoreArea(StrEnum):
    """Where an object lives: originals (evidence, and retained export copies) or derived files.

    A derived file (thumbnail, proxy) can be made again from its original at any time, so it is kept apart,
    under its own key prefix, and locked in GOVERNANCE mode for a short time only (README, "Storage").
    """

    ORIGINALS = "originals"
    DERIVATIVES = "derivatives"


DERIVATIVES_PREFIX = "derivatives/"
DERIVATIVE_LOCK_MODE = LockMode.GOVERNANCE


def area_of(key: str) -> StoreArea:
    """Return the area a stored key belongs to (keys of derived files start with `derivatives/`)."""
    return StoreArea.DERIVATIVES if key.startswith(DERIVATIVES_PREFIX) else StoreArea.ORIGINALS


@dataclass(frozen=True)
class StoredBlob:
    """Where a stored original lives and what it is."""

    key: str
    version_id: str
    size: int
    sha256: str


@dataclass(frozen=True)
class BlobStat:
    """What the store itself says about an object: size and the lock it enforces."""

    key: str
    version_id: str
    size: int
    retain_until: datetime | None
    legal_hold: bool
    lock_mode: LockMode | None


@dataclass(frozen=True)
class StoreCapabilities:
    """What a backend can do, so that callers ask the store instead of checking its class."""

    presigned_links: bool  # serves short-lived direct URLs (presign_get returns one)
    server_side_locks: bool  # the server itself enforces retention and holds (S3 Object Lock)
    local_paths: bool  # objects are files on this host (local_path returns one; staged files are adopted)
    link_max_seconds: int = 0  # the longest a presigned link may live (the signer's cap); 0 without links


@dataclass(frozen=True)
class StoredVersion:
    """One object version as the store lists it, for reconciling the store with the catalog."""

    key: str
    version_id: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class StoredAnchor:
    """A small write-once, locked object outside the catalog (a signed custody checkpoint), as read back."""

    name: str
    version_id: str
    location: str  # where a person finds it: a file path, or s3://bucket/name?versionId=...
    data: bytes


@dataclass(frozen=True)
class FileSource:
    """A fully received, fsynced file to store as it is; sha256 is its digest if already computed."""

    path: Path
    size: int
    sha256: str | None = None


class PendingBlob(Protocol):
    """An object being written: bytes in, then finished (durable, hashed, unlocked), then locked or discarded.

    Between finish() and lock() the caller judges the bytes and commits its record; nothing is locked that
    no record refers to, and a crash in between leaves an unlocked object that the reconciler can remove.
    """

    def write(self, chunks: Sequence[bytes]) -> None:
        """Append chunks; raise TooLarge or LengthMismatch past the limit or the declared length."""
        ...

    def finish(self, *, expected_sha256: str | None = None) -> StoredBlob:
        """Make the bytes durable and return their digest; a mismatch discards them and raises."""
        ...

    def lock(self, retain_until: datetime) -> StoredBlob:
        """Lock the finished object until retain_until and confirm the lock."""
        ...

    def discard(self) -> None:
        """Remove the unlocked bytes (idempotent; never touches a locked object)."""
        ...


class BlobStore(Protocol):
    """Write-once object storage for originals and derived files."""

    name: str
    capabilities: StoreCapabilities

    def begin_put(
        self,
        *,
        content_type: str = "application/octet-stream",
        max_size: int | None = None,
        length: int | None = None,
        source: FileSource | None = None,
        area: StoreArea = StoreArea.ORIGINALS,
    ) -> PendingBlob:
        """Start writing an object (from chunks written to it, or from a whole file) in an area; nothing locked yet."""
        ...

    def put_stream(
        self,
        stream: BinaryIO,
        *,
        retain_until: datetime,
        expected_sha256: str | None = None,
        max_size: int | None = None,
        content_type: str = "application/octet-stream",
        length: int | None = None,
    ) -> StoredBlob:
        """Store a stream and lock it at once (for objects no catalog row must precede); see put_whole."""
        ...

    def lock(self, key: str, version_id: str, retain_until: datetime) -> None:
        """Lock a finished object until at least retain_until and confirm it (idempotent); its area names the mode."""
        ...

    def open_range(self, key: str, version_id: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the bytes [start, end] (inclusive, like HTTP ranges) of a stored object in chunks."""
        ...

    def stat(self, key: str, version_id: str) -> BlobStat:
        """Return size, retain-until and legal hold as the store enforces them; NotFound if absent."""
        ...

    def set_retention(self, key: str, version_id: str, retain_until: datetime) -> None:
        """Extend the store's retention; raise RetentionShortening if it would shorten it."""
        ...

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> None:
        """Place or release a legal hold on the object."""
        ...

    def delete(self, key: str, version_id: str) -> None:
        """Delete the object; raise ObjectLocked while retention runs or a hold is on."""
        ...

    def presign_get(self, key: str, version_id: str, *, expires_seconds: int, signed_at: datetime | None = None,
                    public: bool = False) -> str | None:
        """Return a short-lived direct URL (for clients outside if public), or None if the backend cannot serve one."""
        ...

    def local_path(self, key: str, version_id: str) -> Path | None:
        """Return the stored file itself (read-only) when objects are local files, else None."""
        ...

    def list_versions(self, *, since: datetime | None = None) -> Iterator[StoredVersion]:
        """Yield every finished object version of every area, locked or not (written since `since`, if given)."""
        ...

    def abort_incomplete(self, *, older_than: datetime) -> int:
        """Remove writes never finished that began before older_than (multipart parts, temp files); count them."""
        ...

    def check(self) -> None:
        """Raise StorageError if the store cannot be reached."""
        ...

    def write_anchor(self, name: str, data: bytes, *, retain_until: datetime) -> StoredAnchor:
        """Store data under name, locked until retain_until; the same bytes again are a no-op, others refused."""
        ...

    def list_anchors(self, prefix: str, *, limit: int | None = None) -> Iterator[StoredAnchor]:
        """Yield the anchors under prefix in ascending name order (every stored version of each), read back."""
        ...


@dataclass(frozen=True)
class LockAfterCommit:
    """A finished, unlocked write and the lock it gets once the catalog row naming it is committed."""

    pending: PendingBlob
    retain_until: datetime

    def apply(self) -> StoredBlob:
        """Lock the object now that its row is committed."""
        return self.pending.lock(self.retain_until)


def put_whole(
    store: BlobStore, stream: BinaryIO, *, retain_until: datetime, expected_sha256: str | None = None,
    max_size: int | None = None, content_type: str = "application/octet-stream", length: int | None = None,
) -> StoredBlob:
    """Write a whole stream through begin_put, then finish and lock it; any failure discards the bytes."""
    pending = store.begin_put(content_type=content_type, max_size=max_size, length=length)
    try:
        while chunk := stream.read(CHUNK_SIZE):
            pending.write([chunk])
        pending.finish(expected_sha256=expected_sha256)
        return pending.lock(retain_until)
    except BaseException:
        pending.discard()
        raise


class HashingReader:
    """Read a stream in fixed chunks, updating SHA-256 and the size limit in the same loop."""

    def __init__(self, stream: BinaryIO, *, max_size: int | None) -> None:
        self._stream = stream
        self._max_size = max_size
        self._sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n: int = CHUNK_SIZE) -> bytes:
        """Read up to n bytes, hashing and counting them."""
        chunk = self._stream.read(n if n and n > 0 else CHUNK_SIZE)
        if chunk:
            self.size += len(chunk)
            if self._max_size is not None and self.size > self._max_size:
                raise TooLarge(
                    f"upload exceeds the maximum size of {self._max_size} bytes", details={"max_size": self._max_size}
                )
            self._sha256.update(chunk)
        return chunk

    def hexdigest(self) -> str:
        """Return the SHA-256 of everything read so far."""
        return self._sha256.hexdigest()

    def digest(self) -> bytes:
        """Return the raw SHA-256 of everything read so far."""
        return self._sha256.digest()


def verify_length(actual: int, declared: int | None) -> None:
    """Refuse a stream whose size differs from the length declared for it."""
    if declared is not None and actual != declared:
        raise LengthMismatch(f"the stream held {actual} bytes, not the {declared} declared; nothing was stored",
                             details={"declared": declared, "received": actual})


def verify_expected(actual_sha256: str, expected_sha256: str | None) -> None:
    """Compare a computed digest with the declared one in constant time."""
    if expected_sha256 is not None and not hmac.compare_digest(actual_sha256, expected_sha256.lower()):
        raise ChecksumMismatch(
            "the received bytes do not match the declared SHA-256; nothing was stored",
            details={"declared": expected_sha256.lower(), "received": actual_sha256},
        )


def check_limits(size: int, *, max_size: int | None, length: int | None) -> None:
    """Refuse a write that takes an object past its size limit or its declared length."""
    if max_size is not None and size > max_size:
        raise TooLarge(f"upload exceeds the maximum size of {max_size} bytes", details={"max_size": max_size})
    if length is not None and size > length:
        raise LengthMismatch(f"the stream ran past its declared length of {length} bytes; nothing was stored",
                             details={"declared": length})
