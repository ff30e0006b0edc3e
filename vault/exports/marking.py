"""Per-recipient watermarks: each copy burned with recipient, export id and date, in a spool folder, never in memory.

A marked copy is derived at export time, so it carries its own spec: the original and the source it was made from
(the original, or an approved redacted version), the mark's text, the tool versions and its own SHA-256. A leaked
copy's hash, or the text in its frames, names the export it came from.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from vault.redaction.media import watermark

CHUNK = 4 * 1024 * 1024
MARKABLE = ("video/", "image/")


def mark_lines(*, recipient: str, export_id: str, made_at: datetime, zone: ZoneInfo) -> list[str]:
    """Return the mark's lines: recipient, export id, and the day in the agency's zone."""
    return [f"交付 To: {recipient}", f"导出 Export: {export_id}",
            f"日期 Date: {made_at.astimezone(zone).date().isoformat()}"]


def markable(media_type: str) -> bool:
    """Return whether a payload of this type is watermarked (video and photos; sound and documents are not)."""
    return media_type.startswith(MARKABLE)


def tool_versions() -> dict[str, str]:
    """Return the versions of the tools that burn a mark, for its spec."""
    done = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=False)
    first = done.stdout.splitlines()
    return {"ffmpeg": first[0] if first else "ffmpeg (version unknown)", "evault": metadata.version("evidence-vault")}


@dataclass(frozen=True)
class MarkedCopy:
    """A watermarked file in the spool, its digest, and what it was made from."""

    path: Path
    source_sha256: str
    source_size: int


@dataclass(frozen=True)
class Marker:
    """Burns one export's mark into copies, working in a folder of the export spool."""

    lines: list[str]
    font: Path
    spool: Path

    @contextmanager
    def copy(self, chunks: Iterable[bytes], *, suffix: str) -> Iterator[MarkedCopy]:
        """Write the source to the spool while hashing it, burn the mark, and yield the copy (removed afterwards)."""
        self.spool.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="mark-", dir=self.spool))
        try:
            source = work / f"source{suffix}"
            digest, size = hashlib.sha256(), 0
            with source.open("wb") as handle:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
            output = work / ("marked.jpg" if suffix.lower() in (".jpg", ".jpeg") else "marked.mp4")
            watermark(str(source), self.lines, output, font=self.font)
            yield MarkedCopy(output, digest.hexdigest(), size)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def file_chunks(path: Path) -> Iterator[bytes]:
    """Yield a file's bytes in fixed chunks."""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def source_matches(copy: MarkedCopy, *, sha256: str, size: int) -> bool:
    """Return whether the bytes a copy was made from are the ones the catalog recorded."""
    return copy.source_size == size and hmac.compare_digest(copy.source_sha256, sha256)


def mark_spec(*, original: dict[str, Any], source: dict[str, Any], lines: list[str], output: dict[str, Any],
              payload_path: str, made_at: datetime, tools: dict[str, str]) -> dict[str, Any]:
    """Return a watermarked copy's provenance: original, source, the mark's text, tools, and the output's hash."""
    return {
        "spec_version": 1,
        "kind": "watermarked",
        "payload_path": payload_path,
        "original": original,
        "source": source,
        "watermark": {"lines": lines, "position": "bottom right, half opaque, every frame"},
        "output": output,
        "rendered_at": made_at.isoformat(),
        "tools": tools,
    }
