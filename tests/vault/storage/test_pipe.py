"""The hand-over between the thread receiving an upload and the thread sending it to a store."""

from __future__ import annotations

import threading

import pytest

from vault.storage.pipe import ChunkQueue, PipeBroken


def drain(queue: ChunkQueue) -> bytes:
    out = bytearray()
    while chunk := queue.read(1000):
        out += chunk
    return bytes(out)


def test_chunks_come_out_in_order_in_reads_of_any_size() -> None:
    queue = ChunkQueue()
    queue.push([b"a" * 2500, b"b" * 10])
    queue.end()
    assert drain(queue) == b"a" * 2500 + b"b" * 10
    assert queue.offset == 2510


def test_an_empty_chunk_mid_stream_is_not_taken_for_the_end() -> None:
    # A web framework ends a request body with an empty chunk; the store must not stop reading there.
    queue = ChunkQueue()
    queue.push([b"head", b"", b"tail"])
    queue.end()
    assert drain(queue) == b"headtail"


def test_an_abandoned_stream_breaks_the_reader() -> None:
    queue = ChunkQueue()
    queue.push([b"first bytes"])
    queue.abandon("the client went away")
    assert not queue.usable
    with pytest.raises(PipeBroken, match="client went away"):
        queue.read()


def test_a_stream_that_stalls_past_the_idle_timeout_breaks_the_reader() -> None:
    queue = ChunkQueue(idle_timeout=0.2)
    queue.push([b"x"])
    assert queue.read() == b"x"
    with pytest.raises(PipeBroken, match="no bytes arrived"):
        queue.read()


def test_a_consumer_that_stops_never_leaves_the_producer_blocked() -> None:
    queue = ChunkQueue(max_buffered=1000)
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            queue.push([b"y" * 600 for _ in range(10)])
        except PipeBroken as exc:
            errors.append(exc)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    queue.read(600)
    queue.consumer_done()
    producer.join(10)
    assert not producer.is_alive(), "push stayed blocked after the consumer stopped"
    assert len(errors) == 1
