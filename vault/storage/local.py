"""Content-addressed, write-once folder store: the embedded default backend."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

from vault.errors import Conflict, NotFound, ObjectLocked, RetentionShortening, StorageError
from vault.storage.base import (
    CHUNK_SIZE,
    DERIVATIVE_LOCK_MODE,
    DERIVATIVES_PREFIX,
    BlobStat,
    FileSource,
    LockMode,
    StoreArea,
    StoreCapabilities,
    StoredAnchor,
    StoredBlob,
    StoredVersion,
    area_of,
    check_limits,
    put_whole,
    verify_expected,
    verify_length,
)
from vault.storage.pipe import PipeBroken
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


def _write_lock_file(path: Path, *, retain_until: datetime, legal_hold: bool) -> None:
    body = json.dumps({"retain_until": retain_until.astimezone(UTC).isoformat(), "legal_hold": legal_hold})
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".lock-")
    with os.fdopen(fd, "w") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp_name, path)
    _fsync_dir(path.parent)


class LocalBlobStore:
    """Stores each object once under its SHA-256 and enforces retention and holds itself.

    A write goes to `.incoming/` (a `.part` file while it arrives, a `<sha256>.<token>.ready` file once
    finished) and moves to its content-addressed place, read-only, only when it is locked. Derived files have
    their own area, `derivatives/` (with its own `.incoming/`), and keys `derivatives/<sha256>`.
    """

    name = "local"
    capabilities = StoreCapabilities(presigned_links=False, server_side_locks=False, local_paths=True)

    def __init__(self, root: Path, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.root = root
        self._clock = clock
        self._tmp = root / ".incoming"
        self._anchors = root / "anchors"

    def _area_root(self, area: StoreArea) -> Path:
        return self.root if area == StoreArea.ORIGINALS else self.root / DERIVATIVES_PREFIX.rstrip("/")

    def _incoming(self, area: StoreArea) -> Path:
        return self._tmp if area == StoreArea.ORIGINALS else self._area_root(area) / ".incoming"

    @staticmethod
    def _key(area: StoreArea, digest: str) -> str:
        return digest if area == StoreArea.ORIGINALS else DERIVATIVES_PREFIX + digest

    def _split(self, key: str) -> tuple[StoreArea, str]:
        area = area_of(key)
        digest = key.removeprefix(DERIVATIVES_PREFIX) if area == StoreArea.DERIVATIVES else key
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise NotFound(f"no object {key!r} in the local store")
        return area, digest

    def _path(self, key: str) -> Path:
        area, digest = self._split(key)
        return self._area_root(area) / digest[:2] / digest[2:4] / digest

    def _lock_path(self, key: str) -> Path:
        return self._path(key).with_suffix(".lock.json")

    def begin_put(
        self, *, content_type: str = "application/octet-stream", max_size: int | None = None,
        length: int | None = None, source: FileSource | None = None, area: StoreArea = StoreArea.ORIGINALS,
    ) -> LocalPendingBlob:
        """Start a write into the area's `.incoming/`; a source file with a known digest is linked in, not copied."""
        try:
            self._incoming(area).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"local store at {self.root} is not writable: {exc.strerror}") from exc
        return LocalPendingBlob(self, max_size=max_size, length=length, source=source, area=area)

    def put_stream(
        self, stream: BinaryIO, *, retain_until: datetime, expected_sha256: str | None = None,
        max_size: int | None = None, content_type: str = "application/octet-stream", length: int | None = None,
    ) -> StoredBlob:
        """Store a stream and lock it at once."""
        return put_whole(self, stream, retain_until=retain_until, expected_sha256=expected_sha256,
                         max_size=max_size, content_type=content_type, length=length)

    def lock(self, key: str, version_id: str, retain_until: datetime) -> None:
        """Move a finished write into its place (if not there yet) and lock it until at least retain_until."""
        if version_id != VERSION:
            raise NotFound(f"no object {key} (version {version_id}) in the local store")
        self._place(key, None)
        current = self._read_lock(key)
        if current.retain_until is None or retain_until > current.retain_until:
            self._write_lock(key, retain_until=retain_until, legal_hold=current.legal_hold)

    def _place(self, key: str, ready: Path | None) -> None:
        """Rename a finished write (this one, or any with the key's digest) into its content-addressed place."""
        final = self._path(key)
        area, digest = self._split(key)
        incoming = self._incoming(area)
        if final.exists():
            if ready is not None:
                ready.unlink(missing_ok=True)  # identical bytes are already stored write-once
            return
        if ready is None or not ready.exists():
            found = sorted(incoming.glob(f"{digest}.*.ready")) if incoming.exists() else []
            if not found:
                raise NotFound(f"no finished write of {key} to lock", details={"key": key})
            ready = found[0]
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(ready, 0o444)
        os.rename(ready, final)
        _fsync_dir(final.parent)
        _fsync_dir(incoming)

    def local_path(self, key: str, version_id: str) -> Path:
        """Return the stored file itself (read-only on disk), for tools such as ffmpeg that must seek in it."""
        return self._existing(key, version_id)

    def list_versions(self, *, since: datetime | None = None) -> Iterator[StoredVersion]:
        """Yield stored objects and finished writes not yet locked into place, of both areas (changed since `since`)."""
        for area in StoreArea:
            candidates = list(self._area_root(area).glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*"))
            if self._incoming(area).exists():
                candidates += self._incoming(area).glob("*.ready")
            for path in sorted(candidates):
                digest = path.name.split(".")[0]
                if len(digest) != 64 or path.name.endswith(".lock.json"):
                    continue
                info = path.stat()
                modified = datetime.fromtimestamp(info.st_mtime, UTC)
                if since is None or modified >= since:
                    yield StoredVersion(key=self._key(area, digest), version_id=VERSION, size=info.st_size,
                                        modified=modified)

    def abort_incomplete(self, *, older_than: datetime) -> int:
        """Remove `.incoming/` files (interrupted or never locked writes) last changed before older_than."""
        removed = 0
        for incoming in (self._incoming(area) for area in StoreArea):
            if not incoming.exists():
                continue
            for path in incoming.iterdir():
                if path.is_file() and datetime.fromtimestamp(path.stat().st_mtime, UTC) < older_than:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def _read_lock(self, key: str) -> _Lock:
        path = self._lock_path(key)
        if not path.exists():
            return _Lock(retain_until=None, legal_hold=False)
        data = json.loads(path.read_text())
        return _Lock(retain_until=datetime.fromisoformat(data["retain_until"]), legal_hold=bool(data["legal_hold"]))

    def _write_lock(self, key: str, *, retain_until: datetime, legal_hold: bool) -> None:
        _write_lock_file(self._lock_path(key), retain_until=retain_until, legal_hold=legal_hold)

    def _existing(self, key: str, version_id: str) -> Path:
        path = self._path(key)
        if version_id != VERSION or not path.exists():
            raise NotFound(f"no object {key} (version {version_id}) in the local store")
        return path

    def write_anchor(self, name: str, data: bytes, *, retain_until: datetime) -> StoredAnchor:
        """Write `anchors/<name>` once (read-only, never deleted by this store) with its lock file beside it."""
        path = self._anchor_path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".anchor-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp_name, 0o444)
            lock = path.with_name(path.name + ".lock.json")
            if not lock.exists():  # the lock goes first: a crash can leave a lock without an anchor, never the reverse
                _write_lock_file(lock, retain_until=retain_until, legal_hold=False)
            try:
                os.link(tmp_name, path)  # fails if the name exists: an anchor is never replaced
            except FileExistsError:
                if path.read_bytes() != data:
                    raise Conflict(f"anchor {name} already holds different content", details={"name": name}) from None
            finally:
                os.unlink(tmp_name)
            _fsync_dir(path.parent)
        except OSError as exc:
            raise StorageError(f"anchor {name} cannot be written: {exc.strerror}", details={"name": name}) from exc
        return StoredAnchor(name=name, version_id=VERSION, location=str(path), data=data)

    def list_anchors(self, prefix: str, *, limit: int | None = None) -> Iterator[StoredAnchor]:
        """Yield anchors under prefix in ascending name order."""
        folder = self._anchor_path(prefix + "x").parent
        if not folder.is_dir():
            return
        names = sorted(p.name for p in folder.iterdir()
                       if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".json"))
        stem = prefix.rpartition("/")[2]
        for count, file_name in enumerate(n for n in names if n.startswith(stem)):
            if limit is not None and count >= limit:
                return
            path = folder / file_name
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise _unreadable(str(path), exc) from exc
            yield StoredAnchor(name=str(path.relative_to(self._anchors)), version_id=VERSION, location=str(path),
                               data=data)

    def _anchor_path(self, name: str) -> Path:
        parts = name.split("/")
        if not name or any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            raise NotFound(f"no anchor {name!r} in the local store")
        return self._anchors.joinpath(*parts)

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
            # Both modes are enforced alike here; the derived area's is named as S3 names it.
            lock_mode=DERIVATIVE_LOCK_MODE if area_of(key) == StoreArea.DERIVATIVES else LockMode.COMPLIANCE,
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
        if current.retain_until is None:
            raise ObjectLocked(f"object {key} is not locked yet; a hold needs a locked object", details={"key": key})
        self._write_lock(key, retain_until=current.retain_until, legal_hold=on)

    def delete(self, key: str, version_id: str) -> None:
        """Delete the object once retention has passed (or it was never locked) and no hold is on."""
        current = self.stat(key, version_id)
        if current.legal_hold:
            raise ObjectLocked(f"object {key} is under legal hold", details={"key": key})
        if current.retain_until is not None and self._clock() < current.retain_until:
            until = current.retain_until.isoformat()
            raise ObjectLocked(f"object {key} is retained until {until}", details={"key": key, "retain_until": until})
        path = self._path(key)
        os.chmod(path, 0o644)
        path.unlink()
        self._lock_path(key).unlink(missing_ok=True)
        _fsync_dir(path.parent)

    def presign_get(self, key: str, version_id: str, *, expires_seconds: int, signed_at: datetime | None = None,
                    public: bool = False) -> str | None:
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


