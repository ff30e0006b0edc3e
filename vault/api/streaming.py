"""A streaming response that releases what its body holds open as soon as the response ends."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class ClosingStreamingResponse(StreamingResponse):
    """Stream a sync iterator of bytes and close it when the response ends, the client's going away included.

    Starlette leaves an abandoned iterator to the garbage collector: a stored file then stays open until a collection,
    which may warn about it, and an S3 connection goes back to the pool late.
    """

    def __init__(self, content: Iterable[bytes], status_code: int = 200, headers: Mapping[str, str] | None = None,
                 media_type: str | None = None) -> None:
        self._source: Iterator[bytes] = iter(content)
        super().__init__(self._source, status_code=status_code, headers=headers, media_type=media_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the response, then close the source; the worker thread reading it has finished by then."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()
