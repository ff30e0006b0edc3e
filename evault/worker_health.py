"""The worker's own health: a heartbeat file its scheduler refreshes, and the check a container health check runs.

The file sits under the home, one per host name, because a health check runs in the worker's own container (same
host name) while several workers may share one home volume. A beat proves the scheduler thread still fires jobs;
the check adds that the catalog and the store answer from this host."""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timedelta
from pathlib import Path

from vault.config import Settings
from vault.context import build_context
from vault.db import utcnow
from vault.errors import VaultError


def beat_file(settings: Settings, host: str | None = None) -> Path:
    """Return where the worker on this host (or the named one) keeps its heartbeat."""
    return settings.home / "run" / f"worker-{host or socket.gethostname()}.json"


def write_beat(settings: Settings, *, worker: str, now: datetime | None = None) -> None:
    """Record that this host's worker is alive now (written whole, then renamed, so a check never reads half)."""
    now = now or utcnow()
    path = beat_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({"worker": worker, "at": now.isoformat()}), encoding="utf-8")
    os.replace(partial, path)


def _beat_problem(settings: Settings, now: datetime) -> str | None:
    path = beat_file(settings)
    try:
        beat = json.loads(path.read_text(encoding="utf-8"))
        at = datetime.fromisoformat(beat["at"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"no worker heartbeat at {path}: is `evault worker` running on this host?"
    silent = now - at
    if silent > timedelta(seconds=settings.job_takeover_seconds):
        return (f"the worker {beat.get('worker')} last beat {int(silent.total_seconds())} s ago (more than "
                f"EVAULT_JOB_TAKEOVER_SECONDS={settings.job_takeover_seconds:g}): its scheduler has stopped")
    return None


def worker_problems(settings: Settings, *, now: datetime) -> list[str]:
    """Return why this host's worker is unhealthy: a stale or missing heartbeat, a catalog or store not answering."""
    problems = [problem] if (problem := _beat_problem(settings, now)) else []
    context = build_context(settings)
    try:
        for check in (context.check_database, context.check_store):
            try:
                check()
            except VaultError as exc:
                problems.append(exc.message)
    finally:
        context.close()
    return problems