class LocalPendingBlob:
    """One write into the local store's `.incoming/` folder (see LocalBlobStore)."""

    def __init__(self, store: LocalBlobStore, *, max_size: int | None, length: int | None,
                 source: FileSource | None, area: StoreArea = StoreArea.ORIGINALS) -> None:
        self._store = store
        self._max_size = max_size
        self._length = length
        self._source = source
        self._area = area
        self._tmp = store._incoming(area)
        self._token = uuid.uuid4().hex
        self._part = self._tmp / f"{self._token}.part"
        self._ready: Path | None = None
        self._handle: BinaryIO | None = None
        self._sha256 = hashlib.sha256()
        self._size = 0
        self._blob: StoredBlob | None = None
        self._discarded = False

    def write(self, chunks: Sequence[bytes]) -> None:
        """Append chunks to the `.part` file, hashing and counting them."""
        if self._discarded:
            raise PipeBroken("the write was discarded")
        if self._source is not None or self._blob is not None:
            raise StorageError("this write takes no more bytes")
        if self._handle is None:
            self._handle = cast(BinaryIO, self._part.open("xb"))
        for chunk in chunks:
            check_limits(self._size + len(chunk), max_size=self._max_size, length=self._length)
            self._handle.write(chunk)
            self._sha256.update(chunk)
            self._size += len(chunk)

    def finish(self, *, expected_sha256: str | None = None) -> StoredBlob:
        """Fsync the bytes and name them by their digest in `.incoming/`; a mismatch discards them."""
        if self._discarded:
            raise PipeBroken("the write was discarded")
        try:
            sha256, size = self._finish_source() if self._source is not None else self._finish_part()
            verify_length(size, self._length)
            verify_expected(sha256, expected_sha256)
        except BaseException:
            self.discard()
            raise
        self._blob = StoredBlob(key=self._store._key(self._area, sha256), version_id=VERSION, size=size, sha256=sha256)
        return self._blob

    def _finish_part(self) -> tuple[str, int]:
        if self._handle is None:
            self._handle = cast(BinaryIO, self._part.open("xb"))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        sha256 = self._sha256.hexdigest()
        self._ready = self._tmp / f"{sha256}.{self._token}.ready"
        os.rename(self._part, self._ready)
        _fsync_dir(self._tmp)
        return sha256, self._size

    def _finish_source(self) -> tuple[str, int]:
        source = self._source
        assert source is not None
        if source.sha256 is None:  # hash it while copying
            self._source = None
            with source.path.open("rb") as handle:
                while chunk := handle.read(CHUNK_SIZE):
                    self.write([chunk])
            return self._finish_part()
        check_limits(source.size, max_size=self._max_size, length=self._length)
        self._ready = self._tmp / f"{source.sha256}.{self._token}.ready"
        try:
            os.link(source.path, self._ready)  # the staged file stays until its record is committed
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise StorageError(f"local store could not take the staged file: {exc.strerror}") from exc
            shutil.copyfile(source.path, self._ready)
            with self._ready.open("rb") as copied:
                os.fsync(copied.fileno())
        _fsync_dir(self._tmp)
        return source.sha256, source.size

    def lock(self, retain_until: datetime) -> StoredBlob:
        """Move the finished write into its place and lock it."""
        if self._blob is None:
            raise StorageError("finish the write before locking it")
        self._store._place(self._blob.key, self._ready)
        self._ready = None
        self._store.lock(self._blob.key, VERSION, retain_until)
        return self._blob

    def discard(self) -> None:
        """Remove this write's own files; an object already in its place is never touched."""
        self._discarded = self._blob is None or self._ready is not None
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
        self._part.unlink(missing_ok=True)
        if self._ready is not None:
            self._ready.unlink(missing_ok=True)
            self._ready = None
