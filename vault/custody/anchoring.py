"""Anchor signed checkpoints outside the catalog, in the write-once store, and remember the newest one.

A tamperer who can edit the catalog can delete its checkpoints; an anchor, locked in the store, stays. The vault
refuses to sign a checkpoint that disagrees with the newest anchor, so an edited log cannot be re-signed quietly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from vault.custody.note import CheckpointText, NoteError, NoteKey, SignedNote, signed_checkpoint
from vault.db import utcnow
from vault.errors import StorageError, VaultError
from vault.keys import Signer
from vault.storage.base import BlobStore, StoredAnchor

log = structlog.get_logger(__name__)

CHECKPOINT_PREFIX = "custody/checkpoints/"
_SIZE_DIGITS = 20


class CustodyLogInconsistent(VaultError):
    """The catalog's log disagrees with a checkpoint anchored outside it: nothing more is signed until resolved."""

    code = "custody_log_inconsistent"
    status = 503


def anchor_name(tree_size: int) -> str:
    """Return the store name of a checkpoint: newest first in name order, with the size readable at the end."""
    return f"{CHECKPOINT_PREFIX}{10**_SIZE_DIGITS - 1 - tree_size:0{_SIZE_DIGITS}d}-{tree_size}"


def default_origin(signer: Signer) -> str:
    """Return the origin a vault uses when none is configured: unique to its signing key."""
    return f"evault.local/custody/{signer.key_id}"


@dataclass(frozen=True)
class AnchoredCheckpoint:
    """A checkpoint read back from the store, its signature checked, and where it was found."""

    checkpoint: CheckpointText
    note: SignedNote
    location: str

    @property
    def tree_size(self) -> int:
        """Return the number of log entries the checkpoint covers."""
        return self.checkpoint.tree_size

    @property
    def root(self) -> bytes:
        """Return the Merkle root the checkpoint states."""
        return self.checkpoint.root


def read_anchor(anchor: StoredAnchor, public_keys: Sequence[bytes]) -> AnchoredCheckpoint:
    """Parse a stored anchor and check one of the vault's keys signed it under its origin; raise NoteError if not."""
    try:
        note = SignedNote.parse(anchor.data.decode())
        checkpoint = CheckpointText.parse(note.text)
    except (UnicodeDecodeError, NoteError) as exc:
        raise NoteError(f"anchor at {anchor.location} is not a checkpoint note") from exc
    if all(note.verified_by(NoteKey(name=checkpoint.origin, public_raw=raw)) is None for raw in public_keys):
        raise NoteError(f"anchor at {anchor.location} is not signed by this vault's key")
    return AnchoredCheckpoint(checkpoint=checkpoint, note=note, location=anchor.location)


@dataclass
class CheckpointAnchors:
    """This process's link from the custody log to the store: it signs checkpoint notes, anchors them and keeps
    the newest anchor seen (re-read at most every `refresh_seconds`, since other processes anchor too)."""

    store: BlobStore
    signer: Signer
    origin: str
    retain_years: int = 100
    retired_keys: dict[str, bytes] = field(default_factory=dict)  # key id -> raw public key, see vault.keys
    refresh_seconds: float = 60.0
    clock: Callable[[], datetime] = utcnow
    _latest: AnchoredCheckpoint | None = field(default=None, init=False)
    _read_at: datetime | None = field(default=None, init=False)
    _store_failed_at: datetime | None = field(default=None, init=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, init=False)

    @property
    def key(self) -> NoteKey:
        """Return the verifier key of this log: the origin as key name, the vault's Ed25519 public key."""
        return NoteKey(name=self.origin, public_raw=self.signer.public_raw)

    @property
    def public_keys(self) -> dict[str, bytes]:
        """Return every key that signed this log, by key id: the current one and the retired ones."""
        return {**self.retired_keys, self.signer.key_id: self.signer.public_raw}

    def sign(self, tree_size: int, root: bytes) -> SignedNote:
        """Return the C2SP checkpoint note of a tree head, signed by the vault under the origin."""
        return signed_checkpoint(CheckpointText(self.origin, tree_size, root), signer=self.signer)

    def latest(self) -> AnchoredCheckpoint | None:
        """Return the newest anchored checkpoint, reading the store again once the cached one is stale."""
        now = self.clock()
        with self._guard:
            fresh = self._read_at is not None and now - self._read_at < timedelta(seconds=self.refresh_seconds)
            if fresh:
                return self._latest
        try:
            newest = next(iter(self.store.list_anchors(CHECKPOINT_PREFIX, limit=1)), None)
            found = read_anchor(newest, list(self.public_keys.values())) if newest is not None else None
        except StorageError as exc:
            log.warning("custody.anchor_unreadable", error=exc.message)
            with self._guard:  # try again after the refresh interval, not on every commit of an outage
                self._read_at = self._store_failed_at = now
                return self._latest
        except NoteError as exc:
            raise self.refuse(exc.message) from exc
        with self._guard:
            self._read_at = now
            self._remember(found)
            return self._latest

    def store_failing(self) -> bool:
        """Return True while the store failed within the refresh interval: commits then leave anchoring to the job."""
        failed = self._store_failed_at
        return failed is not None and self.clock() - failed < timedelta(seconds=self.refresh_seconds)

    def anchor_bytes(self, name: str, data: bytes) -> str:
        """Store bytes that vouch for the log (a cosigned note, a time-stamp token) as a locked anchor; say where."""
        years = self.retain_years
        until = self.clock() + timedelta(days=365 * years + years // 4)
        try:
            return self.store.write_anchor(name, data, retain_until=until).location
        except StorageError:
            self._store_failed_at = self.clock()
            raise

    def anchor(self, note: SignedNote) -> AnchoredCheckpoint:
        """Store a signed checkpoint as a locked anchor and remember it if it is the newest."""
        checkpoint = CheckpointText.parse(note.text)
        location = self.anchor_bytes(anchor_name(checkpoint.tree_size), note.encode().encode())
        anchored = AnchoredCheckpoint(checkpoint=checkpoint, note=note, location=location)
        with self._guard:
            self._remember(anchored)
        log.info("custody.anchored", tree_size=checkpoint.tree_size, location=location)
        return anchored

    def _remember(self, anchored: AnchoredCheckpoint | None) -> None:
        if anchored is not None and (self._latest is None or anchored.tree_size > self._latest.tree_size):
            self._latest = anchored

    def refuse(self, message: str) -> CustodyLogInconsistent:
        """Log, loudly, that the log disagrees with its anchors, and return the error to raise."""
        log.critical("custody.log_inconsistent", problem=message)
        return CustodyLogInconsistent(f"custody log refused: {message}")


def load_anchored(store: BlobStore, public_keys: Sequence[bytes]) -> tuple[list[AnchoredCheckpoint], list[str]]:
    """Read every anchored checkpoint (oldest first) and list the anchors that are unreadable, unsigned or forked."""
    by_size: dict[int, AnchoredCheckpoint] = {}
    problems: list[str] = []
    for stored in store.list_anchors(CHECKPOINT_PREFIX):
        try:
            anchored = read_anchor(stored, public_keys)
        except NoteError as exc:
            problems.append(exc.message)
            continue
        earlier = by_size.get(anchored.tree_size)
        if earlier is not None and earlier.root != anchored.root:
            problems.append(f"two different checkpoints of size {anchored.tree_size} are anchored: "
                            f"at {earlier.location} and at {anchored.location}")
            continue
        by_size.setdefault(anchored.tree_size, anchored)
    return sorted(by_size.values(), key=lambda a: a.tree_size), problems
