"""One batch of files to one vault: hash, send in parallel, fetch and verify each receipt, write it beside the file."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from evault_client.upload.api import SEND_PIECE_BYTES, VaultApi
from evault_client.upload.errors import ClientError, Interrupted, ServerRefused, VaultUnreachable
from evault_client.upload.files import receipt_path, sha256_file
from evault_client.upload.progress import ProgressSink, SilentProgress
from evault_client.upload.receipts import Receipt, VaultKey, read_receipt, verify_receipt, write_receipt
from evault_client.upload.tags import Tags
from evault_client.upload.tus import (
    DEFAULT_CHUNK_SIZE,
    FINAL_REFUSALS,
    ResumeStore,
    SendOptions,
    backoff,
    resume_key,
    retrying,
    send_file,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientOptions:
    """Where to send and how: the vault, the token, the state dir holding resumable URLs, parallelism."""

    server: str
    token: str
    state_dir: Path
    jobs: int = 4
    chunk_size: int = DEFAULT_CHUNK_SIZE
    retries: int = 8
    transport: httpx.BaseTransport | None = None
    piece_size: int = SEND_PIECE_BYTES  # bytes counted at a time inside a PATCH, for the progress bars
    wait_for_vault: float = 0.0  # seconds to keep trying a vault that is down when the run starts
    on_wait: Callable[[float, ServerRefused], None] = lambda seconds, error: None


@dataclass
class FileOutcome:
    """What became of one file."""

    path: Path
    size: int = 0
    sha256: str | None = None
    evidence_id: str | None = None
    duplicate: bool = False
    flags: list[str] | None = None
    flag_reasons: dict[str, str] = field(default_factory=dict)
    receipt: Path | None = None
    resumed_from: int = 0
    error: str | None = None
    already_receipted: bool = False
    retry_later: bool = False
    refused_status: int | None = None  # the vault's HTTP status when it refused this file

    @property
    def refused(self) -> bool:
        """Return whether the vault refused the file itself (resending the same bytes cannot succeed)."""
        return self.refused_status in FINAL_REFUSALS

    @property
    def clearable(self) -> bool:
        """Return whether a verified receipt for exactly these bytes sits beside the file."""
        return self.error is None and self.receipt is not None


def pin_vault_key(state_dir: Path, server: str, key: VaultKey) -> None:
    """Trust the vault's key on first use and refuse a different key later, so a swapped server cannot vouch
    for itself."""
    folder = state_dir / "vault-keys"
    folder.mkdir(parents=True, exist_ok=True)
    pin = folder / f"{hashlib.sha256(server.encode()).hexdigest()[:16]}.pem"
    if not pin.exists():
        pin.write_text(key.pem, encoding="ascii")
        return
    if VaultKey(key_id="pinned", pem=pin.read_text(encoding="ascii")).fingerprint != key.fingerprint:
        raise ClientError(
            f"the vault at {server} presents signing key {key.key_id}, not the one pinned in {pin}; "
            "receipts cannot be trusted. If the vault key was really replaced, delete that file and rerun."
        )


class IngestClient:
    """A signed-in connection to one vault: checks the token and pins the key up front, then sends batches."""

    def __init__(self, options: ClientOptions, *, progress: ProgressSink | None = None) -> None:
        self.options = options
        self.progress: ProgressSink = progress or SilentProgress()
        self.api = VaultApi(options.server, options.token, transport=options.transport)
        self.store = ResumeStore(options.state_dir / "tus-uploads.json")
        self.stop = threading.Event()
        try:
            self.user, self.key = self._connect()
            pin_vault_key(options.state_dir, self.api.server, self.key)
        except BaseException:
            self.api.close()
            raise

    def _connect(self) -> tuple[str, VaultKey]:
        """Check the token and fetch the key, waiting up to wait_for_vault seconds for a vault that is away."""
        deadline = time.monotonic() + self.options.wait_for_vault
        attempt = 0
        while True:
            try:
                return self.api.whoami(), self.api.vault_key()
            except ServerRefused as exc:
                if not exc.transient:
                    raise
                wait = min(backoff(attempt), deadline - time.monotonic())
                if wait <= 0:
                    raise VaultUnreachable(exc.message, waited=self.options.wait_for_vault) from exc
                self.options.on_wait(wait, exc)
                time.sleep(wait)
                attempt += 1

    def close(self) -> None:
        """Release connections."""
        self.api.close()

    def send_options(self, path: Path) -> SendOptions:
        """Return send options reporting progress for `path` and honouring a stop request."""
        return SendOptions(
            chunk_size=self.options.chunk_size,
            retries=self.options.retries,
            piece_size=self.options.piece_size,
            on_offset=lambda offset: self.progress.sent(path, offset),
            on_sending=lambda offset: self.progress.sending(path, offset),
            on_retry=lambda seconds, error: self.progress.retrying(path, seconds, error.message),
            should_stop=self.stop.is_set,
        )

    def upload(self, files: list[Path], tags: Tags) -> list[FileOutcome]:
        """Send files in parallel; one outcome per file, in the order given.

        One thread hashes the files in order ahead of the senders, so the first PATCH waits for one file's hash
        only, and each next file is ready by the time a sender is free."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evault-hash") as hasher, \
                ThreadPoolExecutor(max_workers=max(1, self.options.jobs), thread_name_prefix="evault-upload") as pool:
            digests = [hasher.submit(sha256_file, path) for path in files]
            futures = [pool.submit(self.upload_one, path, tags, digest) for path, digest in zip(files, digests,
                                                                                                  strict=True)]
            try:
                return [future.result() for future in futures]
            except BaseException:
                self.stop.set()
                for future in futures:
                    future.cancel()
                for digest in digests:
                    digest.cancel()
                raise

    def upload_one(self, path: Path, tags: Tags, digest: Future[str] | None = None) -> FileOutcome:
        """Hash (or take the digest computed ahead), send, and receipt one file; failures are reported in the
        outcome, never raised."""
        outcome = FileOutcome(path=path)
        try:
            outcome.size = path.stat().st_size
            self.progress.start(path, outcome.size)
            self._upload(outcome, tags, digest)
        except ClientError as exc:
            outcome.error = exc.message
            outcome.retry_later = isinstance(exc, Interrupted) or (isinstance(exc, ServerRefused) and exc.transient)
            outcome.refused_status = exc.status if isinstance(exc, ServerRefused) else None
        except OSError as exc:
            outcome.error = f"cannot read or write beside the file: {exc.strerror or exc}"
        except Exception as exc:  # one odd file must not sink the batch; the officer still sees what failed
            log.exception("upload.failed file=%s", path.name)
            outcome.error = f"unexpected failure: {type(exc).__name__}: {exc}"
        self.progress.finish(path, ok=outcome.error is None)
        log.info("upload.done file=%s evidence_id=%s error=%s", path.name, outcome.evidence_id, outcome.error)
        return outcome

    def _upload(self, outcome: FileOutcome, tags: Tags, digest: Future[str] | None) -> None:
        path = outcome.path
        if self.stop.is_set():
            raise Interrupted("stopped before it started")
        if digest is None:
            outcome.sha256 = sha256_file(path, on_bytes=lambda n: self.progress.hashed(path, n))
        else:
            outcome.sha256 = digest.result()
            self.progress.hashed(path, outcome.size)
        options = self.send_options(path)
        try:
            metadata = tags.metadata(filename=path.name, sha256=outcome.sha256)
            key = resume_key(server=self.api.server, user=self.user, path=path, size=outcome.size,
                             sha256=outcome.sha256)
            sent = send_file(path, api=self.api, store=self.store, key=key, metadata=metadata, options=options)
        except UnicodeEncodeError as exc:
            raise ClientError("the file name is not valid UTF-8; rename the file") from exc
        outcome.resumed_from = sent.resumed_from
        if sent.upload_url is not None:
            document = retrying(lambda _: self.api.upload_receipt(str(sent.upload_url)), options)
        else:
            document = retrying(lambda _: self.api.evidence_receipt(str(sent.evidence_id)), options)
        receipt = verify_receipt(document, key=self.key, sha256=outcome.sha256, size=outcome.size)
        outcome.evidence_id = receipt.evidence_id
        outcome.duplicate = sent.duplicate or receipt.duplicate
        outcome.receipt = write_receipt(path, receipt, key=self.key, server=self.api.server)
        found = retrying(lambda _: self.api.evidence_flags(receipt.evidence_id), options)
        outcome.flags, outcome.flag_reasons = (None, {}) if found is None else (list(found), found)

    def verified_receipt(self, path: Path) -> Receipt | None:
        """Return the verified receipt beside `path` (re-hashing the file), or None if it has none that verifies."""
        if not receipt_path(path).is_file():
            return None
        try:
            size = path.stat().st_size
            return read_receipt(path, key=self.key, sha256=sha256_file(path), size=size)
        except (ClientError, OSError):
            return None
