"""tus 1.0 uploads through tuspy: resumable URL storage on disk, per-chunk SHA-256, retries with backoff.

The URL store is locked with filelock (never fcntl), so the same code runs on Windows, macOS and Linux."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from filelock import FileLock
from tusclient.client import TusClient
from tusclient.fingerprint.interface import Fingerprint
from tusclient.request import TusRequest
from tusclient.storage.filestorage import FileStorage
from tusclient.storage.interface import Storage
from tusclient.uploader.uploader import Uploader

from evault_client.upload.api import SEND_PIECE_BYTES, VaultApi
from evault_client.upload.errors import Interrupted, ServerRefused

T = TypeVar("T")
DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024
_READ_AHEAD = ThreadPoolExecutor(max_workers=16, thread_name_prefix="evault-read-ahead")
# A stored upload URL the server no longer knows (expired, or the vault was reset): start again from creation.
GONE_STATUSES = frozenset({404, 410})
# Refusals of the bytes themselves: resuming the same upload later cannot succeed, so forget its URL.
FINAL_REFUSALS = frozenset({400, 413, 415, 422})


class ResumeStore(Storage):
    """tuspy's FileStorage, opened per operation under a thread lock and a file lock, so parallel workers and
    concurrent runs sharing a state dir never corrupt or read stale URLs."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._file_lock = FileLock(str(path.parent / (path.name + ".lock")), thread_local=False)

    @contextmanager
    def _open(self) -> Iterator[FileStorage]:
        with self._lock, self._file_lock:
            storage = FileStorage(str(self.path))
            try:
                yield storage
            finally:
                storage.close()

    def get_item(self, key: str) -> str | None:
        """Return the upload URL stored under key."""
        with self._open() as storage:
            url = storage.get_item(key)
        return str(url) if url else None

    def set_item(self, key: str, value: str) -> None:
        """Store an upload URL under key."""
        with self._open() as storage:
            storage.set_item(key, value)

    def remove_item(self, key: str) -> None:
        """Forget the upload URL under key."""
        with self._open() as storage:
            storage.remove_item(key)


class KnownFingerprint(Fingerprint):
    """Key resumable URLs by what we already know (server, user, path, size, full SHA-256) rather than by tuspy's
    default MD5 of the first 64 KiB, which two recordings with identical headers could share."""

    def __init__(self, key: str) -> None:
        self.key = key

    def get_fingerprint(self, fs: IO[bytes]) -> str:
        """Return the precomputed key."""
        return self.key


class AlreadyStored(Exception):
    """The vault already holds these bytes; creation answered with the existing record."""

    def __init__(self, evidence_id: str) -> None:
        super().__init__(evidence_id)
        self.evidence_id = evidence_id


@dataclass(frozen=True)
class _Chunk:
    """One PATCH body and its Upload-Checksum value."""

    data: bytes
    checksum: str


def _read_chunk(path: str, offset: int, length: int) -> _Chunk:
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read(length)
    return _Chunk(data, "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"))


class _PooledRequest(TusRequest):
    """tuspy's PATCH request, sent through the vault client's pooled connection (kept alive across chunks, with
    timeouts, so a stalled link fails and is retried), with a body read and hashed while the last one was sent."""

    def __init__(self, uploader: VaultUploader) -> None:
        super().__init__(uploader)
        self.file.close()  # tuspy opens the file for each request; the uploader reads the chunks itself
        self.uploader = uploader

    def perform(self) -> None:
        """Send one chunk, starting to read the next."""
        offset = int(self._request_headers["upload-offset"])
        chunk = self.uploader.chunk_at(offset, self._content_length)
        self.uploader.read_ahead(offset + len(chunk.data))
        headers = {**self._request_headers, "upload-checksum": chunk.checksum}
        options = self.uploader.options
        response = self.uploader.api.send_chunk(self._url, chunk.data, headers, piece_size=options.piece_size,
                                                on_sent=lambda sent: options.on_sending(offset + sent))
        self.status_code = response.status_code
        self.response_content = response.content
        self.response_headers = {k.lower(): v for k, v in response.headers.items()}


class VaultUploader(Uploader):
    """A tuspy uploader that understands the vault's answers: duplicate at creation, error bodies, evidence id."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)

    def __init__(self, *args: Any, api: VaultApi, options: SendOptions, **kwargs: Any) -> None:
        self.api = api
        self.options = options
        self.last: _PooledRequest | None = None
        self._ahead: tuple[int, int, Future[_Chunk]] | None = None
        super().__init__(*args, **kwargs)

    def chunk_at(self, offset: int, length: int) -> _Chunk:
        """Return the chunk at offset: the one read ahead while the previous chunk was sent, or read it now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[:2] == (offset, length):
            return ahead[2].result()
        return _read_chunk(str(self.file_path), offset, length)

    def read_ahead(self, offset: int) -> None:
        """Start reading and hashing the chunk at offset on another thread (one chunk more in memory)."""
        length = min(self.chunk_size, self.stop_at - offset)
        if length > 0:
            self._ahead = (offset, length, _READ_AHEAD.submit(_read_chunk, str(self.file_path), offset, length))

    def get_file_size(self) -> int:
        """Return the file's size without opening it (tuspy's own version leaves a file handle open)."""
        return os.path.getsize(str(self.file_path))

    def create_url(self) -> str:
        """Create the upload (tus creation); raise AlreadyStored when the declared sha256 is already held."""
        created = self.api.create_upload(self.get_url_creation_headers())
        if created.evidence_id is not None:
            raise AlreadyStored(created.evidence_id)
        assert created.upload_url is not None
        return created.upload_url

    def get_offset(self) -> int:
        """Ask the vault for the upload's durable offset (tus HEAD)."""
        return self.api.upload_offset(str(self.url), self.get_headers())

    def _do_request(self) -> None:
        request = self.last = _PooledRequest(self)
        self.request = request  # type: ignore[assignment]  # tuspy declares it None until the first chunk
        request.perform()
        status = int(request.status_code or 0)
        if not 200 <= status < 300:
            raise ServerRefused.from_response(status, request.response_content)

    @property
    def evidence_id(self) -> str | None:
        """Return the evidence id the completing PATCH announced."""
        if self.last is None:
            return None
        value = self.last.response_headers.get("evault-evidence-id")
        return str(value) if value else None


