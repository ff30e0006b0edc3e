"""A passphrase-sealed byte stream: scrypt derives an AES-256-GCM key, and the plaintext is cut into fixed chunks,
each sealed with its own nonce (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár, as Tink's
streaming AEAD and age use it): nonce = 7-byte random prefix || 4-byte chunk counter || 1-byte last-chunk flag.

The header (format, scrypt parameters, salt, nonce prefix) is the associated data of every chunk, so changing it
fails the first chunk; a reordered chunk fails its counter, a dropped tail fails for want of a chunk flagged last,
and bytes after the last chunk are refused. Nothing read is handed out before its chunk authenticated.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from vault.errors import VaultError

MAGIC = b"EVAULT-BACKUP\x00v1"
CHUNK = 64 * 1024
TAG = 16
# scrypt work factor: 2**17 with r=8 costs 128 MiB and a fraction of a second, once per backup or restore.
SCRYPT_LOG2_N = 17
SCRYPT_R = 8
SCRYPT_P = 1
_HEADER = struct.Struct(">16sBBB16s7s")
MIN_PASSPHRASE = 12


class SealBroken(VaultError):
    """The backup cannot be opened: a wrong passphrase, or a file that was cut short, reordered or altered."""

    code = "backup_unreadable"
    status = 422


def _key(passphrase: bytes, salt: bytes, log2_n: int, r: int, p: int) -> AESGCM:
    if not 10 <= log2_n <= 22 or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise SealBroken("the backup's key-derivation parameters are out of range")
    return AESGCM(Scrypt(salt=salt, length=32, n=2**log2_n, r=r, p=p).derive(passphrase))


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


class SealedWriter:
    """A write-only file object that seals what it is given, chunk by chunk, onto `out`; `close()` seals the end."""

    def __init__(self, out: BinaryIO, passphrase: bytes, *, log2_n: int = SCRYPT_LOG2_N) -> None:
        if len(passphrase) < MIN_PASSPHRASE:
            raise SealBroken(f"the passphrase is shorter than {MIN_PASSPHRASE} bytes")
        salt, self._prefix = os.urandom(16), os.urandom(7)
        self._header = _HEADER.pack(MAGIC, log2_n, SCRYPT_R, SCRYPT_P, salt, self._prefix)
        self._aead = _key(passphrase, salt, log2_n, SCRYPT_R, SCRYPT_P)
        self._out, self._buffer, self._counter, self.closed = out, bytearray(), 0, False
        out.write(self._header)

    def write(self, data: bytes) -> int:
        """Buffer data, sealing every full chunk (never the one that may turn out to be the last)."""
        self._buffer += data
        while len(self._buffer) > CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def _seal(self, chunk: bytes, *, last: bool) -> None:
        if self._counter >= 2**32 - 1:
            raise SealBroken("the backup is too large for one sealed stream")
        self._out.write(self._aead.encrypt(_nonce(self._prefix, self._counter, last), chunk, self._header))
        self._counter += 1

    def flush(self) -> None:
        """Flush the underlying file (sealed chunks only: the buffered tail waits for close)."""
        self._out.flush()

    def close(self) -> None:
        """Seal the buffered tail as the last chunk (possibly empty)."""
        if not self.closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self.closed = True


class SealedReader:
    """A read-only file object over a sealed stream; raises SealBroken rather than yield unauthenticated bytes."""

    def __init__(self, source: BinaryIO, passphrase: bytes) -> None:
        header = source.read(_HEADER.size)
        if len(header) != _HEADER.size or not header.startswith(MAGIC):
            raise SealBroken("this is not an Evidence Vault backup (or its header is damaged)")
        _, log2_n, r, p, salt, self._prefix = _HEADER.unpack(header)
        self._aead = _key(passphrase, salt, log2_n, r, p)
        self._source, self._header = source, header
        self._plain, self._counter, self._ended = b"", 0, False

    def _next_chunk(self) -> None:
        sealed = self._source.read(CHUNK + TAG)
        if len(sealed) < TAG:
            raise SealBroken("the backup ends before its last chunk: the file was cut short")
        # A full chunk may be the last one (the plaintext filled it exactly): try both flags, each authenticated.
        for flag in ((False, True) if len(sealed) == CHUNK + TAG else (True,)):
            try:
                self._plain = self._aead.decrypt(_nonce(self._prefix, self._counter, flag), sealed, self._header)
            except InvalidTag:
                continue
            self._counter += 1
            self._ended = flag
            if flag and self._source.read(1):
                raise SealBroken("the backup has bytes after its last chunk")
            return
        if self._counter == 0:
            raise SealBroken("wrong passphrase, or the backup's first chunk was altered")
        raise SealBroken(f"chunk {self._counter} of the backup was altered, reordered or cut short")

    def read(self, size: int = -1) -> bytes:
        """Return up to size authenticated bytes (all that remain if size < 0); b"" only after the last chunk."""
        parts: list[bytes] = []
        wanted = size if size >= 0 else None
        while wanted is None or wanted > 0:
            if not self._plain:
                if self._ended:
                    break
                self._next_chunk()
                continue
            take = self._plain if wanted is None else self._plain[:wanted]
            self._plain = self._plain[len(take):]
            parts.append(take)
            if wanted is not None:
                wanted -= len(take)
        return b"".join(parts)
