"""HTTP byte ranges (RFC 9110 §14): parse one `Range` header against a representation's size."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vault.errors import VaultError

_SPEC = re.compile(r"\s*(?P<first>[0-9]*)-(?P<last>[0-9]*)\s*$", re.ASCII)


class RangeNotSatisfiable(VaultError):
    """The requested range starts beyond the end of the file."""

    code = "range_not_satisfiable"
    status = 416

    def __init__(self, size: int) -> None:
        super().__init__(
            f"the requested range lies beyond the end of the file ({size} bytes)", details={"size": size}
        )
        self.size = size


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range [start, end] of a representation of `size` bytes."""

    start: int
    end: int
    size: int
    partial: bool

    @property
    def length(self) -> int:
        """Return the number of bytes in the range."""
        return self.end - self.start + 1

    def content_range(self) -> str:
        """Return the Content-Range header value."""
        return f"bytes {self.start}-{self.end}/{self.size}"


def _full(size: int) -> ByteRange:
    return ByteRange(0, max(size - 1, -1), size, partial=False)


def parse_range(header: str | None, size: int) -> ByteRange:
    """Return the range to serve; only the first of several ranges is served, malformed headers are ignored."""
    unit, _, specs = (header or "").partition("=")
    match = _SPEC.match(specs.split(",")[0])
    if unit.strip().lower() != "bytes" or match is None or not (match["first"] or match["last"]):
        return _full(size)
    if not match["first"]:
        suffix = int(match["last"])
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return ByteRange(max(size - suffix, 0), size - 1, size, partial=True)
    start = int(match["first"])
    end = int(match["last"]) if match["last"] else size - 1
    if start >= size:
        raise RangeNotSatisfiable(size)
    if end < start:
        return _full(size)
    return ByteRange(start, min(end, size - 1), size, partial=True)
