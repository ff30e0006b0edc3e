"""The blob store interface every backend implements, and the values it passes around."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import BinaryIO, Protocol

from vault.errors import ChecksumMismatch, LengthMismatch, TooLarge

CHUNK_SIZE = 1024 * 1024


class LockMode(StrEnum):
    """How strictly the store holds retention (S3 Object Lock modes)."""

    COMPLIANCE = "COMPLIANCE"
    GOVERNANCE = "GOVERNANCE"


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


Accept = Callable[[StoredBlob], None]
"""A last verdict on stored, hashed bytes before the store locks them; raising discards them."""


class BlobStore(Protocol):
    """Write-once object storage for originals and derived files."""

    name: str

    def put_stream(
        self,
        stream: BinaryIO,
        *,
        retain_until: datetime,
        expected_sha256: str | None = None,
        max_size: int | None = None,
        content_type: str = "application/octet-stream",
        accept: Accept | None = None,
        length: int | None = None,
    ) -> StoredBlob:
        """Store a stream write-once, hashing it in the same pass; lock it until retain_until.

        `accept`, if given, is called with the hashed blob before it is locked; whatever it raises
        propagates and leaves nothing behind, as do ChecksumMismatch, TooLarge and LengthMismatch (the
        stream was shorter or longer than a declared `length`).
        """
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

    def presign_get(self, key: str, version_id: str, *, expires_seconds: int) -> str | None:
        """Return a short-lived direct URL, or None if the backend cannot serve one."""
        ...

    def check(self) -> None:
        """Raise StorageError if the store cannot be reached."""
        ...


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
