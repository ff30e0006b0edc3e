"""The backup file: a tar stream of parts (the catalog copy, the keys, the settings a restore needs, and last a
manifest with every part's SHA-256), sealed with a passphrase. Written and read in chunks: flat memory."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from evault.backup.catalog import POSTGRES_PART, SQLITE_PART, catalog_kind, dump_postgres, snapshot_sqlite
from evault.backup.sealed import CHUNK, SealBroken, SealedReader, SealedWriter
from vault.config import Settings
from vault.custody.anchoring import CheckpointAnchors
from vault.errors import Conflict
from vault.keys import DATA_KEY_FILE, LOG_ORIGIN_FILE, RETIRED_KEYS_DIR, SIGNING_KEY_FILE, canonical_json

FORMAT = "evault-backup/1"
MANIFEST = "manifest.json"
SETTINGS_PART = "settings.json"
KEY_PARTS = {f"keys/{SIGNING_KEY_FILE}", f"keys/{DATA_KEY_FILE}"}
# Present once the signing key was rotated: the log's origin and the retired keys' public halves.
ROTATION_PARTS = (f"keys/{LOG_ORIGIN_FILE}", f"keys/{RETIRED_KEYS_DIR}/")


def key_parts(home: Path) -> list[str]:
    """Return the key files a backup of this home carries: both keys, and what rotations left beside them."""
    names = set(KEY_PARTS)
    if (home / "keys" / LOG_ORIGIN_FILE).exists():
        names.add(f"keys/{LOG_ORIGIN_FILE}")
    names.update(f"keys/{RETIRED_KEYS_DIR}/{p.name}" for p in (home / "keys" / RETIRED_KEYS_DIR).glob("*.pem"))
    return sorted(names)


def _rotation_part(name: str) -> bool:
    folder, _, file = name.rpartition("/")
    return name == ROTATION_PARTS[0] or (f"{folder}/" == ROTATION_PARTS[1] and file.endswith(".pem")
                                         and file.count(".") == 1 and file.isascii())


@dataclass(frozen=True)
class Backup:
    """A backup as written or as unpacked: its manifest, the manifest's digest, and where the parts are."""

    manifest: dict[str, Any]
    digest: str
    folder: Path | None = None

    def part(self, name: str) -> Path:
        """Return the unpacked file of one part."""
        assert self.folder is not None
        return self.folder / name


class _Hashing:
    """A reader that hashes and counts what passes through it."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source, self.sha256, self.size = source, hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data


def restore_settings(settings: Settings) -> dict[str, Any]:
    """Return the settings a restore must match (the store and the log's origin); never a secret."""
    return {"store": settings.store, "s3_endpoint": settings.s3_endpoint, "s3_bucket": settings.s3_bucket,
            "s3_secure": settings.s3_secure, "s3_lock_mode": settings.s3_lock_mode.value,
            "log_origin": settings.log_origin, "agency_name": settings.agency_name, "timezone": settings.timezone}


def _add(archive: tarfile.TarFile, name: str, source: IO[bytes], size: int, parts: dict[str, Any]) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o600
    hashing = _Hashing(source)
    archive.addfile(info, hashing)
    parts[name] = {"sha256": hashing.sha256.hexdigest(), "size": hashing.size}


def _add_file(archive: tarfile.TarFile, name: str, path: Path, parts: dict[str, Any]) -> None:
    with path.open("rb") as handle:
        _add(archive, name, handle, path.stat().st_size, parts)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes, parts: dict[str, Any]) -> None:
    _add(archive, name, io.BytesIO(data), len(data), parts)


def _anchor_summary(anchors: CheckpointAnchors) -> dict[str, Any] | None:
    newest = anchors.latest()
    if newest is None:
        return None
    return {"tree_size": newest.tree_size, "root_hash": newest.root.hex(), "location": newest.location}


