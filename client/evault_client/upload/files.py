"""Local files: which ones to send from a recorder folder, their SHA-256, and where their receipts live."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from evault_client.upload.errors import ClientError

CHUNK = 1024 * 1024
RECEIPT_SUFFIX = ".evault-receipt.json"
SIDECAR_NAMES = ("evault.json", "evault.toml")
CLEARED_NAME = "EVAULT-CLEARED.txt"
OWN_NAMES = frozenset({*SIDECAR_NAMES, CLEARED_NAME})


def is_ours(name: str) -> bool:
    """Return whether a file is one evault writes or reads beside footage (receipt, sidecar, clear list)."""
    return name.endswith(RECEIPT_SUFFIX) or name in OWN_NAMES


def is_candidate(name: str) -> bool:
    """Return whether a file name found in a folder is footage to send: neither hidden nor ours."""
    return not name.startswith(".") and not is_ours(name)


def receipt_path(path: Path) -> Path:
    """Return where the signed receipt of `path` is written: `<name>.evault-receipt.json` beside it."""
    return path.with_name(path.name + RECEIPT_SUFFIX)


def walk_folder(folder: Path) -> Iterator[Path]:
    """Yield candidate files under a folder, recursively, in name order, skipping hidden folders and symlinks."""
    with os.scandir(folder) as entries:
        ordered = sorted(entries, key=lambda e: e.name)
    for entry in ordered:
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_dir():
            yield from walk_folder(Path(entry.path))
        elif entry.is_file() and is_candidate(entry.name):
            yield Path(entry.path)


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Expand files and recorder folders into a de-duplicated list of files to send."""
    seen: set[Path] = set()
    result: list[Path] = []
    for path in paths:
        if path.is_dir():
            found: Iterable[Path] = walk_folder(path)
        elif path.is_file():
            found = [] if is_ours(path.name) else [path]  # `evault upload *` must not send our own receipts
        else:
            raise ClientError(f"{path}: no such file or folder")
        for file in found:
            resolved = file.resolve()
            if resolved not in seen:
                seen.add(resolved)
                result.append(file)
    return result


def sha256_file(path: Path, *, on_bytes: Callable[[int], None] | None = None) -> str:
    """Return the hex SHA-256 of a file, read in fixed chunks; `on_bytes` is told of each chunk's size."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return digest.hexdigest()
