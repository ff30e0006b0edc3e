"""Reads that fail before they start: a stream whose first chunk is fetched when it is opened."""

from __future__ import annotations

from collections.abc import Generator, Iterator


class PrimedStream(Iterator[bytes]):
    """Chunks of a stored object, the first read on creation, so a failing store raises before any status line.

    Iterating yields every chunk in order; `close()` releases the file or connection even if never iterated.
    """

    def __init__(self, chunks: Generator[bytes, None, None]) -> None:
        self._chunks = chunks
        self._first: bytes | None = next(chunks, None)

    def __iter__(self) -> PrimedStream:
        return self

    def __next__(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return next(self._chunks)

    def close(self) -> None:
        """Release what the stream holds open."""
        self._first = None
        self._chunks.close()
