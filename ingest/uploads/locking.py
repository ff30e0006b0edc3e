"""One writer per upload across every API process and host: a lock held until the new offset is committed.

PostgreSQL: a session advisory lock on a connection of its own, released by the server if the process dies.
SQLite (one host): a file lock beside the staged file, released by the kernel if the process dies.
Like tusd, a newer request may ask the holder to let go: it leaves a release marker in the shared staging
folder, which the holder notices within a fraction of a second (even while its client sends nothing), stops
reading, commits what it received and releases the lock. If the holder does not let go in time: 423 Locked.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
from filelock import FileLock, Timeout
from sqlalchemy import Connection, text
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from ingest.errors import UploadLocked
from vault.context import VaultContext

log = structlog.get_logger(__name__)

POLL_SECONDS = 0.1
WATCH_SECONDS = 0.25


def release_marker(staging: Path, upload_id: uuid.UUID) -> Path:
    """Return the file whose presence asks the current holder of an upload's lock to let go."""
    return staging / f"{upload_id}.release"


def _advisory_key(upload_id: uuid.UUID) -> int:
    return int.from_bytes(upload_id.bytes[:8], "big", signed=True)


class HeldLock:
    """A lock held on one upload: an advisory-lock connection, or a file lock."""

    def __init__(self, connection: Connection | None, file_lock: FileLock | None, key: int) -> None:
        self._connection = connection
        self._file_lock = file_lock
        self._key = key

    def release(self, *, upload_ended: bool = False) -> None:
        """Let go; once the upload has ended (stored, refused or terminated) its lock file goes too.

        Removing the file only then is safe: whoever opens it afterwards finds the upload ended.
        """
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
                self._connection.commit()
            finally:
                self._connection.close()
        if self._file_lock is not None:
            self._file_lock.release()
            if upload_ended:
                Path(self._file_lock.lock_file).unlink(missing_ok=True)


def try_upload_lock(context: VaultContext, upload_id: uuid.UUID) -> HeldLock | None:
    """Take the upload's lock if nobody holds it, without asking a holder to let go."""
    key = _advisory_key(upload_id)
    if context.engine.dialect.name == "postgresql":
        connection = context.engine.connect()
        try:
            got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one()
            connection.commit()
        except BaseException:
            connection.close()
            raise
        if not got:
            connection.close()
            return None
        return HeldLock(connection, None, key)
    staging = context.settings.uploads_dir
    staging.mkdir(parents=True, exist_ok=True)
    file_lock = FileLock(staging / f"{upload_id}.lock", thread_local=False)
    try:
        file_lock.acquire(timeout=0)
    except Timeout:
        return None
    return HeldLock(None, file_lock, key)


def acquire_upload_lock(context: VaultContext, upload_id: uuid.UUID) -> HeldLock:
    """Take the upload's lock, asking a holder to let go and waiting up to the setting; UploadLocked if it won't."""
    held = try_upload_lock(context, upload_id)
    if held is not None:
        return held
    marker = release_marker(context.settings.uploads_dir, upload_id)
    marker.touch()
    wait = context.settings.upload_lock_wait_seconds
    deadline = time.monotonic() + wait
    try:
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            held = try_upload_lock(context, upload_id)
            if held is not None:
                return held
    finally:
        marker.unlink(missing_ok=True)
    log.info("ingest.upload.locked", upload_id=str(upload_id), waited=wait)
    raise UploadLocked("another request is writing to this upload; retry once it has finished",
                       details={"upload_id": str(upload_id), "waited_seconds": wait})


@contextmanager
def upload_lock(context: VaultContext, upload_id: uuid.UUID) -> Iterator[None]:
    """Hold the upload's lock for a block that ends the upload (termination, the reconciler's finishing)."""
    held = acquire_upload_lock(context, upload_id)
    try:
        yield
    finally:
        held.release(upload_ended=True)


class HolderReleased(ClientDisconnect):
    """A newer request asked this one to let go: like a client that went away, what arrived stands."""


class _ReleaseWatch:
    """Looks for the release marker every WATCH_SECONDS; interrupts the request only while it waits for bytes."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker
        self.waiting = False
        self.released = False
        self._task = asyncio.current_task()

    async def run(self) -> None:
        while not self.released:
            await asyncio.sleep(WATCH_SECONDS)
            if self.marker.exists():
                self.released = True
                if self.waiting and self._task is not None:  # blocked in receive(): safe to interrupt
                    self._task.cancel()


async def body_until_released(receive: Receive, marker: Path) -> AsyncIterator[bytes]:
    """Yield a request body from the ASGI receive channel, stopping with HolderReleased once the marker appears.

    A watcher looks for the marker four times a second, so a holder whose client has stalled lets go too. It
    interrupts only a wait in receive(), which loses nothing: the server keeps any bytes for the next call.
    """
    watch = _ReleaseWatch(marker)
    watcher = asyncio.create_task(watch.run())
    try:
        while True:
            watch.waiting = True
            try:
                message = await receive()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if watch.released and task is not None and task.uncancel() == 0:
                    raise HolderReleased(str(marker)) from None
                raise
            finally:
                watch.waiting = False
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return
            if watch.released:
                raise HolderReleased(str(marker))
    finally:
        watcher.cancel()
