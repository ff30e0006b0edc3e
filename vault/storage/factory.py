"""Build the configured blob store."""

from __future__ import annotations

from vault.config import Settings
from vault.storage.base import BlobStore
from vault.storage.local import LocalBlobStore


def make_blob_store(settings: Settings) -> BlobStore:
    """Return the store named by settings (local folder by default, S3 with Object Lock in production)."""
    if settings.store == "s3":
        from vault.storage.s3 import S3BlobStore

        return S3BlobStore(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            bucket=settings.s3_bucket,
            secure=settings.s3_secure,
            lock_mode=settings.s3_lock_mode,
        )
    return LocalBlobStore(settings.objects_dir)
