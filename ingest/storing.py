"""How an upload's bytes reach the store: finish the write that ran while they arrived, or write the staged copy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog

from vault.errors import StorageError
from vault.storage.base import BlobStore, FileSource, PendingBlob, StoredBlob

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StagedFile:
    """Bytes received in full, with the SHA-256 computed while they arrived (None: the store computes it)."""

    path: Path
    size: int
    sha256: str | None = None


def streams_while_receiving(store: BlobStore) -> bool:
    """True for stores across the network, where uploading alongside the receive halves the time taken.

    A store of local files instead takes the staged file as it is (a link, no second copy).
    """
    return not store.capabilities.local_paths


def finish_write(
    store: BlobStore, staged: StagedFile, *, piped: PendingBlob | None, content_type: str, expected_sha256: str | None,
) -> tuple[PendingBlob, StoredBlob]:
    """Finish the write that streamed the upload while it arrived; if it broke off, write the staged copy.

    Nothing is locked: the caller judges the bytes, commits its record, and only then locks them.
    """
    if piped is not None:
        try:
            blob = piped.finish(expected_sha256=expected_sha256)
            if blob.size == staged.size and staged.sha256 in (None, blob.sha256):
                return piped, blob
            piped.discard()
            log.warning("ingest.pipe_differs", path=staged.path.name, piped=[blob.sha256, blob.size],
                        staged=[staged.sha256, staged.size])
        except StorageError as broken:  # a broken pipe or a store hiccup: the staged copy is still whole
            log.warning("ingest.pipe_broken", reason=broken.message, path=staged.path.name)
    pending = store.begin_put(content_type=content_type, length=staged.size,
                              source=FileSource(staged.path, staged.size, staged.sha256))
    return pending, pending.finish(expected_sha256=expected_sha256)
