"""Several digests of one stream in one pass, the slower ones on a helper thread.

hashlib and cryptography release the GIL on large buffers, so SHA-512 (and SM3) of chunk N run beside SHA-256,
CRC-32 and I/O. SM3 comes from cryptography: hashlib has it only when its OpenSSL was built with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from cryptography.hazmat.primitives import hashes

FOREGROUND = "sha256"


class Sm3:
    """SM3 (GB/T 32905-2016) with hashlib's update/hexdigest, from cryptography whatever OpenSSL hashlib uses."""

    name = "sm3"

    def __init__(self, data: bytes = b"") -> None:
        self._hash = hashes.Hash(hashes.SM3())
        self._hash.update(data)

    def update(self, data: bytes) -> None:
        """Hash more bytes."""
        self._hash.update(data)

    def hexdigest(self) -> str:
        """Return the digest as lowercase hex (the hash can still be read again)."""
        return self._hash.copy().finalize().hex()


def new_hasher(name: str, data: bytes = b"") -> Any:
    """Return a hasher by name: SM3 from cryptography, everything else from hashlib."""
    return Sm3(data) if name == "sm3" else hashlib.new(name, data)


def _update(hashers: Sequence[Any], chunk: bytes) -> None:
    for hasher in hashers:
        hasher.update(chunk)


class MultiHasher:
    """Feed chunks in order; read `hexdigests()` at the end. Use as a context manager to stop the helper thread."""

    def __init__(self, algorithms: Sequence[str]) -> None:
        self._hashers = {name: new_hasher(name) for name in algorithms}
        self._background = [h for name, h in self._hashers.items() if name != FOREGROUND]
        self._foreground = self._hashers.get(FOREGROUND)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash") if self._background else None
        self._pending: Future[None] | None = None

    def update(self, chunk: bytes) -> None:
        """Hash one chunk with every algorithm (the caller must not reuse the buffer: pass bytes)."""
        self._wait()
        if self._pool is not None:
            self._pending = self._pool.submit(_update, self._background, chunk)
        if self._foreground is not None:
            self._foreground.update(chunk)

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def hexdigests(self) -> dict[str, str]:
        """Return every digest as lowercase hex."""
        self._wait()
        return {name: hasher.hexdigest() for name, hasher in self._hashers.items()}

    def close(self) -> None:
        """Stop the helper thread."""
        self._wait()
        if self._pool is not None:
            self._pool.shutdown()

    def __enter__(self) -> MultiHasher:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
