"""Deliver each record into the bag: its original as stored, its approved redacted version, or a watermarked copy.

Every byte is checked against the catalog as it passes (an original against its ingest digests, a redacted
version against its derivative's SHA-256); a derived copy gets its spec, which names its original and source.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from vault.errors import VaultError
from vault.exports import layout
from vault.exports.bagit import BagZipWriter, PayloadDigests
from vault.exports.marking import Marker, file_chunks, mark_spec, markable, tool_versions
from vault.exports.versions import RedactedVersion
from vault.storage.base import BlobStore

log = structlog.get_logger(__name__)


class PayloadMismatch(VaultError):
    """A stored original no longer matches the size or digest recorded at ingest; the bundle is abandoned."""

    code = "integrity_failure"
    status = 500


@dataclass(frozen=True)
class PlanRecord:
    """One record to include: where its original's bytes are, what they must hash to, its metadata and versions."""

    evidence_id: uuid.UUID
    path: str
    storage_key: str
    version_id: str
    size: int
    sha256: str
    sm3: str | None
    metadata: dict[str, Any]
    custody_events: int
    media_type: str = "application/octet-stream"
    include_original: bool = True  # False in a party copy that carries the approved redacted version instead
    redacted: RedactedVersion | None = None


@dataclass(frozen=True)
class Source:
    """One file to deliver for a record: where its bytes are and what they must hash to."""

    kind: str  # "original" or "redacted"
    path: str
    storage_key: str
    version_id: str
    size: int
    sha256: str
    media_type: str


def sources(record: PlanRecord) -> list[Source]:
    """Return what goes into the bag for a record: its original, its redacted version, or both."""
    found = []
    if record.include_original:
        found.append(Source("original", record.path, record.storage_key, record.version_id, record.size,
                            record.sha256, record.media_type))
    version = record.redacted
    if version is not None:
        found.append(Source("redacted", f"data/{record.evidence_id}/redacted-{version.edit_id}.mp4",
                            version.storage_key, version.version_id, version.size, version.sha256,
                            version.media_type))
    return found


def _check(record: PlanRecord, source: Source, size: int, sha256: str, sm3: str | None = None) -> None:
    problems = []
    if size != source.size:
        problems.append(f"size {size} differs from the recorded {source.size}")
    if not hmac.compare_digest(sha256, source.sha256):
        problems.append(f"SHA-256 {sha256} differs from the recorded {source.sha256}")
    if source.kind == "original" and record.sm3 and sm3 and not hmac.compare_digest(sm3, record.sm3):
        problems.append(f"SM3 {sm3} differs from the recorded {record.sm3}")
    if problems:
        log.error("export.payload_mismatch", evidence_id=str(record.evidence_id), source=source.kind,
                  problems=problems)
        what = "stored original" if source.kind == "original" else "stored redacted version of"
        raise PayloadMismatch(
            f"{what} {record.evidence_id} no longer matches its recorded digests: {'; '.join(problems)}",
            details={"evidence_id": str(record.evidence_id), "problems": problems, "source": source.kind},
        )


@dataclass
class Deliveries:
    """Streams every record's files into one bag and keeps the specs of the derived copies it delivered."""

    store: BlobStore
    made_at: datetime
    compute_sm3: bool = False
    marker: Marker | None = None
    specs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    delivered: dict[uuid.UUID, list[dict[str, Any]]] = field(default_factory=dict)
    _tools: dict[str, str] | None = None

    def deliver(self, writer: BagZipWriter, record: PlanRecord) -> Generator[bytes, None, None]:
        """Yield the archive bytes of every file delivered for one record."""
        for source in sources(record):
            chunks = self.store.open_range(source.storage_key, source.version_id)
            if self.marker is not None and markable(source.media_type):
                yield from self._marked(writer, record, source, chunks, self.marker)
                continue
            # SM3 of derived copies is always computed: the vault never recorded one.
            need_sm3 = self.compute_sm3 or record.sm3 is None or source.kind != "original"
            digests = yield from writer.add_payload(source.path, chunks, compute_sm3=need_sm3)
            _check(record, source, digests.size, digests.sha256, digests.sm3)
            self._note(record, source.kind, digests)
            if source.kind == "redacted":
                self._redacted_spec(record, payload_path=source.path)

    def _marked(self, writer: BagZipWriter, record: PlanRecord, source: Source, chunks: Iterable[bytes],
                marker: Marker) -> Generator[bytes, None, None]:
        with marker.copy(chunks, suffix=Path(source.path).suffix or ".mp4") as copy:
            _check(record, source, copy.source_size, copy.source_sha256)
            path = f"data/{record.evidence_id}/watermarked-{Path(source.path).stem}{copy.path.suffix}"
            digests = yield from writer.add_payload(path, file_chunks(copy.path), compute_sm3=True)
        media_type = "image/jpeg" if path.endswith(".jpg") else "video/mp4"
        origin = {"kind": source.kind, "sha256": source.sha256, "size": source.size}
        if record.redacted is not None and source.kind == "redacted":
            origin["edit_id"] = str(record.redacted.edit_id)
            self._redacted_spec(record, payload_path=None)
        spec = mark_spec(original=self._original(record), source=origin, lines=marker.lines,
                         output={"sha256": digests.sha256, "size": digests.size, "media_type": media_type},
                         payload_path=path, made_at=self.made_at, tools=self._tool_versions())
        self.specs.append((f"{layout.DERIVATIVES_DIR}{record.evidence_id}-watermarked-{source.kind}.json", spec))
        self._note(record, "watermarked", digests, source=source.kind)

    def _tool_versions(self) -> dict[str, str]:
        if self._tools is None:
            self._tools = tool_versions()
        return self._tools

    @staticmethod
    def _original(record: PlanRecord) -> dict[str, Any]:
        return {"evidence_id": str(record.evidence_id), "sha256": record.sha256, "size": record.size}

    def _redacted_spec(self, record: PlanRecord, *, payload_path: str | None) -> None:
        """Add the approved redacted version's provenance; without a path its bytes reach the bag only marked."""
        assert record.redacted is not None
        spec = {**record.redacted.provenance, "kind": "redacted", "payload_path": payload_path,
                "derivative_id": str(record.redacted.derivative_id)}
        self.specs.append((f"{layout.DERIVATIVES_DIR}{record.evidence_id}-redacted-{record.redacted.edit_id}.json",
                           spec))

    def _note(self, record: PlanRecord, kind: str, digests: PayloadDigests, source: str | None = None) -> None:
        entry = {"kind": kind, "path": digests.path, "sha256": digests.sha256, "size": digests.size}
        self.delivered.setdefault(record.evidence_id, []).append({**entry, **({"source": source} if source else {})})
