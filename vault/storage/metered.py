"""A blob store that counts its backend's failures by operation, for /metrics; it changes nothing else.

Only StorageError counts (the store failed or is unreachable): NotFound, ObjectLocked and the other refusals are
the store's answers, not its failures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from prometheus_client import Counter

from vault.errors import StorageError
from vault.storage.base import (
    BlobStat,
    BlobStore,
    FileSource,
    PendingBlob,
    StoreArea,
    StoredAnchor,
    StoredBlob,
    StoredVersion,
)

T = TypeVar("T")


class MeteredStore:
    """Delegate every call to the backend; count each StorageError under the operation that raised it."""

    def __init__(self, backend: BlobStore, errors: Counter) -> None:
        self.backend = backend
        self.name = backend.name
        self.capabilities = backend.capabilities
        self._errors = errors

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.backend, attribute)  # backend-specific helpers (the S3 bucket, the local root)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        # isinstance(store, LocalBlobStore) still tells the backend (as unittest.mock does for a spec), so code
        # and tests asking which backend they hold see through the counting.
        return type(self.backend)

    def _call(self, operation: str, function: Callable[[], T]) -> T:
        try:
            return function()
        except StorageError:
            self._errors.labels(operation=operation).inc()
            raise

    def _iterate(self, operation: str, chunks: Iterator[T]) -> Iterator[T]:
        try:
            yield from chunks
        except StorageError:
            self._errors.labels(operation=operation).inc()
            raise

    def begin_put(self, *, content_type: str = "application/octet-stream", max_size: int | None = None,
                  length: int | None = None, source: FileSource | None = None,
                  area: StoreArea = StoreArea.ORIGINALS) -> PendingBlob:
        """Start writing an object; its writes, finish and lock are counted too."""
        pending = self._call("begin_put", lambda: self.backend.begin_put(
            content_type=content_type, max_size=max_size, length=length, source=source, area=area))
        return _MeteredPending(pending, self)

    def put_stream(self, stream: BinaryIO, *, retain_until: datetime, expected_sha256: str | None = None,
                   max_size: int | None = None, content_type: str = "application/octet-stream",
                   length: int | None = None) -> StoredBlob:
        """Store a stream and lock it at once."""
        return self._call("put_stream", lambda: self.backend.put_stream(
            stream, retain_until=retain_until, expected_sha256=expected_sha256, max_size=max_size,
            content_type=content_type, length=length))

    def lock(self, key: str, version_id: str, retain_until: datetime) -> None:
        """Lock a finished object."""
        self._call("lock", lambda: self.backend.lock(key, version_id, retain_until))

    def open_range(self, key: str, version_id: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the bytes of a stored object; a failure while streaming counts as well."""
        chunks = self._call("open_range", lambda: self.backend.open_range(key, version_id, start=start, end=end))
        return self._iterate("open_range", chunks)

    def stat(self, key: str, version_id: str) -> BlobStat:
        """Return what the store enforces on an object."""
        return self._call("stat", lambda: self.backend.stat(key, version_id))

    def set_retention(self, key: str, version_id: str, retain_until: datetime) -> None:
        """Extend the store's retention."""
        self._call("set_retention", lambda: self.backend.set_retention(key, version_id, retain_until))

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> None:
        """Place or release a legal hold."""
        self._call("set_legal_hold", lambda: self.backend.set_legal_hold(key, version_id, on))

    def delete(self, key: str, version_id: str) -> None:
        """Delete an object the store lets go of."""
        self._call("delete", lambda: self.backend.delete(key, version_id))

    def presign_get(self, key: str, version_id: str, *, expires_seconds: int, signed_at: datetime | None = None,
                    public: bool = False) -> str | None:
        """Return a short-lived direct URL, or None."""
        return self._call("presign_get", lambda: self.backend.presign_get(
            key, version_id, expires_seconds=expires_seconds, signed_at=signed_at, public=public))

    def local_path(self, key: str, version_id: str) -> Path | None:
        """Return the stored file itself when objects are local files."""
        return self._call("local_path", lambda: self.backend.local_path(key, version_id))

    def list_versions(self, *, since: datetime | None = None) -> Iterator[StoredVersion]:
        """Yield every finished object version."""
        return self._iterate("list_versions", self._call("list_versions",
                                                         lambda: self.backend.list_versions(since=since)))

    def abort_incomplete(self, *, older_than: datetime) -> int:
        """Remove writes never finished."""
        return self._call("abort_incomplete", lambda: self.backend.abort_incomplete(older_than=older_than))

    def check(self) -> None:
        """Raise StorageError if the store cannot be reached."""
        self._call("check", self.backend.check)

    def write_anchor(self, name: str, data: bytes, *, retain_until: datetime) -> StoredAnchor:
        """Store a locked anchor."""
        return self._call("write_anchor", lambda: self.backend.write_anchor(name, data, retain_until=retain_until))

    def list_anchors(self, prefix: str, *, limit: int | None = None) -> Iterator[StoredAnchor]:
        """Yield the anchors under prefix."""
        return self._iterate("list_anchors", self._call("list_anchors",
                                                        lambda: self.backend.list_anchors(prefix, limit=limit)))


class _MeteredPending:
    """A write in progress whose failures count under put_write, put_finish and put_lock."""

    def __init__(self, pending: PendingBlob, store: MeteredStore) -> None:
        self.pending = pending
        self._store = store

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.pending, attribute)

    def write(self, chunks: Sequence[bytes]) -> None:
        self._store._call("put_write", lambda: self.pending.write(chunks))

    def finish(self, *, expected_sha256: str | None = None) -> StoredBlob:
        return self._store._call("put_finish", lambda: self.pending.finish(expected_sha256=expected_sha256))

    def lock(self, retain_until: datetime) -> StoredBlob:
        return self._store._call("put_lock", lambda: self.pending.lock(retain_until))

    def discard(self) -> None:
        self._store._call("put_discard", self.pending.discard)
