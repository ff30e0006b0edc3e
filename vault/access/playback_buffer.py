"""Ranges served to open playback sessions, held in memory between flushes.

The first range of a view opens its playback session and its `evidence:viewed` event in the catalog, committed
before any byte goes out. The ranges after it change only the session's totals, so they are merged here and
written every `EVAULT_PLAYBACK_FLUSH_SECONDS`: a crash loses at most that much of the extent of a view, never
the view. A grant check that let a view read is remembered as a pass for `EVAULT_PLAYBACK_RECHECK_SECONDS` (never
past the grant's expiry), so the view's next ranges are served without the catalog. One buffer per process, handed
in through the vault context.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import structlog
from sqlalchemy.orm import Session

from vault.access.models import PlaybackSession
from vault.access.playback import close_playback, merge_range
from vault.access.ranges import ByteRange

log = structlog.get_logger(__name__)

Plan = TypeVar("Plan", covariant=True)  # what a pass lets its holder read again (the content plan, less the range)


@dataclass(frozen=True)
class PlaybackKey:
    """What makes one playback session: one viewer, one record, one variant, one grant (or none)."""

    user_id: uuid.UUID
    evidence_id: uuid.UUID
    variant: str
    grant_id: uuid.UUID | None


@dataclass(frozen=True)
class OpenedPlayback:
    """A playback session whose first range a request just committed."""

    key: PlaybackKey
    playback_id: uuid.UUID
    at: datetime


@dataclass
class PendingRanges:
    """Ranges of one playback session served since the last flush, and when the latest was served."""

    playback_id: uuid.UUID
    last_at: datetime
    ranges: list[list[int]] = field(default_factory=list)
    requests: int = 0
    bytes_served: int = 0

    def add(self, byte_range: ByteRange, now: datetime) -> None:
        """Count one served range."""
        if byte_range.length > 0:
            self.ranges = merge_range(self.ranges, byte_range.start, byte_range.end)
        self.requests += 1
        self.bytes_served += max(byte_range.length, 0)
        self.last_at = max(self.last_at, now)


@dataclass(frozen=True)
class PassKey:
    """Who asks for what: a digest of the credential (never the secret), the record and the variant asked for."""

    credential_sha256: str
    evidence_id: uuid.UUID
    variant: str


@dataclass(frozen=True)
class ReadPass(Generic[Plan]):
    """A grant check that allowed a view to read, valid until `until`, for the view's next ranges."""

    view: PlaybackKey
    actor_name: str
    plan: Plan
    until: datetime


class PlaybackBuffer:
    """One process's not yet written ranges of the playback sessions it opened; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[PlaybackKey, PendingRanges] = {}
        self._detached: list[PendingRanges] = []  # ranges of sessions no longer open here, still to be written
        self._passes: dict[PassKey, ReadPass[object]] = {}

    def keep_pass(self, key: PassKey, read_pass: ReadPass[object]) -> None:
        """Remember a check that allowed a view opened here, for its next ranges."""
        with self._lock:
            if read_pass.view in self._open:
                self._passes[key] = read_pass

    def find_pass(self, key: PassKey, now: datetime) -> ReadPass[object] | None:
        """Return the pass for this credential, record and variant if it is still valid; forget an expired one."""
        with self._lock:
            found = self._passes.get(key)
            if found is not None and now >= found.until:
                del self._passes[key]
                return None
            return found

    def drop_passes(self, grant_id: uuid.UUID) -> None:
        """Forget every pass under a grant (revoked here): its next range is checked in the catalog."""
        with self._lock:
            for key in [k for k, p in self._passes.items() if p.view.grant_id == grant_id]:
                del self._passes[key]

    def note(self, key: PlaybackKey, byte_range: ByteRange, now: datetime, idle_seconds: int) -> bool:
        """Hold a served range of a session opened here; False if the view must be opened in the catalog first."""
        with self._lock:
            entry = self._open.get(key)
            if entry is None or now - entry.last_at > timedelta(seconds=idle_seconds):
                return False
            entry.add(byte_range, now)
            return True

    def opened(self, opened: OpenedPlayback) -> None:
        """Hold the next ranges of a session whose first range was just committed."""
        with self._lock:
            entry = self._open.get(opened.key)
            if entry is not None and entry.playback_id == opened.playback_id:
                entry.last_at = max(entry.last_at, opened.at)
                return
            if entry is not None and entry.requests:
                self._detached.append(entry)
            self._open[opened.key] = PendingRanges(playback_id=opened.playback_id, last_at=opened.at)

    def take(self, now: datetime, idle_seconds: int) -> list[PendingRanges]:
        """Remove and return every held range; stop holding sessions idle for longer than idle_seconds."""
        with self._lock:
            taken, self._detached = self._detached, []
            for key, entry in list(self._open.items()):
                if entry.requests:
                    taken.append(entry)
                    self._open[key] = PendingRanges(playback_id=entry.playback_id, last_at=entry.last_at)
                if now - entry.last_at > timedelta(seconds=idle_seconds):
                    del self._open[key]
            for stale in [k for k, p in self._passes.items() if now >= p.until or p.view not in self._open]:
                del self._passes[stale]
            return taken

    def put_back(self, pending: list[PendingRanges]) -> None:
        """Hold again ranges whose write failed, for the next flush."""
        with self._lock:
            self._detached.extend(pending)


def write_pending(*, session: Session, pending: list[PendingRanges]) -> int:
    """Merge held ranges into their playback sessions; summarise again a session closed in the meantime."""
    written = 0
    for held in pending:
        playback = session.get(PlaybackSession, held.playback_id)
        if playback is None:  # not in this catalog (the buffer outlived a test's database)
            continue
        for start, end in held.ranges:
            playback.ranges = merge_range(playback.ranges, start, end)
        playback.requests += held.requests
        playback.bytes_served += held.bytes_served
        playback.last_at = max(playback.last_at, held.last_at)
        if playback.closed_at is not None:  # closed elsewhere (revoked, idle) before these ranges were written
            log.info("playback.summarised_again", playback_session=str(playback.id), requests=held.requests)
            close_playback(session, playback, now=playback.closed_at)
        written += 1
    session.flush()
    return written
