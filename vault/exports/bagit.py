"""A BagIt (RFC 8493) bag written as a streamed ZIP64 archive: payload bytes pass through once, hashed in the loop."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from vault.exports.hashing import MultiHasher
from vault.text import safe_file_name

BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
PAYLOAD_ALGORITHMS = ("sha256", "sha512")


def safe_name(name: str, *, fallback: str = "original") -> str:
    """Return a file name usable in a bag path: one component, no separators or escapes, NFC, at most 255 bytes."""
    return safe_file_name(name, fallback=fallback)


def manifest_text(entries: Iterable[tuple[str, str]]) -> bytes:
    """Return a manifest (`digest  path` per line, sorted by path) as UTF-8 bytes."""
    return "".join(f"{digest}  {path}\n" for path, digest in sorted(entries)).encode()


def bag_info_text(fields: Iterable[tuple[str, str]]) -> bytes:
    """Return bag-info.txt: one `Label: value` per line, values flattened to a single line."""
    lines = []
    for label, value in fields:
        flat = " ".join(str(value).split())
        lines.append(f"{label}: {flat}\n")
    return "".join(lines).encode()


@dataclass(frozen=True)
class PayloadDigests:
    """What was measured while one payload file streamed into the bag."""

    path: str
    size: int
    sha256: str
    sha512: str
    sm3: str | None


class _Sink:
    """The unseekable file object zipfile writes into; hashes and counts the archive bytes as they pass."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes, /) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self.sha256.update(chunk)
        self.size += len(chunk)
        return len(chunk)

    def flush(self) -> None:
        """Nothing is buffered here; the consumer drains."""

    def close(self) -> None:
        """Nothing to release; zipfile never closes a file object it was handed."""

    def drain(self) -> bytes:
        parts, self._parts = self._parts, []
        return parts[0] if len(parts) == 1 else b"".join(parts)


@dataclass
class BagZipWriter:
    """Write one bag under `root/` into a ZIP64 stream; every method yields the archive bytes it produced."""

    root: str
    date_time: datetime
    _sink: _Sink = field(default_factory=_Sink, init=False)
    _zip: zipfile.ZipFile = field(init=False)
    payload: list[PayloadDigests] = field(default_factory=list, init=False)
    tag_digests: dict[str, dict[str, str]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        # An unseekable sink makes zipfile use data descriptors, so nothing is ever rewritten behind the stream.
        self._zip = zipfile.ZipFile(self._sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True)

    def _info(self, path: str) -> zipfile.ZipInfo:
        stamp = self.date_time
        info = zipfile.ZipInfo(
            f"{self.root}/{path}", (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
        )
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o444 << 16
        return info

    def add_payload(
        self, path: str, chunks: Iterable[bytes], *, compute_sm3: bool
    ) -> Generator[bytes, None, PayloadDigests]:
        """Stream one payload file into data/, hashing SHA-256, SHA-512 (and SM3 if asked) in the same loop."""
        algorithms = [*PAYLOAD_ALGORITHMS, "sm3"] if compute_sm3 else list(PAYLOAD_ALGORITHMS)
        size = 0
        with MultiHasher(algorithms) as hasher, self._zip.open(self._info(path), "w", force_zip64=True) as member:
            for chunk in chunks:
                hasher.update(chunk)
                size += len(chunk)
                member.write(chunk)
                yield self._sink.drain()
            found = hasher.hexdigests()
        yield self._sink.drain()
        digests = PayloadDigests(path, size, found["sha256"], found["sha512"], found.get("sm3"))
        self.payload.append(digests)
        return digests

    def add_tag(self, path: str, data: bytes, *, listed: bool = True) -> bytes:
        """Write a small tag file; listed ones go into the tag manifests."""
        self._zip.writestr(self._info(path), data)
        if listed:
            self.tag_digests[path] = {alg: hashlib.new(alg, data).hexdigest() for alg in PAYLOAD_ALGORITHMS}
        return self._sink.drain()

    def payload_manifest(self, algorithm: str) -> bytes:
        """Return manifest-<algorithm>.txt for the payload written so far."""
        return manifest_text((d.path, getattr(d, algorithm)) for d in self.payload)

    def tag_manifest(self, algorithm: str) -> bytes:
        """Return tagmanifest-<algorithm>.txt over the listed tag files written so far."""
        return manifest_text((path, digests[algorithm]) for path, digests in self.tag_digests.items())

    def close(self) -> bytes:
        """Write the central directory and return the last bytes of the archive."""
        self._zip.close()
        return self._sink.drain()

    @property
    def archive_sha256(self) -> str:
        """Return the SHA-256 of every archive byte produced so far."""
        return self._sink.sha256.hexdigest()

    @property
    def archive_size(self) -> int:
        """Return how many archive bytes were produced so far."""
        return self._sink.size
