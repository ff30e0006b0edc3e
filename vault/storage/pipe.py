"""Stream into a blob store while the bytes are still arriving: a put_stream on its own thread, fed chunk by chunk."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import BinaryIO, cast

import structlog

from vault.errors import StorageError
from vault.storage.base import Accept, BlobStore, StoredBlob

log = structlog.get_logger(__name__)

MAX_BUFFERED_BYTES = 8 * 1024 * 1024
IDLE_TIMEOUT_SECONDS = 15 * 60.0


class PipeBroken(StorageError):
    """The pipe's upload did not receive the whole stream; its bytes were discarded, nothing was locked."""

    code = "store_pipe_broken"


class StorePipe:
    """A put_stream running on its own thread, fed the bytes of one upload as they arrive.

    The producer pushes chunks (blocking while MAX_BUFFERED_BYTES wait unread, so memory stays bounded)
    and calls finish() with a verdict, which the store applies to the hashed bytes before locking them.
    abandon(), a stream that stops for IDLE_TIMEOUT_SECONDS, or a failed store all end the upload with
    nothing kept; finish() then raises PipeBroken or the store's own error.
    """

    def __init__(
        self, store: BlobStore, *, retain_until: datetime, max_size: int | None = None, length: int | None = None,
        content_type: str = "application/octet-stream", max_buffered: int = MAX_BUFFERED_BYTES,
        idle_timeout: float = IDLE_TIMEOUT_SECONDS, label: str = "",
    ) -> None:
        self.retain_until = retain_until
        self.offset = 0
        self._store = store
        self._max_size = max_size
        self._length = length
        self._content_type = content_type
        self._max_buffered = max_buffered
        self._idle_timeout = idle_timeout
        self._label = label
        self._changed = threading.Condition()
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._ended = False
        self._broken: PipeBroken | None = None
        self._reader_done = False
        self._accept: Accept | None = None
        self._blob: StoredBlob | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._upload, name=f"store-pipe {label}", daemon=True)
        self._thread.start()

    @property
    def usable(self) -> bool:
        """True while the upload is still taking bytes."""
        with self._changed:
            return not (self._reader_done or self._broken or self._ended)

    def push(self, chunks: Sequence[bytes]) -> None:
        """Hand chunks to the upload, waiting while the buffer is full; a no-op once the upload has stopped."""
        with self._changed:
            for chunk in chunks:
                if not chunk:  # an empty read would look like the end of the stream to the store
                    continue
                while self._buffered >= self._max_buffered and not self._stopped():
                    self._changed.wait()
                if self._stopped():
                    return
                self._chunks.append(chunk)
                self._buffered += len(chunk)
                self.offset += len(chunk)
                self._changed.notify_all()

    def finish(self, accept: Accept) -> StoredBlob:
        """End the stream, let accept judge the stored bytes before the lock, and return the locked blob."""
        with self._changed:
            self._accept = accept
            self._ended = True
            self._changed.notify_all()
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._blob is not None
        return self._blob

    def abandon(self, reason: str, *, wait: bool = False) -> None:
        """Stop the upload; the store discards what it received (on its own thread unless `wait`)."""
        with self._changed:
            if self._broken is None and not self._reader_done:
                self._broken = PipeBroken(f"the upload to the store was abandoned: {reason}",
                                          details={"reason": reason, "received": self.offset})
            self._changed.notify_all()
        if wait:
            self._thread.join()

    def _stopped(self) -> bool:
        return self._reader_done or self._broken is not None

    def read(self, size: int = -1) -> bytes:
        """Return up to size bytes for the store (b"" at the end); raise PipeBroken if the stream broke off."""
        deadline = time.monotonic() + self._idle_timeout
        with self._changed:
            while not self._chunks and not self._ended and self._broken is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._broken = PipeBroken(f"no bytes arrived for {self._idle_timeout:.0f} s",
                                              details={"received": self.offset})
                    break
                self._changed.wait(remaining)
            if self._broken is not None:
                raise self._broken
            if not self._chunks:
                return b""
            chunk = self._chunks.popleft()
            if 0 < size < len(chunk):
                chunk, rest = chunk[:size], chunk[size:]
                self._chunks.appendleft(rest)
            self._buffered -= len(chunk)
            self._changed.notify_all()
            return bytes(chunk)

    def _judge(self, blob: StoredBlob) -> None:
        # The store reaches its verdict only after reading the end, and only finish() ends the stream.
        assert self._accept is not None
        self._accept(blob)

    def _upload(self) -> None:
        try:
            self._blob = self._store.put_stream(
                cast(BinaryIO, self), retain_until=self.retain_until, max_size=self._max_size,
                content_type=self._content_type, accept=self._judge, length=self._length)
        except BaseException as exc:  # handed to finish(), which raises it in the caller's thread
            self._error = exc
            log.info("storage.pipe.failed", label=self._label, error=str(exc), received=self.offset)
        finally:
            with self._changed:
                self._reader_done = True
                self._chunks.clear()
                self._buffered = 0
                self._changed.notify_all()
