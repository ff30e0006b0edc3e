"""How an upload's bytes reach the store: rename a staged file, stream it, or finish a pipe that ran alongside."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from vault.storage.base import Accept, BlobStore, StoredBlob
from vault.storage.local import LocalBlobStore
from vault.storage.pipe import PipeBroken, StorePipe

log = structlog.get_logger(__name__)

Put = Callable[[datetime, str, Accept], StoredBlob]
"""Store an upload locked until the date, with the media type, once the verdict accepts the hashed bytes."""


@dataclass(frozen=True)
class StagedFile:
    """Bytes received in full, with the SHA-256 computed while they arrived (None: the store computes it)."""

    path: Path
    sha256: str | None
    size: int


def streams_while_receiving(store: BlobStore) -> bool:
    """True for stores across the network, where uploading alongside the receive halves the time taken."""
    return not isinstance(store, LocalBlobStore)


def staged_put(store: BlobStore, staged: StagedFile) -> Put:
    """Store a staged file: by rename into the local store (written once), else by streaming it over."""

    def put(retain_until: datetime, content_type: str, accept: Accept) -> StoredBlob:
        if isinstance(store, LocalBlobStore) and staged.sha256 is not None:
            return store.adopt_file(staged.path, sha256=staged.sha256, size=staged.size, retain_until=retain_until,
                                    accept=accept)
        with staged.path.open("rb") as handle:
            return store.put_stream(handle, retain_until=retain_until, expected_sha256=staged.sha256,
                                    content_type=content_type, accept=accept, length=staged.size)

    return put


def piped_put(store: BlobStore, pipe: StorePipe | None, staged: StagedFile) -> Put:
    """Finish the pipe that streamed the upload while it arrived; if it broke off, store the staged copy."""
    fallback = staged_put(store, staged)

    def put(retain_until: datetime, content_type: str, accept: Accept) -> StoredBlob:
        if pipe is None:
            return fallback(retain_until, content_type, accept)

        def same_bytes_then(blob: StoredBlob) -> None:
            if blob.size != staged.size or staged.sha256 not in (None, blob.sha256):
                raise PipeBroken("the piped copy differs from the staged bytes",
                                 details={"piped": [blob.sha256, blob.size], "staged": [staged.sha256, staged.size]})
            accept(blob)

        try:
            blob = pipe.finish(same_bytes_then)
        except PipeBroken as broken:
            log.warning("ingest.pipe_broken", reason=broken.message, path=staged.path.name)
            return fallback(retain_until, content_type, accept)
        if pipe.retain_until < retain_until:  # the pipe began before this upload's last bytes arrived
            store.set_retention(blob.key, blob.version_id, retain_until)
        return blob

    return put
