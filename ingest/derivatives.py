"""Derived files made with ffmpeg: a thumbnail for every original, a browser proxy for those a browser cannot play."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ffmpeg

from vault.evidence.models import DerivativeKind, Evidence

PROXY_WIDTH, PROXY_HEIGHT = 854, 480
THUMBNAIL_WIDTH = 320
# Scale down into the box, keep the aspect ratio, never up (a 640x360 original gets a 640x360 proxy); even sizes
# for H.264 4:2:0, rounded down so a dimension never outgrows the original's.
PROXY_SCALE = (f"scale=w='min({PROXY_WIDTH},iw)':h='min({PROXY_HEIGHT},ih)'"
               ":force_original_aspect_ratio=decrease:force_divisible_by=2")
THUMBNAIL_SCALE = f"scale=w='min({THUMBNAIL_WIDTH},iw)':h=-2"
MEDIA_TYPES = {DerivativeKind.THUMBNAIL: "image/jpeg", DerivativeKind.PROXY: "video/mp4"}


def needs_thumbnail(evidence: Evidence) -> bool:
    """Return whether a still can be taken from the original (video or photo that ffprobe could read)."""
    readable = evidence.media_info.get("format") is not None
    return readable and evidence.media_type.split("/")[0] in {"video", "image"}


def needs_proxy(evidence: Evidence) -> bool:
    """Return whether a browser cannot play the original as is (HEVC, MOV, AVI, MKV, TS...)."""
    info = evidence.media_info
    return (evidence.media_type.startswith("video/") and info.get("format") is not None
            and info.get("video_codec") is not None and not info.get("browser_playable", False))


def render(kind: DerivativeKind, source: str, target: Path, *, duration: float | None) -> None:
    """Write a thumbnail (JPEG) or a proxy (H.264, at most 854x480, AAC, faststart MP4) of source to target."""
    options: dict[str, Any] = {"loglevel": "error"}
    if kind == DerivativeKind.THUMBNAIL:
        # A frame a little in, rather than the often black first one.
        stream = ffmpeg.input(source, ss=min(1.0, (duration or 0) / 2))
        options.update(vframes=1, vf=THUMBNAIL_SCALE, f="mjpeg")
    else:
        stream = ffmpeg.input(source)
        options.update(vcodec="libx264", preset="veryfast", crf=26, pix_fmt="yuv420p", vf=PROXY_SCALE,
                       acodec="aac", movflags="+faststart", f="mp4")
    ffmpeg.output(stream, str(target), **options).overwrite_output().run(quiet=True)
