"""One contract for every blob store: the local folder store always, Ceph RGW when it is running."""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import stored_objects
from vault.errors import (
    ChecksumMismatch,
    Conflict,
    LengthMismatch,
    NotFound,
    ObjectLocked,
    RetentionShortening,
    TooLarge,
)
from vault.storage.base import BlobStore, FileSource, LockMode, PendingBlob, StoreArea, StoredBlob
from vault.storage.local import LocalBlobStore
from vault.storage.s3 import PART_SIZE as PART


def soon(seconds: float = 3600) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def put(store: BlobStore, data: bytes, *, retain: float = 3600, **kwargs: object) -> tuple[str, str]:
    blob = store.put_stream(io.BytesIO(data), retain_until=soon(retain), **kwargs)  # type: ignore[arg-type]
    return blob.key, blob.version_id


def read_all(store: BlobStore, key: str, version: str, **kwargs: int) -> bytes:
    return b"".join(store.open_range(key, version, **kwargs))


def test_put_returns_sha256_and_size_and_reads_back_bit_for_bit(blob_store: BlobStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    blob = blob_store.put_stream(io.BytesIO(data), retain_until=soon())
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.size == len(data)
    assert read_all(blob_store, blob.key, blob.version_id) == data


def test_ranged_reads_are_inclusive_like_http(blob_store: BlobStore) -> None:
    data = bytes(range(256)) * 100
    key, version = put(blob_store, data)
    assert read_all(blob_store, key, version, start=10, end=19) == data[10:20]
    assert read_all(blob_store, key, version, start=25_000) == data[25_000:]
    assert read_all(blob_store, key, version, start=0, end=0) == data[:1]


def test_stat_reports_size_and_the_lock_the_store_enforces(blob_store: BlobStore) -> None:
    until = soon(7200).replace(microsecond=0)
    blob = blob_store.put_stream(io.BytesIO(b"evidence"), retain_until=until)
    stat = blob_store.stat(blob.key, blob.version_id)
    assert stat.size == 8
    assert stat.retain_until is not None
    assert abs((stat.retain_until - until).total_seconds()) < 1
    assert stat.legal_hold is False


def test_declared_checksum_mismatch_stores_nothing(blob_store: BlobStore) -> None:
    with pytest.raises(ChecksumMismatch):
        blob_store.put_stream(
            io.BytesIO(b"actual bytes"), retain_until=soon(), expected_sha256=hashlib.sha256(b"other bytes").hexdigest()
        )
    assert stored_objects(blob_store) == []


def test_declared_checksum_match_is_accepted_case_insensitively(blob_store: BlobStore) -> None:
    data = b"matching bytes"
    blob = blob_store.put_stream(
        io.BytesIO(data), retain_until=soon(), expected_sha256=hashlib.sha256(data).hexdigest().upper()
    )
    assert blob.sha256 == hashlib.sha256(data).hexdigest()


def test_oversize_stream_is_refused_and_nothing_kept(blob_store: BlobStore) -> None:
    with pytest.raises(TooLarge):
        blob_store.put_stream(io.BytesIO(b"x" * 2048), retain_until=soon(), max_size=1024)
    assert stored_objects(blob_store) == []


@pytest.mark.parametrize("declared", [PART - 1, PART + 1, 10])
def test_a_stream_that_differs_from_its_declared_length_keeps_nothing(blob_store: BlobStore, declared: int) -> None:
    with pytest.raises(LengthMismatch):
        blob_store.put_stream(io.BytesIO(os.urandom(PART)), retain_until=soon(), length=declared)
    assert stored_objects(blob_store) == []


def test_a_declared_length_that_matches_is_stored_whole(blob_store: BlobStore) -> None:
    data = os.urandom(PART + 12345)  # two S3 parts
    blob = blob_store.put_stream(io.BytesIO(data), retain_until=soon(), length=len(data))
    assert (blob.size, blob.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert read_all(blob_store, blob.key, blob.version_id) == data


def is_locked(store: BlobStore, blob: StoredBlob) -> bool:
    try:
        return store.stat(blob.key, blob.version_id).retain_until is not None
    except NotFound:  # the local store moves a write into its place only when it locks it
        return False


def test_a_finished_write_is_hashed_and_durable_but_not_locked_until_asked(blob_store: BlobStore) -> None:
    data = os.urandom(64 * 1024)
    pending = blob_store.begin_put()
    pending.write([data[:1000], data[1000:]])
    blob = pending.finish()
    assert (blob.sha256, blob.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert not is_locked(blob_store, blob)  # the caller judges and commits in between
    assert pending.lock(soon()) == blob
    assert is_locked(blob_store, blob)
    assert read_all(blob_store, blob.key, blob.version_id) == data
    with pytest.raises(ObjectLocked):
        blob_store.delete(blob.key, blob.version_id)


def test_a_discarded_write_leaves_nothing(blob_store: BlobStore) -> None:
    pending = blob_store.begin_put()
    pending.write([os.urandom(64 * 1024)])
    pending.finish()
    pending.discard()
    pending.discard()  # idempotent
    assert stored_objects(blob_store) == []


@pytest.mark.parametrize("problem", ["digest", "short", "long", "oversize"])
def test_a_write_that_fails_its_checks_leaves_nothing(blob_store: BlobStore, problem: str) -> None:
    data = os.urandom(10_000)
    pending = blob_store.begin_put(length=len(data) + (1 if problem == "short" else 0),
                                   max_size=5_000 if problem == "oversize" else None)
    expected = {"digest": ChecksumMismatch, "short": LengthMismatch, "long": LengthMismatch, "oversize": TooLarge}

    def write_and_finish() -> None:
        pending.write([data, b"more" if problem == "long" else b""])
        pending.finish(expected_sha256="0" * 64 if problem == "digest" else None)

    with pytest.raises(expected[problem]):
        write_and_finish()
    pending.discard()
    assert stored_objects(blob_store) == []


def test_a_whole_file_is_stored_and_the_file_itself_is_left_in_place(blob_store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    source = tmp_path / "staged"
    source.write_bytes(data)
    for sha256 in (None, hashlib.sha256(data).hexdigest()):
        pending = blob_store.begin_put(source=FileSource(path=source, size=len(data), sha256=sha256))
        blob = pending.finish()
        pending.lock(soon())
        assert read_all(blob_store, blob.key, blob.version_id) == data
        assert source.read_bytes() == data  # the caller drops its staged copy once its record is committed


def test_the_store_locks_a_finished_write_by_key_after_a_crash(blob_store: BlobStore) -> None:
    pending = blob_store.begin_put()
    pending.write([b"committed before the crash"])
    blob = pending.finish()
    # The process died here; a reconciler that finds the committed row locks the object by its key.
    until = soon(7200)
    blob_store.lock(blob.key, blob.version_id, until)
    blob_store.lock(blob.key, blob.version_id, soon(60))  # idempotent, and never shortens
    stat = blob_store.stat(blob.key, blob.version_id)
    assert stat.retain_until is not None and abs((stat.retain_until - until).total_seconds()) < 1
    assert [(v.key, v.version_id) for v in blob_store.list_versions()] == [(blob.key, blob.version_id)]


def test_unfinished_writes_are_aborted_once_older_than_the_cutoff(blob_store: BlobStore) -> None:
    pending = blob_store.begin_put(length=20 * 1024 * 1024)
    pending.write([os.urandom(PART + 1024)])  # past one part: S3 has started a multipart upload
    time.sleep(1.5)
    assert blob_store.abort_incomplete(older_than=datetime.now(UTC) - timedelta(hours=1)) == 0
    aborted = blob_store.abort_incomplete(older_than=datetime.now(UTC) + timedelta(minutes=5))
    assert aborted >= 1
    pending.discard()
    assert stored_objects(blob_store) == []


def test_locked_object_cannot_be_deleted(blob_store: BlobStore) -> None:
    key, version = put(blob_store, b"locked original")
    with pytest.raises(ObjectLocked):
        blob_store.delete(key, version)
    assert read_all(blob_store, key, version) == b"locked original"


def test_storing_again_never_overwrites_the_original(blob_store: BlobStore) -> None:
    key, version = put(blob_store, b"first")
    put(blob_store, b"second")
    put(blob_store, b"first")
    assert read_all(blob_store, key, version) == b"first"


def test_retention_extends_but_never_shortens(blob_store: BlobStore) -> None:
    key, version = put(blob_store, b"retained", retain=3600)
    later = soon(86400)
    blob_store.set_retention(key, version, later)
    stat = blob_store.stat(key, version)
    assert stat.retain_until is not None and abs((stat.retain_until - later).total_seconds()) < 1
    with pytest.raises(RetentionShortening):
        blob_store.set_retention(key, version, soon(60))
    still = blob_store.stat(key, version).retain_until
    assert still is not None and abs((still - later).total_seconds()) < 1


def test_legal_hold_blocks_deletion_until_released(blob_store: BlobStore) -> None:
    key, version = put(blob_store, b"held", retain=2)
    blob_store.set_legal_hold(key, version, True)
    assert blob_store.stat(key, version).legal_hold is True
    time.sleep(3)
    with pytest.raises(ObjectLocked):
        blob_store.delete(key, version)
    blob_store.set_legal_hold(key, version, False)
    blob_store.delete(key, version)
    with pytest.raises(NotFound):
        blob_store.stat(key, version)


def test_delete_after_retention_expires(blob_store: BlobStore) -> None:
    key, version = put(blob_store, b"expiring", retain=2)
    time.sleep(3)
    blob_store.delete(key, version)
    with pytest.raises(NotFound):
        read_all(blob_store, key, version)


def test_missing_object_is_not_found(blob_store: BlobStore) -> None:
    key, version = put(blob_store, b"present")
    missing_key = "0" * 64 if isinstance(blob_store, LocalBlobStore) else key + "-missing"
    with pytest.raises(NotFound):
        blob_store.stat(missing_key, version)


def test_check_passes_on_a_healthy_store(blob_store: BlobStore) -> None:
    blob_store.check()


def derive(store: BlobStore, data: bytes) -> tuple[StoredBlob, PendingBlob]:
    pending = store.begin_put(content_type="image/jpeg", area=StoreArea.DERIVATIVES)
    pending.write([data])
    return pending.finish(), pending


def test_derived_files_have_their_own_area_and_a_governance_lock(blob_store: BlobStore) -> None:
    # Derivatives are not originals (issue 12, item 8; `000` 第十六条: derived files are separate and marked).
    original = blob_store.put_stream(io.BytesIO(b"the original"), retain_until=soon())
    blob, pending = derive(blob_store, b"a thumbnail")
    assert blob.key.startswith("derivatives/") and not original.key.startswith("derivatives/")
    until = soon(600)
    pending.lock(until)
    stat = blob_store.stat(blob.key, blob.version_id)
    assert stat.lock_mode == LockMode.GOVERNANCE
    assert stat.retain_until is not None and abs((stat.retain_until - until).total_seconds()) < 1
    assert read_all(blob_store, blob.key, blob.version_id) == b"a thumbnail"
    listed = {v.key for v in blob_store.list_versions()}
    assert listed == {original.key, blob.key}


def test_a_derived_write_left_by_a_crash_is_listed_locked_by_key_or_aborted(blob_store: BlobStore) -> None:
    blob, _ = derive(blob_store, b"a proxy, committed before the crash")
    assert [v.key for v in blob_store.list_versions()] == [blob.key]  # the reconciler finds it by its key
    blob_store.lock(blob.key, blob.version_id, soon(60))
    assert blob_store.stat(blob.key, blob.version_id).lock_mode == LockMode.GOVERNANCE
    unfinished = blob_store.begin_put(length=20 * 1024 * 1024, area=StoreArea.DERIVATIVES)
    unfinished.write([os.urandom(PART + 1024)])
    time.sleep(1.5)
    assert blob_store.abort_incomplete(older_than=datetime.now(UTC) + timedelta(minutes=5)) >= 1
    unfinished.discard()
    assert [v.key for v in blob_store.list_versions()] == [blob.key]


def test_a_derived_file_can_be_removed_once_its_short_lock_ends(blob_store: BlobStore) -> None:
    blob, pending = derive(blob_store, b"a rebuildable thumbnail")
    pending.lock(soon(2))
    with pytest.raises(ObjectLocked):
        blob_store.delete(blob.key, blob.version_id)
    time.sleep(3)
    blob_store.delete(blob.key, blob.version_id)
    with pytest.raises(NotFound):
        blob_store.stat(blob.key, blob.version_id)


def test_local_store_keeps_derived_files_in_their_own_folder(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    blob, pending = derive(store, b"thumb")
    pending.lock(soon())
    digest = hashlib.sha256(b"thumb").hexdigest()
    assert blob.key == f"derivatives/{digest}"
    folder = tmp_path / "objects" / "derivatives"
    assert store.local_path(blob.key, blob.version_id) == folder / digest[:2] / digest[2:4] / digest
    assert not (tmp_path / "objects" / digest[:2]).exists()
    with pytest.raises(NotFound):
        store.stat(f"derivatives/../{digest}", "1")


def test_local_store_files_are_read_only_and_content_addressed(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    blob = store.put_stream(io.BytesIO(b"abc"), retain_until=soon())
    path = tmp_path / "objects" / blob.key[:2] / blob.key[2:4] / blob.key
    assert blob.key == hashlib.sha256(b"abc").hexdigest()
    assert path.stat().st_mode & 0o777 == 0o444
    assert list((tmp_path / "objects" / ".incoming").iterdir()) == []


def test_local_store_uses_the_injected_clock_for_expiry(tmp_path: Path) -> None:
    moment = [datetime.now(UTC)]
    clock: Callable[[], datetime] = lambda: moment[0]  # noqa: E731
    store = LocalBlobStore(tmp_path / "objects", clock=clock)
    blob = store.put_stream(io.BytesIO(b"clocked"), retain_until=moment[0] + timedelta(days=183))
    with pytest.raises(ObjectLocked):
        store.delete(blob.key, blob.version_id)
    moment[0] += timedelta(days=184)
    store.delete(blob.key, blob.version_id)


def test_local_store_rejects_path_tricks_in_keys(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    with pytest.raises(NotFound):
        store.stat("../../etc/passwd", "1")


def test_an_anchor_is_written_once_locked_and_read_back_in_name_order(blob_store: BlobStore) -> None:
    # Checkpoints are anchored outside the catalog as write-once, locked objects (issue 12).
    first = blob_store.write_anchor("custody/checkpoints/002", b"two\n", retain_until=soon())
    blob_store.write_anchor("custody/checkpoints/001", b"one\n", retain_until=soon())
    blob_store.write_anchor("elsewhere/003", b"other\n", retain_until=soon())
    listed = list(blob_store.list_anchors("custody/checkpoints/"))
    assert [(a.name, a.data) for a in listed] == [("custody/checkpoints/001", b"one\n"),
                                                  ("custody/checkpoints/002", b"two\n")]
    assert first.location.endswith("custody/checkpoints/002") or "custody/checkpoints/002?versionId=" in first.location
    assert [a.name for a in blob_store.list_anchors("custody/checkpoints/", limit=1)] == ["custody/checkpoints/001"]


def test_an_anchor_is_never_replaced_by_different_bytes(blob_store: BlobStore) -> None:
    blob_store.write_anchor("custody/checkpoints/7", b"seven\n", retain_until=soon())
    blob_store.write_anchor("custody/checkpoints/7", b"seven\n", retain_until=soon())  # the same bytes: a no-op
    with pytest.raises(Conflict):
        blob_store.write_anchor("custody/checkpoints/7", b"forged\n", retain_until=soon())
    assert [a.data for a in blob_store.list_anchors("custody/checkpoints/")] == [b"seven\n"]


def test_the_store_refuses_to_delete_an_anchor(blob_store: BlobStore) -> None:
    anchor = blob_store.write_anchor("custody/checkpoints/9", b"nine\n", retain_until=soon())
    if isinstance(blob_store, LocalBlobStore):
        path = Path(anchor.location)
        assert not os.access(path, os.W_OK) or os.geteuid() == 0
        assert path.stat().st_mode & 0o222 == 0
        assert "retain_until" in path.with_name(path.name + ".lock.json").read_text()
    else:
        client = blob_store._client  # type: ignore[attr-defined]  # the test asks the bucket itself
        with pytest.raises(Exception, match=r"(?i)AccessDenied|locked|retention"):
            client.remove_object(blob_store.bucket, anchor.name, version_id=anchor.version_id)  # type: ignore[attr-defined]


def test_a_local_anchor_is_locked_before_it_appears_and_a_crash_between_is_completed(tmp_path: Path) -> None:
    # kill -9 between the lock file and the anchor leaves only the lock; writing the anchor again completes it.
    store = LocalBlobStore(tmp_path / "objects")
    anchor = store.write_anchor("custody/checkpoints/5", b"five\n", retain_until=soon())
    path = Path(anchor.location)
    lock = Path(anchor.location + ".lock.json")
    os.chmod(path, 0o644)
    path.unlink()  # the state that crash leaves: the lock, and no anchor
    locked = lock.read_text()
    store.write_anchor("custody/checkpoints/5", b"five\n", retain_until=soon(7200))
    assert path.read_bytes() == b"five\n" and lock.read_text() == locked  # the earlier lock stands
