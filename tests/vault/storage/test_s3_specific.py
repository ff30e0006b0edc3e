"""What only the S3 backend does, checked against a real Ceph RGW: the server, not our code, must hold the lock."""

from __future__ import annotations

import hashlib
import io
import os
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, GOVERNANCE
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.retention import Retention

from tests.vault.storage.conftest import S3StoreFactory, fresh_bucket_name
from vault.errors import (
    ChecksumMismatch,
    InvalidInput,
    NotFound,
    ObjectLocked,
    RetentionShortening,
    StorageError,
    TooLarge,
)
from vault.storage.base import LockMode, StoreArea
from vault.storage.s3 import MAX_PARTS, MAX_PRESIGN_SECONDS, PART_SIZE, S3BlobStore, part_size_for

pytestmark = pytest.mark.s3


def in_seconds(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def read_all(store: S3BlobStore, key: str, version_id: str, **kwargs: int) -> bytes:
    return b"".join(store.open_range(key, version_id, **kwargs))


def all_versions(client: Minio, bucket: str) -> list[tuple[str, str | None, bool]]:
    return [(obj.object_name or "", obj.version_id, obj.is_delete_marker)
            for obj in client.list_objects(bucket, recursive=True, include_version=True)]


def test_locked_original_can_be_neither_deleted_nor_overwritten(
    s3_store_factory: S3StoreFactory, s3_client: Minio
) -> None:
    store = s3_store_factory()
    first = store.put_stream(io.BytesIO(b"original"), retain_until=in_seconds(3600))

    with pytest.raises(ObjectLocked):
        store.delete(first.key, first.version_id)
    with pytest.raises(S3Error) as refused:
        s3_client.remove_object(store.bucket, first.key, version_id=first.version_id)
    assert refused.value.code == "AccessDenied"

    second = store.put_stream(io.BytesIO(b"original"), retain_until=in_seconds(3600))
    assert second.key != first.key
    # Even a raw PUT on the same key only stacks a new version on top of the locked one.
    s3_client.put_object(store.bucket, first.key, io.BytesIO(b"forged"), 6)
    assert read_all(store, first.key, first.version_id) == b"original"
    assert store.stat(first.key, first.version_id).lock_mode is LockMode.COMPLIANCE


def test_retention_extends_and_the_server_refuses_to_shorten_it(
    s3_store_factory: S3StoreFactory, s3_client: Minio
) -> None:
    store = s3_store_factory()
    blob = store.put_stream(io.BytesIO(b"retained"), retain_until=in_seconds(3600))
    later = in_seconds(86400).replace(microsecond=0)

    store.set_retention(blob.key, blob.version_id, later)
    store.set_retention(blob.key, blob.version_id, later)  # the same date again is a no-op
    assert store.stat(blob.key, blob.version_id).retain_until == later
    with pytest.raises(RetentionShortening):
        store.set_retention(blob.key, blob.version_id, in_seconds(7200))

    # Past our own check, straight to the server: it must refuse both shortening and downgrading.
    with pytest.raises(S3Error) as shortened:
        s3_client.set_object_retention(store.bucket, blob.key, Retention(COMPLIANCE, in_seconds(7200)),
                                       version_id=blob.version_id)
    assert shortened.value.code == "AccessDenied"
    with pytest.raises(S3Error) as downgraded:
        s3_client.set_object_retention(store.bucket, blob.key, Retention(GOVERNANCE, later + timedelta(days=1)),
                                       version_id=blob.version_id)
    assert downgraded.value.code == "AccessDenied"
    stat = store.stat(blob.key, blob.version_id)
    assert (stat.retain_until, stat.lock_mode) == (later, LockMode.COMPLIANCE)


def test_legal_hold_blocks_deletion_after_retention_until_released(
    s3_store_factory: S3StoreFactory, s3_client: Minio
) -> None:
    store = s3_store_factory(lock_mode=LockMode.GOVERNANCE)
    until = in_seconds(2)
    blob = store.put_stream(io.BytesIO(b"held"), retain_until=until)
    store.set_legal_hold(blob.key, blob.version_id, True)
    assert store.stat(blob.key, blob.version_id).legal_hold is True

    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1)
    with pytest.raises(ObjectLocked):
        store.delete(blob.key, blob.version_id)
    with pytest.raises(S3Error) as refused:
        s3_client.remove_object(store.bucket, blob.key, version_id=blob.version_id)
    assert refused.value.code == "AccessDenied"

    store.set_legal_hold(blob.key, blob.version_id, False)
    store.delete(blob.key, blob.version_id)
    with pytest.raises(NotFound):
        store.stat(blob.key, blob.version_id)
    assert all_versions(s3_client, store.bucket) == []


