"""Streaming into a store while bytes still arrive: what is stored, and what a broken stream leaves (nothing)."""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import stored_objects
from vault.errors import ObjectLocked, TooLarge
from vault.storage.base import BlobStore, StoredBlob
from vault.storage.pipe import PipeBroken, StorePipe


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


def accept_all(blob: StoredBlob) -> None:
    pass


def test_pushed_chunks_are_stored_whole_hashed_and_locked(blob_store: BlobStore) -> None:
    chunks = [os.urandom(700_000) for _ in range(40)]  # 28 MB: more than one S3 part
    pipe = StorePipe(blob_store, retain_until=soon(), max_buffered=2_000_000)
    for start in range(0, len(chunks), 3):
        pipe.push(chunks[start:start + 3])
    blob = pipe.finish(accept_all)
    data = b"".join(chunks)
    assert (blob.sha256, blob.size, pipe.offset) == (hashlib.sha256(data).hexdigest(), len(data), len(data))
    assert b"".join(blob_store.open_range(blob.key, blob.version_id)) == data
    with pytest.raises(ObjectLocked):
        blob_store.delete(blob.key, blob.version_id)


def test_an_abandoned_stream_leaves_nothing(blob_store: BlobStore) -> None:
    pipe = StorePipe(blob_store, retain_until=soon())
    pipe.push([os.urandom(300_000)])
    pipe.abandon("the client went away")
    assert not pipe.usable
    pipe.push([b"late bytes are ignored, not blocked on"])
    with pytest.raises(PipeBroken, match="client went away"):
        pipe.finish(accept_all)
    assert stored_objects(blob_store) == []


def test_a_stream_that_stalls_past_the_idle_timeout_leaves_nothing(blob_store: BlobStore) -> None:
    pipe = StorePipe(blob_store, retain_until=soon(), idle_timeout=0.3)
    pipe.push([b"first bytes of a recording"])
    waiter = threading.Thread(target=pipe._thread.join, daemon=True)  # the upload thread ends by itself
    waiter.start()
    waiter.join(30)
    assert not waiter.is_alive(), "the pipe kept waiting for bytes that never came"
    with pytest.raises(PipeBroken, match="no bytes arrived"):
        pipe.finish(accept_all)
    assert stored_objects(blob_store) == []


def test_a_veto_at_finish_leaves_nothing(blob_store: BlobStore) -> None:
    class NotMedia(Exception):
        pass

    def refuse(blob: StoredBlob) -> None:
        raise NotMedia(blob.sha256)

    pipe = StorePipe(blob_store, retain_until=soon())
    pipe.push([b"#!/bin/sh\n" * 1000])
    with pytest.raises(NotMedia):
        pipe.finish(refuse)
    assert stored_objects(blob_store) == []


def test_a_store_that_stops_reading_never_blocks_the_producer(blob_store: BlobStore) -> None:
    pipe = StorePipe(blob_store, retain_until=soon(), max_size=1_000_000, max_buffered=200_000)
    pusher = threading.Thread(target=lambda: pipe.push([os.urandom(100_000) for _ in range(100)]), daemon=True)
    pusher.start()
    pusher.join(30)
    assert not pusher.is_alive(), "push blocked after the store refused the stream"
    with pytest.raises(TooLarge):
        pipe.finish(accept_all)
    assert stored_objects(blob_store) == []


@pytest.mark.parametrize("declared", [True, False])
def test_an_empty_chunk_mid_stream_is_not_taken_for_the_end(blob_store: BlobStore, declared: bool) -> None:
    # A web framework ends a request body with an empty chunk; the store must not stop reading there.
    parts = [b"head" * 1000, b"", b"tail" * 1000, b""]
    data = b"".join(parts)
    pipe = StorePipe(blob_store, retain_until=soon(), length=len(data) if declared else None)
    for part in parts:
        pipe.push([part])
    blob = pipe.finish(accept_all)
    assert (blob.size, blob.sha256) == (len(data), hashlib.sha256(data).hexdigest())
