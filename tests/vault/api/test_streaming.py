"""A streamed body lets go of the stored file, or the S3 connection, when the client goes away mid-stream."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta

import anyio
import pytest
from starlette.requests import ClientDisconnect
from starlette.types import Message

from vault.api.streaming import ClosingStreamingResponse
from vault.context import VaultContext


async def _send_to_a_client_that_leaves(response: ClosingStreamingResponse, spec_version: str) -> int:
    """Serve the response to a client that takes one chunk and goes; return how many body messages it got."""
    sent: list[Message] = []

    async def receive() -> Message:
        await anyio.sleep(0.2)  # a chunk or two is on its way by then
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and spec_version >= "2.4" and len(sent) > 1:
            raise OSError("connection reset by peer")  # how an ASGI 2.4 server says the client went away
        sent.append(message)
        await anyio.sleep(0.05)

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": spec_version}}
    try:
        await response(scope, receive, send)
    except ClientDisconnect:
        assert spec_version >= "2.4"  # only there does Starlette learn of it from a failed send
    return sum(1 for m in sent if m["type"] == "http.response.body")


@pytest.mark.parametrize("spec_version", ["2.3", "2.4"])
def test_a_client_that_leaves_mid_stream_releases_the_stored_bytes(context: VaultContext, spec_version: str) -> None:
    data = os.urandom(16 * 1024 * 1024)
    stored = context.store.put_stream(io.BytesIO(data), retain_until=datetime.now(UTC) + timedelta(days=1))
    chunks = context.store.open_range(stored.key, stored.version_id)
    response = ClosingStreamingResponse(chunks, media_type="video/mp4")
    received = anyio.run(_send_to_a_client_that_leaves, response, spec_version)
    assert 1 <= received < 16  # the client left before the end
    # The response still holds the stream, so only closing can have ended it: it yields nothing more.
    assert next(chunks, None) is None