@dataclass(frozen=True)
class SendResult:
    """What happened to one file's bytes."""

    upload_url: str | None
    evidence_id: str | None
    duplicate: bool
    resumed_from: int


@dataclass
class SendOptions:
    """How to send: chunking, retries and the hooks that report progress and stop early."""

    chunk_size: int = DEFAULT_CHUNK_SIZE
    retries: int = 8
    piece_size: int = SEND_PIECE_BYTES
    on_offset: Callable[[int], None] = lambda offset: None
    on_sending: Callable[[int], None] = lambda offset: None  # bytes handed to the link inside a PATCH
    on_retry: Callable[[float, ServerRefused], None] = lambda seconds, error: None
    should_stop: Callable[[], bool] = lambda: False
    sleep: Callable[[float], None] = time.sleep


def backoff(attempt: int) -> float:
    """Return the wait before retry number `attempt` (0-based): 0.5 s doubling up to 30 s."""
    return float(min(30.0, 0.5 * 2**attempt))


def retrying(action: Callable[[int], T], options: SendOptions) -> T:
    """Run action(attempt), retrying transient failures (dropped link, 5xx, 460, 409) with backoff."""
    attempt = 0
    while True:
        try:
            return action(attempt)
        except ServerRefused as exc:
            if not exc.transient or attempt >= options.retries:
                raise
            failure = exc
        if options.should_stop():
            raise Interrupted("stopped; rerun the same command to resume")
        options.on_retry(backoff(attempt), failure)
        options.sleep(backoff(attempt))
        attempt += 1


def resume_key(*, server: str, user: str, path: Path, size: int, sha256: str) -> str:
    """Return the key an upload URL is stored under: the same file, bytes, user and vault resume the same upload."""
    return f"{server}|{user}|{path.resolve()}|{size}|{sha256}"


def _open_uploader(path: Path, *, api: VaultApi, store: ResumeStore, key: str, metadata: dict[str, str],
                   options: SendOptions) -> VaultUploader:
    """Build the uploader; tuspy looks the stored URL up and HEADs it. Forget a URL the vault no longer knows."""

    def build() -> VaultUploader:
        return VaultUploader(
            str(path), client=TusClient(api.uploads_url, headers=dict(api.auth_headers)), api=api,
            chunk_size=options.chunk_size, metadata=metadata, store_url=True, url_storage=store,
            fingerprinter=KnownFingerprint(key), upload_checksum=True, options=options,
        )

    try:
        return build()
    except ServerRefused as exc:
        if exc.status not in GONE_STATUSES:
            raise
    store.remove_item(key)
    return build()


def send_file(path: Path, *, api: VaultApi, store: ResumeStore, key: str, metadata: dict[str, str],
              options: SendOptions) -> SendResult:
    """Upload one file with tus, resuming a stored upload from the vault's offset; return what the vault holds."""
    uploader = retrying(lambda _: _open_uploader(path, api=api, store=store, key=key, metadata=metadata,
                                                 options=options), options)
    if not uploader.url:
        try:
            uploader.set_url(retrying(lambda _: uploader.create_url(), options))
        except AlreadyStored as dup:
            return SendResult(upload_url=None, evidence_id=dup.evidence_id, duplicate=True, resumed_from=0)
        uploader.offset = 0
    resumed_from = int(uploader.offset)
    options.on_offset(resumed_from)

    def step(attempt: int) -> None:
        if attempt:
            uploader.offset = uploader.get_offset()
        if uploader.offset < uploader.stop_at:
            uploader.upload_chunk()

    try:
        while uploader.offset < uploader.stop_at:
            if options.should_stop():
                raise Interrupted("stopped; rerun the same command to resume")
            retrying(step, options)
            options.on_offset(int(uploader.offset))
    except ServerRefused as exc:
        if exc.status in FINAL_REFUSALS:
            store.remove_item(key)
        raise
    evidence_id = uploader.evidence_id
    if evidence_id is None:  # the completing PATCH failed after every byte was durable: finish without resending
        evidence_id = retrying(lambda _: api.finish_upload(str(uploader.url), int(uploader.stop_at),
                                                           uploader.get_headers()), options)
    store.remove_item(key)
    return SendResult(upload_url=str(uploader.url), evidence_id=evidence_id, duplicate=False,
                      resumed_from=resumed_from)
