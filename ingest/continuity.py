"""Continuity of recording (003 第十三条(四)): consecutive segments of one recorder, checked for gaps and overlaps."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.tagging import sync_flags
from vault.cases.models import Case
from vault.evidence.models import Evidence, EvidenceStatus
from vault.evidence.service import FlagReason, can_see_metadata
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require

RECORDING_GAP = "recording_gap"
RECORDING_OVERLAP = "recording_overlap"
CONTINUITY_FLAGS = frozenset({RECORDING_GAP, RECORDING_OVERLAP})


@dataclass(frozen=True)
class Discontinuity:
    """A gap (positive seconds) or overlap (negative) between two consecutive segments of one recorder."""

    recorder_serial: str
    kind: str
    seconds: float
    before_id: uuid.UUID
    after_id: uuid.UUID
    before_end: datetime
    after_start: datetime


def _segments(session: Session, recorder_serial: str) -> list[Evidence]:
    query = (
        select(Evidence)
        .where(Evidence.recorder_serial == recorder_serial, Evidence.status == EvidenceStatus.STORED,
               Evidence.capture_start.is_not(None), Evidence.capture_end.is_not(None))
        .order_by(Evidence.capture_start, Evidence.capture_end, Evidence.id)
    )
    return list(session.scalars(query))


def _between(before: Evidence, after: Evidence, tolerance: timedelta) -> Discontinuity | None:
    assert before.capture_end is not None
    assert after.capture_start is not None
    assert before.recorder_serial
    delta = after.capture_start - before.capture_end
    if abs(delta) <= tolerance:
        return None
    return Discontinuity(
        recorder_serial=before.recorder_serial, kind=RECORDING_GAP if delta > tolerance else RECORDING_OVERLAP,
        seconds=round(delta.total_seconds(), 3), before_id=before.id, after_id=after.id,
        before_end=before.capture_end, after_start=after.capture_start,
    )


def discontinuities(*, session: Session, recorder_serial: str, tolerance: timedelta) -> list[Discontinuity]:
    """Return every gap and overlap between consecutive segments of one recorder, in time order."""
    segments = _segments(session, recorder_serial)
    found = (_between(a, b, tolerance) for a, b in pairwise(segments))
    return [d for d in found if d is not None]


def _describe(d: Discontinuity, other: uuid.UUID) -> FlagReason:
    what = "中断" if d.kind == RECORDING_GAP else "重叠"
    return FlagReason(
        f"与记录仪 {d.recorder_serial} 的相邻片段 {other} 之间{what} {abs(d.seconds):.1f} 秒"
        f"（{d.before_end.isoformat()} 至 {d.after_start.isoformat()}）",
        facts={"recorder_serial": d.recorder_serial, "seconds": d.seconds, "other_segment": str(other),
               "before_end": d.before_end, "after_start": d.after_start})


def neighbours(*, session: Session, evidence: Evidence) -> list[Evidence]:
    """Return the segments just before and after a record on its recorder's timeline."""
    if not evidence.recorder_serial or evidence.capture_start is None or evidence.capture_end is None:
        return []
    segments = _segments(session, evidence.recorder_serial)
    index = next((i for i, s in enumerate(segments) if s.id == evidence.id), None)
    if index is None:
        return []
    return [segments[i] for i in (index - 1, index + 1) if 0 <= i < len(segments)]


def _flags_from_neighbours(segments: list[Evidence], index: int, tolerance: timedelta) -> dict[str, FlagReason]:
    wanted: dict[str, FlagReason] = {}
    for before, after in ((index - 1, index), (index, index + 1)):
        if before < 0 or after >= len(segments):
            continue
        found = _between(segments[before], segments[after], tolerance)
        if found is not None:
            other = segments[after] if before == index else segments[before]
            wanted.setdefault(found.kind, _describe(found, other.id))
    return wanted


def check_continuity(
    *, session: Session, actor: Actor, evidence: Evidence, tolerance: timedelta, now: datetime,
    former_neighbours: list[Evidence] | None = None,
) -> list[Discontinuity]:
    """Re-evaluate gap and overlap flags of a record and of the segments around it (and around where it was).

    Each segment's flags follow from its two neighbours alone, so a late segment that fills a gap clears
    the flags it made stale, and a segment re-tagged away leaves its former neighbours facing each other.
    """
    affected = {e.id: e for e in [evidence, *neighbours(session=session, evidence=evidence),
                                  *(former_neighbours or [])]}
    found: list[Discontinuity] = []
    for serial in sorted({e.recorder_serial for e in affected.values() if e.recorder_serial}):
        segments = _segments(session, serial)
        for index, current in enumerate(segments):
            if current.id in affected:
                wanted = _flags_from_neighbours(segments, index, tolerance)
                sync_flags(session=session, actor=actor, evidence=current, wanted=wanted, governed=CONTINUITY_FLAGS,
                           now=now, reason="no gap or overlap with neighbouring segments any more")
                affected.pop(current.id)
        found += [d for d in (_between(a, b, tolerance) for a, b in pairwise(segments))
                  if d is not None and evidence.id in (d.before_id, d.after_id)]
    for left in affected.values():  # no longer on any timeline (no recorder or capture time): no such flags
        sync_flags(session=session, actor=actor, evidence=left, wanted={}, governed=CONTINUITY_FLAGS, now=now,
                   reason="no longer on a recorder's timeline")
    return found


def list_discontinuities(
    *, session: Session, actor: Actor, tolerance: timedelta, case: Case | None = None,
    recorder_serial: str | None = None,
) -> list[Discontinuity]:
    """List gaps and overlaps per recorder, limited to a case and/or recorder and to records the actor may see."""
    require(actor, Permission.READ_CASES)
    if recorder_serial is not None:
        serials = [recorder_serial]
    else:
        query = select(Evidence.recorder_serial).where(Evidence.recorder_serial.is_not(None)).distinct()
        if case is not None:
            query = query.where(Evidence.case_id == case.id)
        serials = sorted(s for s in session.scalars(query) if s)
    result: list[Discontinuity] = []
    for serial in serials:
        for d in discontinuities(session=session, recorder_serial=serial, tolerance=tolerance):
            pair = [session.get(Evidence, d.before_id), session.get(Evidence, d.after_id)]
            records = [e for e in pair if e is not None]
            if case is not None and not any(e.case_id == case.id for e in records):
                continue
            if all(can_see_metadata(actor, e) for e in records):
                result.append(d)
    return result