def test_multipart_upload_is_locked_afterwards_and_head_confirms_it(
    s3_store_factory: S3StoreFactory, s3_client: Minio
) -> None:
    store = s3_store_factory()
    data = os.urandom(PART_SIZE + 3 * 1024 * 1024 + 123)
    until = in_seconds(3600).replace(microsecond=123_456)

    blob = store.put_stream(io.BytesIO(data), retain_until=until, expected_sha256=hashlib.sha256(data).hexdigest())

    head = s3_client.stat_object(store.bucket, blob.key, version_id=blob.version_id)
    headers = head.metadata or {}
    assert (head.etag or "").endswith("-2")  # a two-part multipart upload, whose lock headers RGW drops
    assert headers["x-amz-object-lock-mode"] == "COMPLIANCE"
    assert headers["x-amz-object-lock-retain-until-date"].startswith(until.strftime("%Y-%m-%dT%H:%M:%S.124"))
    assert headers["x-amz-object-lock-legal-hold"] == "OFF"
    stat = store.stat(blob.key, blob.version_id)
    assert stat.size == len(data) == blob.size
    assert stat.retain_until == until.replace(microsecond=124_000)  # rounded up, never down
    assert hashlib.sha256(read_all(store, blob.key, blob.version_id)).hexdigest() == blob.sha256
    assert read_all(store, blob.key, blob.version_id, start=PART_SIZE - 5, end=PART_SIZE + 4) == \
        data[PART_SIZE - 5:PART_SIZE + 5]


def test_wrong_declared_sha256_leaves_no_version_behind(s3_store_factory: S3StoreFactory, s3_client: Minio) -> None:
    store = s3_store_factory()
    data = os.urandom(PART_SIZE + 1024)

    with pytest.raises(ChecksumMismatch):
        store.put_stream(io.BytesIO(data), retain_until=in_seconds(3600), expected_sha256="0" * 64)
    with pytest.raises(ChecksumMismatch):
        store.put_stream(io.BytesIO(b"small"), retain_until=in_seconds(3600), expected_sha256="0" * 64)

    assert all_versions(s3_client, store.bucket) == []


def test_oversize_multipart_stream_leaves_no_version_behind(
    s3_store_factory: S3StoreFactory, s3_client: Minio
) -> None:
    store = s3_store_factory()
    with pytest.raises(TooLarge):
        store.put_stream(io.BytesIO(os.urandom(2 * PART_SIZE + 10)), retain_until=in_seconds(3600),
                         max_size=PART_SIZE + 10)
    assert all_versions(s3_client, store.bucket) == []


def test_retention_that_lapses_during_the_upload_leaves_nothing(
    s3_store_factory: S3StoreFactory, s3_client: Minio
) -> None:
    start = datetime.now(UTC)
    ticks = iter([start, start + timedelta(hours=2)])  # the upload "takes" two hours
    store = s3_store_factory(clock=lambda: next(ticks))
    with pytest.raises(InvalidInput, match="during the upload"):
        store.put_stream(io.BytesIO(b"slow upload"), retain_until=start + timedelta(hours=1))
    assert all_versions(s3_client, store.bucket) == []


