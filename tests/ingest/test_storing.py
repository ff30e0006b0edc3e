"""How an upload reaches the store: a pipe that ran alongside, or the staged copy when the pipe broke off."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.storing import StagedFile, piped_put, staged_put
from tests.conftest import stored_objects
from vault.context import VaultContext
from vault.errors import ObjectLocked
from vault.storage.base import StoredBlob
from vault.storage.pipe import StorePipe


def staged_copy(context: VaultContext, source: Path, *, hashed: bool = True) -> StagedFile:
    context.settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    target = Path(shutil.copy(source, context.settings.uploads_dir / "staged"))
    digest = hashlib.sha256(target.read_bytes()).hexdigest() if hashed else None
    return StagedFile(target, digest, target.stat().st_size)


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


def accept_all(blob: StoredBlob) -> None:
    pass


def assert_stored_whole(context: VaultContext, blob: StoredBlob, source: Path) -> None:
    assert b"".join(context.store.open_range(blob.key, blob.version_id)) == source.read_bytes()
    with pytest.raises(ObjectLocked):
        context.store.delete(blob.key, blob.version_id)


def test_a_pipe_that_carried_the_whole_upload_is_what_gets_stored(context: VaultContext,
                                                                  media: dict[str, Path]) -> None:
    staged = staged_copy(context, media["clip"])
    pipe = StorePipe(context.store, retain_until=soon(), length=staged.size)
    pipe.push([staged.path.read_bytes()])
    blob = piped_put(context.store, pipe, staged)(soon(), "video/mp4", accept_all)
    assert blob.sha256 == staged.sha256
    assert_stored_whole(context, blob, media["clip"])
    assert len(stored_objects(context.store)) == 1


def test_a_broken_pipe_falls_back_to_the_staged_copy(context: VaultContext, media: dict[str, Path]) -> None:
    staged = staged_copy(context, media["clip"], hashed=False)
    pipe = StorePipe(context.store, retain_until=soon())
    pipe.push([staged.path.read_bytes()[:1000]])
    pipe.abandon("the server restarted in between")
    blob = piped_put(context.store, pipe, staged)(soon(), "video/mp4", accept_all)
    assert blob.sha256 == hashlib.sha256(media["clip"].read_bytes()).hexdigest()
    assert_stored_whole(context, blob, media["clip"])
    assert len(stored_objects(context.store)) == 1  # the abandoned partial upload left nothing


def test_a_pipe_that_carried_other_bytes_than_staged_is_discarded_for_the_staged_copy(
        context: VaultContext, media: dict[str, Path]) -> None:
    staged = staged_copy(context, media["clip"])
    pipe = StorePipe(context.store, retain_until=soon())
    pipe.push([media["clip2"].read_bytes()])
    blob = piped_put(context.store, pipe, staged)(soon(), "video/mp4", accept_all)
    assert_stored_whole(context, blob, media["clip"])
    assert len(stored_objects(context.store)) == 1


def test_without_a_pipe_the_staged_copy_is_stored(context: VaultContext, media: dict[str, Path]) -> None:
    staged = staged_copy(context, media["photo"])
    blob = staged_put(context.store, staged)(soon(), "image/jpeg", accept_all)
    assert blob.sha256 == staged.sha256
    assert_stored_whole(context, blob, media["photo"])
