"""Named crash points, so tests can kill a real vault process between two steps of a write sequence."""

from __future__ import annotations

import os
import signal

import structlog

log = structlog.get_logger(__name__)


def crash_point(crash_at: str | None, name: str) -> None:
    """Kill this process with SIGKILL at `name` when the test-only setting EVAULT_CRASH_AT names it."""
    if crash_at is not None and crash_at == name:
        log.warning("faults.crashing", point=name)
        os.kill(os.getpid(), signal.SIGKILL)
