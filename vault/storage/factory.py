"""Build the configured blob store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vault.config import Settings
from vault.storage.base import BlobStore
from vault.storage.local import LocalBlobStore

if TYPE_CHECKING:
    from vault.storage.s3 import S3BlobStore


def _s3_store(settings: Settings) -> S3BlobStore:
    from vault.storage.s3 import S3BlobStore

    return S3BlobStore(
        endpoint=settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        bucket=settings.s3_bucket,
        secure=settings.s3_secure,
        lock_mode=settings.s3_lock_mode,
        timeout_seconds=settings.s3_timeout_seconds,
        public_endpoint=settings.s3_public_endpoint,
        sse=settings.s3_sse,
        kms_key_id=settings.s3_kms_key_id,
    )


def make_blob_store(settings: Settings) -> BlobStore:
    """Return the store named by settings (local folder by default, S3 with Object Lock in production)."""
    if settings.store == "s3":
        return _s3_store(settings)
    return LocalBlobStore(settings.objects_dir)


def prepare_blob_store(settings: Settings) -> BlobStore:
    """Return the configured store made ready (`evault init`): an S3 bucket is created with Object Lock, or checked.

    Raises StorageError, having changed nothing, for a bucket whose settings could let evidence expire.
    """
    if settings.store == "s3":
        store = _s3_store(settings)
        store.ensure_bucket(abort_multipart_days=settings.s3_abort_multipart_days)
        return store
    settings.objects_dir.mkdir(parents=True, exist_ok=True)
    return LocalBlobStore(settings.objects_dir)
