"""Scheduled jobs: APScheduler 3.x fires them in every worker (`evault serve` embeds one, `evault worker` is the
production one), and a lease row per run in the catalog makes exactly one worker execute each scheduled run of each
job. A lease carries a heartbeat, so a run whose worker died is taken over by another within minutes."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from evault.leases import FAILED, SUCCEEDED, Claim, Heartbeat, claim_slot, finish_lease, take_over_dead
from evault.reconcile import reconcile
from evault.worker_health import write_beat
from ingest.jobs import backfill_sm3, make_derivatives
from retention.jobs import RETENTION_JOBS
from vault.access.jobs import flush_playback
from vault.access.playback import close_idle_playback
from vault.context import VaultContext
from vault.custody.jobs import anchor_checkpoints
from vault.db import transaction, utcnow
from vault.redaction.rendering import resume_stalled

log = structlog.get_logger(__name__)

WATCHDOG = "lease_watchdog"
BEAT = "worker_heartbeat"
INGEST_BATCH = 500
JobCallable = Callable[[VaultContext], dict[str, Any]]


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: what runs, when (cron fields in the agency's zone) and the period its runs are keyed by.

    The cron time must fall inside each period (e.g. 01:10 for a daily job) so that every worker firing for
    the same run computes the same slot and only the first one's lease row is accepted.
    """

    name: str
    run: JobCallable
    period: timedelta
    cron: dict[str, str] = field(default_factory=dict)


def _batch(function: Callable[..., int], **kwargs: Any) -> JobCallable:
    """Adapt a job that returns how many items it handled to the scheduler's summary shape."""

    def run(context: VaultContext) -> dict[str, Any]:
        return {"handled": function(context, **kwargs)}

    return run


def _close_idle_playback(context: VaultContext) -> dict[str, Any]:
    """Summarise playback sessions idle for longer than the setting into custody events."""
    flush_playback(context)  # this process's held ranges first, so that no summary misses them
    with transaction(context.sessions) as session:
        closed = close_idle_playback(session=session, now=utcnow(),
                                     idle_seconds=context.settings.playback_idle_seconds)
    return {"closed": closed}


def default_jobs() -> list[JobSpec]:
    """Return the vault's job list: retention jobs nightly, ingest and access catch-up jobs through the day."""
    day, hour, ten_minutes = timedelta(days=1), timedelta(hours=1), timedelta(minutes=10)
    return [
        JobSpec("retention_sweep", RETENTION_JOBS["retention_sweep"], day, {"hour": "1", "minute": "10"}),
        JobSpec("fixity_audit", RETENTION_JOBS["fixity_audit"], day, {"hour": "2", "minute": "10"}),
        JobSpec("lock_reconciliation", RETENTION_JOBS["lock_reconciliation"], day, {"hour": "3", "minute": "10"}),
        JobSpec("archiving_deadline_report", RETENTION_JOBS["archiving_deadline_report"], day,
                {"hour": "7", "minute": "10"}),
        JobSpec("ingest_backfill_sm3", _batch(backfill_sm3, limit=INGEST_BATCH), hour, {"minute": "20"}),
        JobSpec("ingest_make_derivatives", _batch(make_derivatives, limit=INGEST_BATCH), ten_minutes,
                {"minute": "3-59/10"}),
        JobSpec("access_close_idle_playback", _close_idle_playback, ten_minutes, {"minute": "5-59/10"}),
        JobSpec("reconcile", reconcile, timedelta(minutes=15), {"minute": "7-59/15"}),
        JobSpec("custody_anchor", anchor_checkpoints, timedelta(minutes=1), {"minute": "*"}),
        # Hourly, so an approved disposal is destroyed within an hour of its recovery window ending.
        JobSpec("disposal_destruction", RETENTION_JOBS["disposal_destruction"], hour, {"minute": "40"}),
        # Renders and face searches whose process ended pick up again within minutes.
        JobSpec("redaction_resume", _batch(resume_stalled), timedelta(minutes=5), {"minute": "*/5"}),
    ]


