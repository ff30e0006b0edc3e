"""An S3 store that hangs or is gone fails every call with StorageError within about its timeout."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.outage import closed_port, frozen_gateway
from vault.errors import StorageError
from vault.storage.s3 import S3BlobStore

TIMEOUT = 1.0
CALLS: dict[str, Callable[[S3BlobStore], Any]] = {
    "check": lambda store: store.check(),
    "open_range": lambda store: store.open_range("originals/x", "v1", start=0, end=9),
    "stat": lambda store: store.stat("originals/x", "v1"),
}


def store_at(port: int) -> S3BlobStore:
    return S3BlobStore(endpoint=f"127.0.0.1:{port}", access_key="evaultci", secret_key="evaultci-secret-key",
                       bucket="evidence", timeout_seconds=TIMEOUT)


@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_frozen_gateway_fails_within_the_timeout(call: str) -> None:
    with frozen_gateway() as port:
        started = time.monotonic()
        with pytest.raises(StorageError):
            CALLS[call](store_at(port))
        assert time.monotonic() - started < 3 * TIMEOUT


@pytest.mark.parametrize("call", sorted(CALLS))
def test_an_endpoint_nobody_listens_on_fails_at_once(call: str) -> None:
    started = time.monotonic()
    with pytest.raises(StorageError):
        CALLS[call](store_at(closed_port()))
    assert time.monotonic() - started < 3 * TIMEOUT
