"""A case's timeline per recorder, laid out for a server-drawn SVG: segments, gaps and overlaps as boxes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ingest.continuity import RECORDING_GAP, Discontinuity
from vault.evidence.models import Evidence

WIDTH = 960  # the drawing's width in SVG units; it scales with the page
_LEFT, _RIGHT = 8, 8
_MIN_BOX = 2.0  # a one-second segment on a day-long track stays visible


@dataclass(frozen=True)
class Box:
    """One drawn interval: a recording (links to its record), a gap or an overlap."""

    kind: str  # "segment", "gap" or "overlap"
    x: float
    width: float
    start: datetime
    end: datetime
    evidence_id: uuid.UUID | None = None
    label: str = ""


@dataclass(frozen=True)
class Track:
    """One recorder's line on the timeline."""

    recorder_serial: str
    start: datetime
    end: datetime
    boxes: list[Box]

    @property
    def gaps(self) -> int:
        """Return how many gaps the track shows."""
        return sum(b.kind == "gap" for b in self.boxes)

    @property
    def overlaps(self) -> int:
        """Return how many overlaps the track shows."""
        return sum(b.kind == "overlap" for b in self.boxes)


def _box(kind: str, start: datetime, end: datetime, first: datetime, span: float, **extra: object) -> Box:
    usable = WIDTH - _LEFT - _RIGHT
    x = _LEFT + (start - first).total_seconds() / span * usable
    width = max(_MIN_BOX, (end - start).total_seconds() / span * usable)
    return Box(kind=kind, x=round(x, 2), width=round(min(width, WIDTH - _RIGHT - x), 2), start=start, end=end,
               **extra)  # type: ignore[arg-type]


def _track(serial: str, segments: list[Evidence], breaks: list[Discontinuity]) -> Track:
    moments = [m for e in segments for m in (e.capture_start, e.capture_end) if m is not None]
    moments += [m for d in breaks for m in (d.before_end, d.after_start)]
    first, last = min(moments), max(moments)
    span = max((last - first).total_seconds(), 1.0)
    boxes = [_box("segment", e.capture_start, e.capture_end, first, span, evidence_id=e.id, label=e.original_name)
             for e in segments if e.capture_start is not None and e.capture_end is not None]
    for d in breaks:
        start, end = sorted((d.before_end, d.after_start))
        boxes.append(_box("gap" if d.kind == RECORDING_GAP else "overlap", start, end, first, span,
                          label=f"{abs(d.seconds):g} s"))
    return Track(recorder_serial=serial, start=first, end=last, boxes=boxes)


def lay_out(records: Sequence[Evidence], breaks: Sequence[Discontinuity]) -> list[Track]:
    """Return one track per recorder: its timed records, and the gaps and overlaps the continuity check found."""
    serials = sorted({e.recorder_serial for e in records if e.recorder_serial and e.capture_start and e.capture_end})
    tracks = []
    for serial in serials:
        segments = sorted((e for e in records if e.recorder_serial == serial and e.capture_start and e.capture_end),
                          key=lambda e: (e.capture_start, e.id))
        tracks.append(_track(serial, segments, [d for d in breaks if d.recorder_serial == serial]))
    return tracks
