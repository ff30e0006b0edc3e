"""The sealed stream a backup is written in: what comes back is exactly what went in, or nothing at all."""

from __future__ import annotations

import io
import os

import pytest

from evault.backup.sealed import CHUNK, TAG, SealBroken, SealedReader, SealedWriter

PASSPHRASE = b"a passphrase long enough"
HEADER = 16 + 3 + 16 + 7
# The format is under test here, not the work factor: a cheaper scrypt (the reader takes it from the header).
CHEAP = 12


def seal(data: bytes, *, pieces: int = 7) -> bytes:
    out = io.BytesIO()
    writer = SealedWriter(out, PASSPHRASE, log2_n=CHEAP)
    step = max(1, len(data) // pieces)
    for start in range(0, len(data), step):
        writer.write(data[start:start + step])
    writer.close()
    return out.getvalue()


def unseal(sealed: bytes, passphrase: bytes = PASSPHRASE, size: int = 5000) -> bytes:
    reader, parts = SealedReader(io.BytesIO(sealed), passphrase), []
    while part := reader.read(size):
        parts.append(part)
    return b"".join(parts)


@pytest.mark.parametrize("length", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
def test_what_is_sealed_comes_back_whole_at_every_chunk_boundary(length: int) -> None:
    data = os.urandom(length)
    sealed = seal(data)
    assert unseal(sealed) == data
    assert data[:64] not in sealed[HEADER:] or length < 64


def test_chunks_swapped_dropped_or_duplicated_are_refused() -> None:
    data = os.urandom(3 * CHUNK + 100)
    sealed = seal(data)
    size = CHUNK + TAG
    body = [sealed[HEADER + i * size:HEADER + (i + 1) * size] for i in range(4)]
    header = sealed[:HEADER]
    for tampered in (header + body[1] + body[0] + body[2] + body[3],  # reordered
                     header + body[0] + body[1] + body[3],  # one dropped from the middle
                     header + body[0] + body[1] + body[2],  # the last dropped: cut at a chunk boundary
                     header + body[0] + body[0] + body[1] + body[2] + body[3]):  # one repeated
        with pytest.raises(SealBroken):
            unseal(tampered)


def test_a_changed_header_or_passphrase_fails_before_any_byte_is_returned() -> None:
    sealed = bytearray(seal(b"catalog bytes" * 1000))
    with pytest.raises(SealBroken, match="wrong passphrase"):
        SealedReader(io.BytesIO(bytes(sealed)), b"another passphrase here").read(1)
    sealed[20] ^= 0x01  # inside the salt: another key, so the first chunk fails
    with pytest.raises(SealBroken):
        SealedReader(io.BytesIO(bytes(sealed)), PASSPHRASE).read(1)


def test_a_short_passphrase_is_refused() -> None:
    with pytest.raises(SealBroken, match="shorter"):
        SealedWriter(io.BytesIO(), b"short", log2_n=CHEAP)
