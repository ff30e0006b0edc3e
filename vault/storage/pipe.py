"""A bounded hand-over of bytes from the thread receiving an upload to the thread sending it to a store."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence

from vault.errors import StorageError

MAX_BUFFERED_BYTES = 8 * 1024 * 1024
IDLE_TIMEOUT_SECONDS = 15 * 60.0


class PipeBroken(StorageError):
    """The write did not receive the whole stream; its bytes were discarded, nothing was locked."""

    code = "store_pipe_broken"


class ChunkQueue:
    """Chunks pushed by a producer and read, file-like, by a consumer thread (a store's upload).

    push() blocks while MAX_BUFFERED_BYTES wait unread, so memory stays bounded; end() marks the end of the
    stream; abandon(), or no bytes for IDLE_TIMEOUT_SECONDS, makes the consumer's next read raise PipeBroken.
    """

    def __init__(self, *, max_buffered: int = MAX_BUFFERED_BYTES, idle_timeout: float = IDLE_TIMEOUT_SECONDS) -> None:
        self.offset = 0
        self._max_buffered = max_buffered
        self._idle_timeout = idle_timeout
        self._changed = threading.Condition()
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._ended = False
        self._broken: PipeBroken | None = None
        self._consumer_done = False

    @property
    def usable(self) -> bool:
        """True while the consumer is still taking bytes."""
        with self._changed:
            return not (self._consumer_done or self._broken or self._ended)

    def push(self, chunks: Sequence[bytes]) -> None:
        """Hand chunks over, waiting while the buffer is full; raise PipeBroken once the consumer has stopped."""
        with self._changed:
            for chunk in chunks:
                if not chunk:  # an empty read would look like the end of the stream to the consumer
                    continue
                while self._buffered >= self._max_buffered and not self._stopped():
                    self._changed.wait()
                if self._stopped():
                    raise self._broken or PipeBroken("the store stopped taking bytes", details={"at": self.offset})
                self._chunks.append(chunk)
                self._buffered += len(chunk)
                self.offset += len(chunk)
                self._changed.notify_all()

    def end(self) -> None:
        """Mark the end of the stream."""
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def abandon(self, reason: str) -> None:
        """Break the stream: the consumer's next read raises PipeBroken."""
        with self._changed:
            if self._broken is None and not self._consumer_done:
                self._broken = PipeBroken(f"the write to the store was abandoned: {reason}",
                                          details={"reason": reason, "received": self.offset})
            self._changed.notify_all()

    def consumer_done(self) -> None:
        """Called by the consumer when it stops reading, whatever the reason; frees the buffer."""
        with self._changed:
            self._consumer_done = True
            self._chunks.clear()
            self._buffered = 0
            self._changed.notify_all()

    def _stopped(self) -> bool:
        return self._consumer_done or self._broken is not None

    def read(self, size: int = -1) -> bytes:
        """Return up to size bytes (b"" at the end); raise PipeBroken if the stream broke off or went idle."""
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
