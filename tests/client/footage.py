"""Footage for the client's tests: a clip made with ffmpeg; the case file comes from the ingest tests' helper."""

from __future__ import annotations

from pathlib import Path

from tests.ingest.conftest import make_case_file
from tests.media import make_video

CASE = "阜应急罚字〔2023〕40号"


def make_clip(folder: Path, *, seconds: float = 2.0) -> Path:
    """Make a short recorder clip captured 2025-03-30 06:00 UTC."""
    return make_video(folder / "clip.mp4", seconds=seconds, creation_time="2025-03-30T06:00:00Z")


__all__ = ["CASE", "make_case_file", "make_clip"]
