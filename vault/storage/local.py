"""Content-addressed, write-once folder store: the embedded default backend."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from vault.errors import NotFound, ObjectLocked, RetentionShortening, StorageError
from vault.storage.base import (
    CHUNK_SIZE,
    Accept,
    BlobStat,
    HashingReader,
    LockMode,
    StoredBlob,
    verify_expected,
    verify_length,
)
from vault.storage.reading import PrimedStream

VERSION = "1"  # content addressing makes every key immutable, so each key has exactly one version


@dataclass(frozen=True)
class _Lock:
    retain_until: datetime | None
    legal_hold: bool


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _unreadable(key: str, exc: OSError) -> StorageError:
    return StorageError(f"stored object {key} cannot be read: {exc.strerror}", details={"key": key})


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """Stores each object once under its SHA-256 and enforces retention and holds itself."""

    name = "local"

    def __init__(self, root: Path, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.root = root
        self._clock = clock
        self._tmp = root / ".incoming"

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise NotFound(f"no object {key!r} in the local store")
        return self.root / key[:2] / key[2:4] / key

    def _lock_path(self, key: str) -> Path:
        return self._path(key).with_suffix(".lock.json")

    def put_stream(
        self,
        stream: BinaryIO,
        *,
        retain_until: datetime,
        expected_sha256: str | None = None,
        max_size: int | None = None,
        content_type: str = "application/octet-stream",
        accept: Accept | None = None,
        length: int | None = None,
    ) -> StoredBlob:
        """Write to a temp file, fsync, rename into place by hash, fsync the folder, make it read-only."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        reader = HashingReader(stream, max_size=max_size)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        tmp_path = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := reader.read(CHUNK_SIZE):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = reader.hexdigest()
            verify_length(reader.size, length)
            verify_expected(sha256, expected_sha256)
            return self.adopt_file(tmp_path, sha256=sha256, size=reader.size, retain_until=retain_until,
                                   accept=accept)
        finally:
            tmp_path.unlink(missing_ok=True)

    def adopt_file(self, path: Path, *, sha256: str, size: int, retain_until: datetime,
                   accept: Accept | None = None) -> StoredBlob:
        """Move an already hashed and fsynced file (on the same filesystem) into the store, if `accept` agrees."""
        blob = StoredBlob(key=sha256, version_id=VERSION, size=size, sha256=sha256)
        if accept is not None:
            accept(blob)
        final = self._path(sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            path.unlink(missing_ok=True)  # identical bytes are already stored write-once
        else:
            os.chmod(path, 0o444)
            os.rename(path, final)
            _fsync_dir(final.parent)
        current = self._read_lock(sha256)
        if current.retain_until is None or retain_until > current.retain_until:
            self._write_lock(sha256, retain_until=retain_until, legal_hold=current.legal_hold)
        return blob

    def _read_lock(self, key: str) -> _Lock:
        path = self._lock_path(key)
        if not path.exists():
            return _Lock(retain_until=None, legal_hold=False)
        data = json.loads(path.read_text())
        return _Lock(retain_until=datetime.fromisoformat(data["retain_until"]), legal_hold=bool(data["legal_hold"]))

    def _write_lock(self, key: str, *, retain_until: datetime, legal_hold: bool) -> None:
        path = self._lock_path(key)
        body = json.dumps({"retain_until": retain_until.astimezone(UTC).isoformat(), "legal_hold": legal_hold})
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".lock-")
        with os.fdopen(fd, "w") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
        _fsync_dir(path.parent)

    def _existing(self, key: str, version_id: str) -> Path:
        path = self._path(key)
        if version_id != VERSION or not path.exists():
            raise NotFound(f"no object {key} (version {version_id}) in the local store")
        return path

    def read_only_path(self, key: str, version_id: str) -> Path:
        """Return the stored file itself (read-only on disk), for tools such as ffmpeg that must seek in it."""
        return self._existing(key, version_id)

    def open_range(self, key: str, version_id: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Open bytes start..end (inclusive) of the stored object; an unreadable file raises here, not mid-stream."""
        path = self._existing(key, version_id)
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise _unreadable(key, exc) from exc
        size = os.fstat(handle.fileno()).st_size
        last = size - 1 if end is None else min(end, size - 1)

        def chunks() -> Generator[bytes, None, None]:
            with handle:
                try:
                    handle.seek(start)
                    remaining = last - start + 1
                    while remaining > 0:
                        chunk = handle.read(min(CHUNK_SIZE, remaining))
                        if not chunk:
                            break
                        remaining -= len(chunk)
                        yield chunk
                except OSError as exc:
                    raise _unreadable(key, exc) from exc

        return PrimedStream(chunks())

    def stat(self, key: str, version_id: str) -> BlobStat:
        """Return size and the lock this store enforces."""
        path = self._existing(key, version_id)
        lock = self._read_lock(key)
        return BlobStat(
            key=key,
            version_id=version_id,
            size=path.stat().st_size,
            retain_until=lock.retain_until,
            legal_hold=lock.legal_hold,
            lock_mode=LockMode.COMPLIANCE,
        )

    def set_retention(self, key: str, version_id: str, retain_until: datetime) -> None:
        """Extend retention; refuse to shorten it."""
        current = self.stat(key, version_id)
        if current.retain_until is not None and retain_until < current.retain_until:
            raise RetentionShortening(
                f"retention of {key} runs until {current.retain_until.isoformat()}; it cannot be shortened",
                details={"current": current.retain_until.isoformat(), "requested": retain_until.isoformat()},
            )
        self._write_lock(key, retain_until=retain_until, legal_hold=current.legal_hold)

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> None:
        """Place or release a legal hold."""
        current = self.stat(key, version_id)
        assert current.retain_until is not None  # every stored object has a lock file
        self._write_lock(key, retain_until=current.retain_until, legal_hold=on)

    def delete(self, key: str, version_id: str) -> None:
        """Delete the object once retention has passed and no hold is on."""
        current = self.stat(key, version_id)
        if current.legal_hold:
            raise ObjectLocked(f"object {key} is under legal hold", details={"key": key})
        if current.retain_until is None or self._clock() < current.retain_until:
            until = current.retain_until.isoformat() if current.retain_until else "unknown"
            raise ObjectLocked(f"object {key} is retained until {until}", details={"key": key, "retain_until": until})
        path = self._path(key)
        os.chmod(path, 0o644)
        path.unlink()
        self._lock_path(key).unlink(missing_ok=True)
        _fsync_dir(path.parent)

    def presign_get(self, key: str, version_id: str, *, expires_seconds: int) -> str | None:
        """Return None: the folder store serves content only through the API."""
        return None

    def check(self) -> None:
        """Raise StorageError unless the store folder is writable."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self._tmp)  # noqa: SIM115 - closed right away
            probe.close()
        except OSError as exc:
            raise StorageError(f"local store at {self.root} is not writable: {exc.strerror}") from exc
