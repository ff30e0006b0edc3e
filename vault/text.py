"""Text a client may send: bounded, encodable as UTF-8, free of NUL; and file names bounded for any file system."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

# ext4, XFS, NTFS (in UTF-16 units) and ZIP readers all cap one path component at 255 bytes.
MAX_NAME_BYTES = 255
# What a written file name may not hold: separators, what a BagIt manifest (RFC 8493 §2.1.3), `sha256sum -c` or
# Windows would mangle, and control characters.
_UNSAFE_IN_NAME = set("/\\%\r\n\t\"'`$:*?<>|") | {chr(c) for c in range(32)} | {"\x7f"}


def text_problem(value: str) -> str | None:
    """Say why text cannot be stored, signed or logged (a NUL or a lone surrogate), or None when it can."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text: it holds a lone surrogate"
    return None


def check_text(value: str) -> str:
    """Return the value if it can be stored as UTF-8 everywhere (PostgreSQL refuses NUL and surrogates)."""
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# One rule for every free-text field of every request; each bound matches the catalog column that keeps the text.
Code = Annotated[str, StringConstraints(max_length=64), AfterValidator(check_text)]
"""A certificate number, serial, phone number or other short code."""
Name = Annotated[str, StringConstraints(max_length=128), AfterValidator(check_text)]
"""A user, handler or display name, a label, a case number."""
Title = Annotated[str, StringConstraints(max_length=256), AfterValidator(check_text)]
"""A party's name, a unit."""
Line = Annotated[str, StringConstraints(max_length=512), AfterValidator(check_text)]
"""A case title, recipient, address or other one-line text."""
Reason = Annotated[str, StringConstraints(max_length=2000), AfterValidator(check_text)]
"""Why tags changed, why an upload is late."""
Paragraph = Annotated[str, StringConstraints(max_length=4000), AfterValidator(check_text)]
"""A reason or note on a decision."""
LongText = Annotated[str, StringConstraints(max_length=8000), AfterValidator(check_text)]
"""Free notes on a record."""
Document = Annotated[str, StringConstraints(max_length=2_000_000), AfterValidator(check_text)]
"""A whole text document sent as the body, such as a CSV import."""


def safe_file_name(name: str, *, fallback: str = "original", max_bytes: int = MAX_NAME_BYTES) -> str:
    """Return a single, NFC, separator-free file name of at most max_bytes of UTF-8, keeping its extension."""
    cleaned = "".join("_" if c in _UNSAFE_IN_NAME else c for c in unicodedata.normalize("NFC", name))
    cleaned = cleaned.encode("utf-8", "replace").decode("utf-8").strip(" .")
    if not cleaned:
        return fallback
    stem, dot, extension = cleaned.rpartition(".")
    if not dot or not stem or len(extension.encode()) > 16:
        stem, extension = cleaned, ""
    suffix = f".{extension}" if extension else ""
    room = max_bytes - len(suffix.encode())
    return _cut(stem, room).rstrip(" .") + suffix if len(cleaned.encode()) > max_bytes else cleaned


def _cut(text: str, max_bytes: int) -> str:
    """Cut text to at most max_bytes of UTF-8 without splitting a character."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