def test_presigned_url_works_until_it_expires_and_only_with_its_signature(
    s3_store_factory: S3StoreFactory,
) -> None:
    store = s3_store_factory()
    blob = store.put_stream(io.BytesIO(b"shared evidence"), retain_until=in_seconds(3600))
    url = store.presign_get(blob.key, blob.version_id, expires_seconds=2)
    assert url is not None
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    tampered = url.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])

    ok = urllib3.request("GET", url)
    assert (ok.status, ok.data) == (200, b"shared evidence")
    assert urllib3.request("GET", tampered).status == 403
    time.sleep(3)
    assert urllib3.request("GET", url).status == 403


def test_presigned_urls_are_capped(s3_store_factory: S3StoreFactory) -> None:
    store = s3_store_factory()
    blob = store.put_stream(io.BytesIO(b"capped"), retain_until=in_seconds(3600))
    url = store.presign_get(blob.key, blob.version_id, expires_seconds=86400)
    assert url is not None
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == [str(MAX_PRESIGN_SECONDS)]


def test_existing_bucket_without_object_lock_is_refused(
    s3_store_factory: S3StoreFactory, s3_client: Minio
) -> None:
    bucket = fresh_bucket_name()
    s3_client.make_bucket(bucket)
    with pytest.raises(StorageError, match="without Object Lock"):
        s3_store_factory(bucket=bucket)


def test_check_reports_a_missing_bucket(s3_store_factory: S3StoreFactory) -> None:
    store = s3_store_factory(ensure=False)
    with pytest.raises(StorageError, match="does not exist"):
        store.check()
    store.ensure_bucket()
    store.ensure_bucket()  # idempotent on a bucket it created
    store.check()


def test_unreachable_endpoint_fails_fast_with_storage_error() -> None:
    store = S3BlobStore(endpoint="127.0.0.1:1", access_key="evaultci", secret_key="evaultci-secret-key",
                        bucket=fresh_bucket_name())
    started = time.monotonic()
    with pytest.raises(StorageError):
        store.check()
    with pytest.raises(StorageError):
        store.put_stream(io.BytesIO(b"nowhere"), retain_until=in_seconds(60))
    assert time.monotonic() - started < 5


def test_parts_grow_only_when_an_upload_would_exceed_the_s3_part_limit() -> None:
    assert part_size_for(None) == part_size_for(1024) == PART_SIZE
    assert part_size_for(PART_SIZE * MAX_PARTS) == PART_SIZE
    bigger = part_size_for(PART_SIZE * MAX_PARTS + 1)
    assert bigger > PART_SIZE and bigger % (1024 * 1024) == 0 and bigger * MAX_PARTS >= PART_SIZE * MAX_PARTS + 1
    assert part_size_for(5 * 1024**4) * MAX_PARTS >= 5 * 1024**4  # S3's 5 TiB object limit still fits


def test_derived_files_are_under_their_own_prefix_and_never_compliance_locked(
    s3_store_factory: S3StoreFactory, s3_client: Minio
) -> None:
    # Derivatives are not originals (issue 12, item 8): not under originals/, and no COMPLIANCE lock on a file
    # that can be made again; an administrator with the GOVERNANCE bypass may remove one, never an original.
    store = s3_store_factory(lock_mode=LockMode.COMPLIANCE)
    original = store.put_stream(io.BytesIO(b"original"), retain_until=in_seconds(3))
    pending = store.begin_put(content_type="video/mp4", area=StoreArea.DERIVATIVES)
    pending.write([b"proxy"])
    proxy = pending.finish()
    pending.lock(in_seconds(3600))
    assert original.key.startswith("originals/") and proxy.key.startswith("derivatives/")
    assert store.stat(original.key, original.version_id).lock_mode == LockMode.COMPLIANCE
    assert store.stat(proxy.key, proxy.version_id).lock_mode == LockMode.GOVERNANCE
    with pytest.raises(ObjectLocked):
        store.delete(proxy.key, proxy.version_id)
    errors = list(s3_client.remove_objects(store.bucket, [DeleteObject(proxy.key, proxy.version_id),
                                                          DeleteObject(original.key, original.version_id)],
                                           bypass_governance_mode=True))
    assert [e.name for e in errors] == [original.key]
    assert {key for key, _, _ in all_versions(s3_client, store.bucket)} == {original.key}
