"""Server-side encryption on Ceph RGW: every object the vault writes is encrypted, and HEAD must say so."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from minio import Minio
from pydantic import SecretStr, ValidationError

from tests.vault.storage.conftest import S3_ACCESS_KEY, S3_ENDPOINT, S3_SECRET_KEY, fresh_bucket_name
from vault.config import Settings
from vault.errors import StorageError, StoreNotEncrypted
from vault.storage.base import LockMode, StoreArea
from vault.storage.factory import prepare_blob_store
from vault.storage.s3 import PART_SIZE, S3BlobStore, SseMode

KMS_KEY_ID = os.environ.get("EVAULT_TEST_S3_KMS_KEY_ID", "")

pytestmark = [
    pytest.mark.s3,
    pytest.mark.skipif(not (S3_ENDPOINT and KMS_KEY_ID),
                       reason="needs Ceph RGW with a KMS test key: scripts/ceph-rgw.sh start DIR PORT"),
]


def _store(sse: SseMode, kms_key_id: str = "") -> S3BlobStore:
    store = S3BlobStore(endpoint=S3_ENDPOINT or "", access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY,
                        bucket=fresh_bucket_name(), lock_mode=LockMode.GOVERNANCE, sse=sse, kms_key_id=kms_key_id)
    store.ensure_bucket()
    return store


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


def _versions(client: Minio, bucket: str) -> list[str]:
    listed = client.list_objects(bucket, recursive=True, include_version=True)
    return [f"{o.object_name}@{o.version_id}" for o in listed]


@pytest.fixture
def client() -> Minio:
    """Return a raw client, to read what the server itself reports."""
    return Minio(S3_ENDPOINT or "", S3_ACCESS_KEY, S3_SECRET_KEY, secure=False)


def test_originals_derivatives_and_anchors_are_written_with_sse_kms(client: Minio) -> None:
    store = _store("kms", KMS_KEY_ID)
    small = store.put_stream(io.BytesIO(b"one request"), retain_until=_later())
    large_bytes = os.urandom(2 * PART_SIZE + 12345)  # several parts: the multipart path
    large = store.put_stream(io.BytesIO(large_bytes), retain_until=_later())
    pending = store.begin_put(area=StoreArea.DERIVATIVES, content_type="image/jpeg")
    pending.write([b"thumbnail"])
    pending.finish()
    derived = pending.lock(_later())
    anchor = store.write_anchor("custody/anchors/000001", b"checkpoint", retain_until=_later())
    for key, version_id in [(small.key, small.version_id), (large.key, large.version_id),
                            (derived.key, derived.version_id), (anchor.name, anchor.version_id)]:
        headers = client.stat_object(store.bucket, key, version_id=version_id).metadata
        assert headers.get("x-amz-server-side-encryption") == "aws:kms", key
        assert headers.get("x-amz-server-side-encryption-aws-kms-key-id") == KMS_KEY_ID, key
    assert b"".join(store.open_range(large.key, large.version_id)) == large_bytes


def test_a_store_that_does_not_confirm_encryption_is_refused_and_left_clean(client: Minio) -> None:
    # RGW 16.2 has no SSE-S3: it takes `x-amz-server-side-encryption: AES256` and stores the object in clear.
    store = _store("s3")
    with pytest.raises(StoreNotEncrypted) as refused:
        store.put_stream(io.BytesIO(b"must not stay in clear"), retain_until=_later())
    assert refused.value.code == "storage_not_encrypted"
    assert refused.value.details["seen"]["x-amz-server-side-encryption"] is None
    assert _versions(client, store.bucket) == []  # the unlocked clear copy was removed, nothing was locked


def test_an_unknown_kms_key_is_refused_by_the_store() -> None:
    store = _store("kms", "no-such-key")
    with pytest.raises(StorageError) as refused:
        store.put_stream(io.BytesIO(b"x"), retain_until=_later())
    assert "kms" in str(refused.value.details.get("server_message", "")).lower()


def test_the_settings_reach_the_store(tmp_path: Path, client: Minio) -> None:
    settings = Settings(home=tmp_path, store="s3", s3_endpoint=S3_ENDPOINT or "", s3_access_key=S3_ACCESS_KEY,
                        s3_secret_key=SecretStr(S3_SECRET_KEY), s3_bucket=fresh_bucket_name(),
                        s3_lock_mode=LockMode.GOVERNANCE, s3_sse="kms", s3_kms_key_id=KMS_KEY_ID,
                        s3_public_endpoint="https://s3.agency.example")
    store = prepare_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    blob = store.put_stream(io.BytesIO(b"configured"), retain_until=_later())
    headers = client.stat_object(store.bucket, blob.key, version_id=blob.version_id).metadata
    assert headers.get("x-amz-server-side-encryption") == "aws:kms"
    url = store.presign_get(blob.key, blob.version_id, expires_seconds=60, public=True)
    assert url is not None and url.startswith(f"https://s3.agency.example/{store.bucket}/")


def test_sse_kms_needs_a_key_id(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="EVAULT_S3_KMS_KEY_ID"):
        Settings(home=tmp_path, store="s3", s3_access_key="k", s3_secret_key=SecretStr("a-real-secret"),
                 s3_sse="kms")
