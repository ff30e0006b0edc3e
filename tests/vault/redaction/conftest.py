"""Redaction fixtures: the access fixtures (people, stored evidence, grants) and a video with a real face."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.media import make_face_video
from tests.vault.access.conftest import grant_for, make_case, people, store_evidence  # noqa: F401


@pytest.fixture(scope="session")
def face_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four seconds of the astronaut photograph with a tone, a keyframe a second."""
    return make_face_video(tmp_path_factory.mktemp("redaction-media") / "astronaut.mp4", seconds=4.0)
