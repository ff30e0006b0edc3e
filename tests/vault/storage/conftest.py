"""S3 fixtures: stores on the test Ceph RGW (scripts/ceph-rgw.sh), each on its own fresh Object Lock bucket."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pytest
from minio import Minio

from tests.conftest import make_s3_store
from vault.storage.base import BlobStore, LockMode
from vault.storage.local import LocalBlobStore
from vault.storage.s3 import S3BlobStore

S3_ENDPOINT = os.environ.get("EVAULT_TEST_S3_ENDPOINT")
S3_ACCESS_KEY = os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", "evaultci")
S3_SECRET_KEY = os.environ.get("EVAULT_TEST_S3_SECRET_KEY", "evaultci-secret-key")


class S3StoreFactory(Protocol):
    """Build an S3BlobStore on a fresh bucket (or the one named) of the test RGW."""

    def __call__(
        self,
        *,
        lock_mode: LockMode = LockMode.COMPLIANCE,
        bucket: str | None = None,
        ensure: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> S3BlobStore: ...


def fresh_bucket_name() -> str:
    """Return a bucket name no other test uses."""
    return f"t-{uuid.uuid4().hex[:24]}"


@pytest.fixture
def s3_store_factory() -> S3StoreFactory:
    """Return a factory of S3 stores on the test RGW; skip when EVAULT_TEST_S3_ENDPOINT is unset."""
    if not S3_ENDPOINT:
        pytest.skip("EVAULT_TEST_S3_ENDPOINT not set (start Ceph RGW with scripts/ceph-rgw.sh start DIR PORT)")
    endpoint = S3_ENDPOINT

    def make(
        *,
        lock_mode: LockMode = LockMode.COMPLIANCE,
        bucket: str | None = None,
        ensure: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> S3BlobStore:
        store = S3BlobStore(endpoint=endpoint, access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY,
                            bucket=bucket or fresh_bucket_name(), lock_mode=lock_mode,
                            clock=clock or (lambda: datetime.now(UTC)))
        if ensure:
            store.ensure_bucket()
        return store

    return make


@pytest.fixture
def s3_client() -> Minio:
    """Return a raw minio client on the test RGW, to check what the server itself enforces."""
    if not S3_ENDPOINT:
        pytest.skip("EVAULT_TEST_S3_ENDPOINT not set (start Ceph RGW with scripts/ceph-rgw.sh start DIR PORT)")
    return Minio(S3_ENDPOINT, access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY, secure=False)


BACKENDS = [
    "local",
    pytest.param(
        "s3",
        marks=[
            pytest.mark.s3,
            pytest.mark.skipif(
                not S3_ENDPOINT, reason="EVAULT_TEST_S3_ENDPOINT not set (start Ceph RGW with scripts/ceph-rgw.sh)"
            ),
        ],
    ),
]


@pytest.fixture(params=BACKENDS)
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """Return each backend in turn: the local folder store, then an RGW bucket when RGW is running."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "objects")
    return make_s3_store()