def write_backup(settings: Settings, *, target: Path, passphrase: bytes, anchors: CheckpointAnchors,
                 now: datetime) -> Backup:
    """Write one consistent, sealed copy of the catalog and the keys to target (0600, never over a file)."""
    if target.exists():
        raise Conflict(f"{target} exists; a backup never overwrites a file")
    # The plain catalog copy waits in the home, beside the live catalog and the keys, never beside the target.
    url, work = settings.resolved_database_url, Path(tempfile.mkdtemp(prefix=".backup-", dir=settings.home))
    partial = target.with_name(f".{target.name}.partial")
    try:
        kind = catalog_kind(url)
        catalog_part = SQLITE_PART if kind == "sqlite" else POSTGRES_PART
        copy = work / "catalog"
        described = snapshot_sqlite(url, copy) if kind == "sqlite" else dump_postgres(url, copy)
        parts: dict[str, Any] = {}
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            sealed = SealedWriter(out, passphrase)
            with tarfile.open(fileobj=sealed, mode="w|", format=tarfile.PAX_FORMAT) as archive:  # type: ignore[call-overload]
                _add_file(archive, catalog_part, copy, parts)
                for name in key_parts(settings.home):
                    _add_file(archive, name, settings.home / name, parts)
                _add_bytes(archive, SETTINGS_PART, canonical_json(restore_settings(settings)), parts)
                manifest = {"format": FORMAT, "created_at": now.isoformat(), "catalog": {
                    "kind": kind, "part": catalog_part, **described}, "anchor": _anchor_summary(anchors),
                    "parts": parts}
                encoded = canonical_json(manifest)
                _add_bytes(archive, MANIFEST, encoded, {})
            sealed.close()
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        partial.unlink(missing_ok=True)
    return Backup(manifest=manifest, digest=hashlib.sha256(encoded).hexdigest())


def _allowed(name: str) -> bool:
    return name in KEY_PARTS or _rotation_part(name) or name in (SQLITE_PART, POSTGRES_PART, SETTINGS_PART, MANIFEST)


def _extract(archive: tarfile.TarFile, folder: Path) -> tuple[dict[str, dict[str, Any]], bytes]:
    seen: dict[str, dict[str, Any]] = {}
    manifest = b""
    for member in archive:
        if not member.isfile() or not _allowed(member.name) or member.name in seen:
            raise SealBroken(f"the backup holds an unexpected part {member.name!r}")
        source = archive.extractfile(member)
        assert source is not None
        if member.name == MANIFEST:
            manifest = source.read(1024 * 1024)
            seen[MANIFEST] = {}
            continue
        path = folder / member.name
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        hashing = _Hashing(source)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            while chunk := hashing.read(CHUNK):
                out.write(chunk)
        seen[member.name] = {"sha256": hashing.sha256.hexdigest(), "size": hashing.size}
    return seen, manifest


def unpack_backup(source: BinaryIO, *, passphrase: bytes, folder: Path) -> Backup:
    """Decrypt a backup into folder and check every part against the manifest; raise SealBroken on any doubt."""
    reader = SealedReader(source, passphrase)
    try:
        with tarfile.open(fileobj=reader, mode="r|") as archive:  # type: ignore[call-overload]
            seen, encoded = _extract(archive, folder)
        while reader.read(CHUNK):  # the tar ends before the stream does: authenticate the last chunk too
            pass
    except tarfile.TarError as exc:
        raise SealBroken(f"the backup's contents are not readable: {exc}") from exc
    try:
        manifest = json.loads(encoded)
    except ValueError as exc:
        raise SealBroken("the backup has no readable manifest") from exc
    if manifest.get("format") != FORMAT:
        raise SealBroken(f"the backup's format is {manifest.get('format')!r}, not {FORMAT}")
    parts = manifest.get("parts", {})
    unpacked = {name: value for name, value in seen.items() if name != MANIFEST}
    if set(unpacked) != set(parts) or not set(parts) >= KEY_PARTS or manifest["catalog"]["part"] not in parts:
        raise SealBroken("the backup's parts do not match its manifest")
    for name, found in unpacked.items():
        if not hmac.compare_digest(found["sha256"], str(parts[name]["sha256"])) or found["size"] != parts[name]["size"]:
            raise SealBroken(f"part {name} does not match the SHA-256 in the backup's manifest")
    return Backup(manifest=manifest, digest=hashlib.sha256(encoded).hexdigest(), folder=folder)
