"""How an upload reaches the store: the write that ran alongside, or the staged copy when that one broke off."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.storing import StagedFile, finish_write
from tests.conftest import stored_objects
from vault.context import VaultContext
from vault.errors import ObjectLocked
from vault.storage.base import StoredBlob


def staged_copy(context: VaultContext, source: Path, *, hashed: bool = True) -> StagedFile:
    context.settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    target = Path(shutil.copy(source, context.settings.uploads_dir / "staged"))
    digest = hashlib.sha256(target.read_bytes()).hexdigest() if hashed else None
    return StagedFile(path=target, size=target.stat().st_size, sha256=digest)


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


def assert_stored_whole(context: VaultContext, blob: StoredBlob, source: Path) -> None:
    assert b"".join(context.store.open_range(blob.key, blob.version_id)) == source.read_bytes()
    with pytest.raises(ObjectLocked):
        context.store.delete(blob.key, blob.version_id)


def test_a_write_that_carried_the_whole_upload_is_what_gets_stored(context: VaultContext,
                                                                   media: dict[str, Path]) -> None:
    staged = staged_copy(context, media["clip"])
    piped = context.store.begin_put(length=staged.size)
    piped.write([staged.path.read_bytes()])
    pending, blob = finish_write(context.store, staged, piped=piped, content_type="video/mp4",
                                 expected_sha256=None)
    assert pending is piped and blob.sha256 == staged.sha256
    pending.lock(soon())
    assert_stored_whole(context, blob, media["clip"])
    assert len(stored_objects(context.store)) == 1


def test_a_broken_write_falls_back_to_the_staged_copy(context: VaultContext, media: dict[str, Path]) -> None:
    staged = staged_copy(context, media["clip"], hashed=False)
    piped = context.store.begin_put()
    piped.write([staged.path.read_bytes()[:1000]])
    piped.discard()  # as when the server restarted in between
    pending, blob = finish_write(context.store, staged, piped=piped, content_type="video/mp4",
                                 expected_sha256=None)
    pending.lock(soon())
    assert blob.sha256 == hashlib.sha256(media["clip"].read_bytes()).hexdigest()
    assert_stored_whole(context, blob, media["clip"])
    assert len(stored_objects(context.store)) == 1  # the abandoned partial write left nothing


def test_a_write_that_carried_other_bytes_than_staged_is_discarded_for_the_staged_copy(
        context: VaultContext, media: dict[str, Path]) -> None:
    staged = staged_copy(context, media["clip"])
    piped = context.store.begin_put()
    piped.write([media["clip2"].read_bytes()])
    pending, blob = finish_write(context.store, staged, piped=piped, content_type="video/mp4",
                                 expected_sha256=None)
    pending.lock(soon())
    assert_stored_whole(context, blob, media["clip"])
    assert len(stored_objects(context.store)) == 1


def test_without_a_piped_write_the_staged_copy_is_stored(context: VaultContext, media: dict[str, Path]) -> None:
    staged = staged_copy(context, media["photo"])
    pending, blob = finish_write(context.store, staged, piped=None, content_type="image/jpeg",
                                 expected_sha256=staged.sha256)
    pending.lock(soon())
    assert blob.sha256 == staged.sha256
    assert_stored_whole(context, blob, media["photo"])
