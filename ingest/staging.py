"""Staged upload files: append bytes, hashing and counting them in the same loop, fsync before acknowledging."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.requests import ClientDisconnect

from vault.errors import TooLarge

if TYPE_CHECKING:
    from _hashlib import HASH

BATCH_BYTES = 1024 * 1024
WRITE_BACK_BYTES = 8 * 1024 * 1024
_MAX_IOV = 512  # well under IOV_MAX (1024)


class StagingWriter:
    """Append to a staged file from `offset`, updating SHA-256 (and an optional per-request digest) as it goes.

    With hash_bytes=False the file is only a copy to probe: the store that receives the same bytes hashes them.
    A durable writer writes back as it goes: every WRITE_BACK_BYTES it starts the disk writing what arrived, so
    sync() at the end has little left to wait for, and drops what is already on disk from the page cache.
    """

    def __init__(
        self, path: Path, *, offset: int = 0, sha256: HASH | None = None, limit: int | None = None,
        request_digest: HASH | None = None, hash_bytes: bool = True, durable: bool = True,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        # Anything past the last durable offset is an interrupted write nobody acknowledged: drop it. Only
        # truncate when there is something to drop: ext4 flushes a file truncated to zero when it is closed.
        if os.fstat(fd).st_size > offset:
            os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
        self._fd = fd
        self.path = path
        self.offset = offset
        self.sha256 = sha256 or hashlib.sha256()
        self.hash_bytes = hash_bytes
        self.request_digest = request_digest
        self.durable = durable
        self._limit = limit
        self._not_written_back = 0
        self._written_back = offset

    def write(self, data: bytes | bytearray) -> None:
        """Append data; raise TooLarge before writing past the limit."""
        if self._limit is not None and self.offset + len(data) > self._limit:
            raise TooLarge(f"the upload exceeds its limit of {self._limit} bytes", details={"max_size": self._limit})
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        if self.hash_bytes:
            self.sha256.update(data)
        if self.request_digest is not None:
            self.request_digest.update(data)
        self.offset += len(data)
        self._write_back(len(data))

    def write_many(self, chunks: list[bytes]) -> None:
        """Append several chunks with one writev (no copy into a joined buffer)."""
        total = sum(len(c) for c in chunks)
        if self._limit is not None and self.offset + total > self._limit:
            raise TooLarge(f"the upload exceeds its limit of {self._limit} bytes", details={"max_size": self._limit})
        written = os.writev(self._fd, chunks)
        if written < total:  # a short write: finish the rest the plain way
            rest = b"".join(chunks)[written:]
            view = memoryview(rest)
            while view:
                view = view[os.write(self._fd, view):]
        for chunk in chunks:
            if self.hash_bytes:
                self.sha256.update(chunk)
            if self.request_digest is not None:
                self.request_digest.update(chunk)
        self.offset += total
        self._write_back(total)

    def _write_back(self, written: int) -> None:
        self._not_written_back += written
        if not self.durable or self._not_written_back < WRITE_BACK_BYTES:
            return
        # One call starts writing back what just arrived and drops what the previous call wrote back from the
        # page cache, as `dd oflag=nocache` does (and PostgreSQL where it lacks sync_file_range). An fdatasync
        # every few MiB instead commits the journal each time, and a page cache filling with originals nobody
        # reads again soon halved throughput here after 2 GiB (bench/ingest_http.py).
        start = self._written_back
        self._written_back = max(0, self.offset - self._not_written_back)
        self._not_written_back = 0
        os.posix_fadvise(self._fd, start, self.offset - start, os.POSIX_FADV_DONTNEED)

    def sync(self) -> None:
        """Make everything written so far durable."""
        os.fsync(self._fd)

    def rewind(self, offset: int) -> None:
        """Cut the file back to offset (after a refused request), durably."""
        os.ftruncate(self._fd, offset)
        os.fsync(self._fd)
        self.offset = offset

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> StagingWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


async def pump(
    chunks: AsyncIterator[bytes], writer: StagingWriter, *, forward: Callable[[list[bytes]], None] | None = None,
) -> bool:
    """Copy a request body into writer in ~1 MiB batches on a worker thread; return False if the client vanished.

    Double-buffered: while the thread hashes and writes one batch, the event loop receives the next, so the
    socket is never paused for the digest (at most two batches per upload are held in memory). Each written
    batch is then handed to `forward`, if given. A durable writer's file is fsynced at the end.
    """

    def write(batch: list[bytes]) -> None:
        writer.write_many(batch)
        if forward is not None:
            forward(batch)

    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] | None = None
    batch: list[bytes] = []
    size = 0
    completed = True
    try:
        async for chunk in chunks:
            batch.append(chunk)
            size += len(chunk)
            if size >= BATCH_BYTES or len(batch) >= _MAX_IOV:
                if pending is not None:
                    await pending
                pending = loop.run_in_executor(None, write, batch)
                batch, size = [], 0
    except ClientDisconnect:
        completed = False
    finally:
        if pending is not None:
            await pending
    if batch:
        await anyio.to_thread.run_sync(write, batch)
    if writer.durable:
        await anyio.to_thread.run_sync(writer.sync)
    return completed


def rehash(path: Path, offset: int) -> HASH:
    """Re-read the first offset bytes of a staged file once (after a restart lost the in-memory digest)."""
    digest = hashlib.sha256()
    if offset == 0:
        return digest
    with path.open("rb") as handle:
        remaining = offset
        while remaining > 0:
            chunk = handle.read(min(BATCH_BYTES, remaining))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
    return digest
