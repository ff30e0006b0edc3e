"""Playback sessions: byte ranges served to one viewer of one record, aggregated and summarised in the log."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.access.models import AccessGrant, PlaybackSession
from vault.access.ranges import ByteRange
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.evidence.models import Evidence
from vault.identities.actor import Actor
from vault.identities.models import User

MAX_RANGES_KEPT = 256


def merge_range(ranges: list[list[int]], start: int, end: int) -> list[list[int]]:
    """Return inclusive ranges with [start, end] merged in (touching ranges coalesce), at most MAX_RANGES_KEPT."""
    merged: list[list[int]] = []
    for low, high in sorted([*ranges, [start, end]]):
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    while len(merged) > MAX_RANGES_KEPT:
        gaps = [merged[i + 1][0] - merged[i][1] for i in range(len(merged) - 1)]
        i = gaps.index(min(gaps))
        merged[i : i + 2] = [[merged[i][0], merged[i + 1][1]]]
    return merged


def note_playback(
    session: Session,
    actor: Actor,
    evidence: Evidence,
    grant: AccessGrant | None,
    basis: str,
    variant: str,
    byte_range: ByteRange,
    now: datetime,
    idle_seconds: int,
) -> PlaybackSession:
    """Add a served range to the viewer's open playback session, opening (and logging) one when needed."""
    assert actor.id is not None
    query = select(PlaybackSession).where(
        PlaybackSession.user_id == actor.id,
        PlaybackSession.evidence_id == evidence.id,
        PlaybackSession.variant == variant,
        PlaybackSession.closed_at.is_(None),
        PlaybackSession.grant_id.is_(None) if grant is None else PlaybackSession.grant_id == grant.id,
    )
    current = session.scalars(query.order_by(PlaybackSession.last_at.desc()).limit(1)).first()
    if current is not None and now - current.last_at > timedelta(seconds=idle_seconds):
        close_playback(session, current)
        current = None
    if current is None:
        current = PlaybackSession(user_id=actor.id, evidence_id=evidence.id, grant_id=grant.id if grant else None,
                                  basis=basis, variant=variant, started_at=now, last_at=now, ranges=[])
        session.add(current)
        session.flush()
        record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_VIEWED, subject_type="evidence",
                     subject_id=evidence.id, case_id=evidence.case_id, now=now, details={
                         "playback_session": str(current.id), "grant_id": str(grant.id) if grant else None,
                         "purpose": grant.purpose.value if grant else None, "basis": basis,
                         "variant": variant, "first_range": [byte_range.start, byte_range.end]})
    if byte_range.length > 0:
        current.ranges = merge_range(current.ranges, byte_range.start, byte_range.end)
    current.requests += 1
    current.bytes_served += max(byte_range.length, 0)
    current.last_at = max(current.last_at, now)
    session.flush()
    return current


def close_playback(session: Session, playback: PlaybackSession, *, now: datetime | None = None) -> None:
    """Close a playback session and write its summary (ranges, bytes, requests) to the custody log."""
    user = session.get(User, playback.user_id)
    assert user is not None
    evidence = session.get(Evidence, playback.evidence_id)
    playback.closed_at = now or playback.last_at
    record_event(
        session=session,
        actor=Actor.of(user),
        action=CustodyAction.EVIDENCE_PLAYBACK_CLOSED,
        subject_type="evidence",
        subject_id=playback.evidence_id,
        case_id=evidence.case_id if evidence else None,
        now=playback.closed_at,
        details={
            "playback_session": str(playback.id),
            "grant_id": str(playback.grant_id) if playback.grant_id else None,
            "basis": playback.basis,
            "variant": playback.variant,
            "started_at": playback.started_at.isoformat(),
            "last_at": playback.last_at.isoformat(),
            "requests": playback.requests,
            "bytes_served": playback.bytes_served,
            "ranges": playback.ranges,
        },
    )
    session.flush()


def close_idle_playback(*, session: Session, now: datetime, idle_seconds: int) -> int:
    """Summarise every playback session idle for longer than idle_seconds; return how many were closed."""
    cutoff = now - timedelta(seconds=idle_seconds)
    idle = session.scalars(
        select(PlaybackSession).where(PlaybackSession.closed_at.is_(None), PlaybackSession.last_at < cutoff)
    ).all()
    for playback in idle:
        close_playback(session, playback)
    return len(idle)


def close_playback_for_grant(*, session: Session, grant_id: uuid.UUID, now: datetime) -> int:
    """Summarise the open playback sessions under a grant (when it is revoked)."""
    open_sessions = session.scalars(
        select(PlaybackSession).where(PlaybackSession.grant_id == grant_id, PlaybackSession.closed_at.is_(None))
    ).all()
    for playback in open_sessions:
        close_playback(session, playback, now=now)
    return len(open_sessions)