def default_worker_name() -> str:
    """Return this process's worker name (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def slot_of(period: timedelta, moment: datetime) -> int:
    """Return the number of the period a run belongs to; every worker firing for one run agrees on it."""
    return int(moment.timestamp() // period.total_seconds())


def _takeover_after(context: VaultContext) -> timedelta:
    return timedelta(seconds=context.settings.job_takeover_seconds)


def claim_run(context: VaultContext, spec: JobSpec, worker: str, now: datetime) -> int | None:
    """Insert the lease row of this run; return its id, or None if another worker holds this run (or one running)."""
    claim = claim_slot(context.sessions, job_name=spec.name, slot=slot_of(spec.period, now), worker=worker, now=now,
                       takeover_after=_takeover_after(context))
    return None if claim is None else claim.lease_id


def _run_claimed(context: VaultContext, spec: JobSpec, claim: Claim, worker: str) -> dict[str, Any] | None:
    log.info("scheduler.run_started", job=spec.name, worker=worker, lease_id=claim.lease_id, attempt=claim.attempt)
    try:
        with Heartbeat(context.sessions, claim, every=context.settings.job_heartbeat_seconds):
            summary = spec.run(context)
    except Exception as exc:  # a failed run is recorded on its lease; the scheduler keeps going
        log.error("scheduler.run_failed", job=spec.name, worker=worker, error=type(exc).__name__, exc_info=exc)
        finish_lease(context.sessions, claim, FAILED, {"error": type(exc).__name__, "message": str(exc)[:500]})
        return None
    finish_lease(context.sessions, claim, SUCCEEDED, summary)
    log.info("scheduler.run_finished", job=spec.name, worker=worker, lease_id=claim.lease_id)
    return summary


def execute_once(
    context: VaultContext, spec: JobSpec, *, worker: str, now: datetime | None = None
) -> dict[str, Any] | None:
    """Run one scheduled run of a job if this worker wins its lease; return the summary, or None if skipped."""
    moment = now or utcnow()
    claim = claim_slot(context.sessions, job_name=spec.name, slot=slot_of(spec.period, moment), worker=worker,
                       now=moment, takeover_after=_takeover_after(context))
    if claim is None:
        log.info("scheduler.run_skipped", job=spec.name, worker=worker, slot=slot_of(spec.period, moment))
        return None
    return _run_claimed(context, spec, claim, worker)


def take_over_dead_runs(
    context: VaultContext, specs: list[JobSpec], *, worker: str, now: datetime | None = None
) -> dict[str, dict[str, Any] | None]:
    """Take over and run every run of these jobs whose worker stopped its heartbeat; return summaries by job."""
    by_name = {spec.name: spec for spec in specs}
    claims = take_over_dead(context.sessions, job_names=sorted(by_name), worker=worker, now=now or utcnow(),
                            takeover_after=_takeover_after(context))
    return {claim.job_name: _run_claimed(context, by_name[claim.job_name], claim, worker) for claim in claims}


def build_scheduler(
    context: VaultContext, *, worker: str | None = None, specs: list[JobSpec] | None = None
) -> BackgroundScheduler:
    """Configure (not start) a scheduler firing each job and a watchdog that takes over dead workers' runs."""
    jobs = default_jobs() if specs is None else specs
    name = worker or default_worker_name()
    zone = context.settings.zone
    # The job store is in memory: the lease rows in the catalog are what make each run happen exactly once.
    scheduler = BackgroundScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}, timezone=zone)
    for spec in jobs:
        scheduler.add_job(execute_once, CronTrigger(timezone=zone, **spec.cron), args=[context, spec],
                          kwargs={"worker": name}, id=spec.name, name=spec.name)
    scheduler.add_job(take_over_dead_runs, IntervalTrigger(seconds=context.settings.job_heartbeat_seconds),
                      args=[context, jobs], kwargs={"worker": name}, id=WATCHDOG, name=WATCHDOG)
    return scheduler


def start_scheduler(
    context: VaultContext, *, worker: str | None = None, specs: list[JobSpec] | None = None
) -> BackgroundScheduler:
    """Start the scheduler in a background thread (embedded in `evault serve`, or in `evault worker`)."""
    name = worker or default_worker_name()
    scheduler = build_scheduler(context, worker=name, specs=specs)
    scheduler.start()
    log.info("scheduler.started", worker=name, jobs=sorted(job.id for job in scheduler.get_jobs()))
    return scheduler


def run_worker(context: VaultContext, *, stop: threading.Event | None = None) -> None:
    """Run the scheduler until SIGINT/SIGTERM (or until `stop` is set)."""
    stopping = stop or threading.Event()
    if stop is None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda _signum, _frame: stopping.set())
    name = default_worker_name()
    scheduler = start_scheduler(context, worker=name)
    # The first beat at once, so `evault worker --check` passes as soon as the scheduler is up.
    scheduler.add_job(write_beat, IntervalTrigger(seconds=context.settings.job_heartbeat_seconds),
                      args=[context.settings], kwargs={"worker": name}, id=BEAT, name=BEAT,
                      next_run_time=utcnow())
    try:
        stopping.wait()
    finally:
        scheduler.shutdown(wait=True)
        log.info("scheduler.stopped", worker=name)
