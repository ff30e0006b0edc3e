"""The access fixtures (people of every role, stored evidence, grants) and a short video with a real face."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.media import make_face_video
from tests.vault.access.conftest import grant_for, people, store_evidence  # noqa: F401


@pytest.fixture(scope="module")
def face_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three seconds of the astronaut photograph."""
    return make_face_video(tmp_path_factory.mktemp("edits") / "astronaut.mp4", seconds=3.0)
