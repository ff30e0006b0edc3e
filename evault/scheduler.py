"""Scheduled jobs: APScheduler 3.x with its job store in the catalog database, and a lease row per run so
that, however many workers run (`evault serve` embeds one, `evault worker` is the production one), exactly
one of them executes each scheduled run of each job."""

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
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from evault.reconcile import reconcile
from ingest.jobs import backfill_sm3, make_derivatives, sweep_staging
from retention.jobs import RETENTION_JOBS
from retention.models import JobLease
from vault.access.playback import close_idle_playback
from vault.context import VaultContext
from vault.db import transaction, utcnow

log = structlog.get_logger(__name__)

JOBSTORE_TABLE = "evault_scheduler_jobs"
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
    stale_after: timedelta = timedelta(hours=6)


def _batch(function: Callable[..., int], **kwargs: Any) -> JobCallable:
    """Adapt a job that returns how many items it handled to the scheduler's summary shape."""

    def run(context: VaultContext) -> dict[str, Any]:
        return {"handled": function(context, **kwargs)}

    return run


def _close_idle_playback(context: VaultContext) -> dict[str, Any]:
    """Summarise playback sessions idle for longer than the setting into custody events."""
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
        JobSpec("ingest_sweep_staging", _batch(sweep_staging), day, {"hour": "4", "minute": "10"}),
        JobSpec("ingest_backfill_sm3", _batch(backfill_sm3, limit=INGEST_BATCH), hour, {"minute": "20"}),
        JobSpec("ingest_make_derivatives", _batch(make_derivatives, limit=INGEST_BATCH), ten_minutes,
                {"minute": "3-59/10"}),
        JobSpec("access_close_idle_playback", _close_idle_playback, ten_minutes, {"minute": "5-59/10"}),
        JobSpec("reconcile", reconcile, timedelta(minutes=15), {"minute": "7-59/15"}),
    ]


@dataclass
class _Runtime:
    context: VaultContext | None = None
    worker: str = ""
    specs: dict[str, JobSpec] = field(default_factory=dict)


# The job store keeps only "evault.scheduler:run_job" and a job name; the process supplies context and code.
_RUNTIME = _Runtime()


def default_worker_name() -> str:
    """Return this process's worker name (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def slot_of(period: timedelta, moment: datetime) -> int:
    """Return the number of the period a run belongs to; every worker firing for one run agrees on it."""
    return int(moment.timestamp() // period.total_seconds())


def claim_run(context: VaultContext, spec: JobSpec, worker: str, now: datetime) -> int | None:
    """Insert the lease row of this run; return its id, or None if another worker holds this run (or one running)."""
    slot = slot_of(spec.period, now)
    try:
        with transaction(context.sessions) as session:
            running = session.scalar(select(JobLease.id).where(
                JobLease.job_name == spec.name, JobLease.outcome == "running",
                JobLease.started_at > now - spec.stale_after, JobLease.slot != slot).limit(1))
            if running is not None:
                return None
            lease = JobLease(job_name=spec.name, slot=slot, worker=worker, started_at=now, outcome="running",
                             summary={})
            session.add(lease)
            session.flush()
            return lease.id
    except IntegrityError:
        return None


def _finish(context: VaultContext, lease_id: int, outcome: str, summary: dict[str, Any]) -> None:
    with transaction(context.sessions) as session:
        lease = session.get(JobLease, lease_id)
        if lease is not None:
            lease.finished_at, lease.outcome, lease.summary = utcnow(), outcome, summary


def execute_once(
    context: VaultContext, spec: JobSpec, *, worker: str, now: datetime | None = None
) -> dict[str, Any] | None:
    """Run one scheduled run of a job if this worker wins its lease; return the summary, or None if skipped."""
    moment = now or utcnow()
    lease_id = claim_run(context, spec, worker, moment)
    if lease_id is None:
        log.info("scheduler.run_skipped", job=spec.name, worker=worker, slot=slot_of(spec.period, moment))
        return None
    log.info("scheduler.run_started", job=spec.name, worker=worker, lease_id=lease_id)
    try:
        summary = spec.run(context)
    except Exception as exc:  # a failed run is recorded on its lease; the scheduler keeps going
        log.error("scheduler.run_failed", job=spec.name, worker=worker, error=type(exc).__name__, exc_info=exc)
        _finish(context, lease_id, "failed", {"error": type(exc).__name__, "message": str(exc)[:500]})
        return None
    _finish(context, lease_id, "succeeded", summary)
    log.info("scheduler.run_finished", job=spec.name, worker=worker, lease_id=lease_id)
    return summary


def run_job(name: str) -> None:
    """Entry point the job store refers to: run the named job in this process, under its lease."""
    spec = _RUNTIME.specs.get(name)
    if _RUNTIME.context is None or spec is None:
        log.warning("scheduler.unknown_job", job=name)
        return
    execute_once(_RUNTIME.context, spec, worker=_RUNTIME.worker)


def build_scheduler(
    context: VaultContext, *, worker: str | None = None, specs: list[JobSpec] | None = None
) -> BackgroundScheduler:
    """Configure (not start) a scheduler whose jobs live in the catalog database."""
    jobs = default_jobs() if specs is None else specs
    _RUNTIME.context = context
    _RUNTIME.worker = worker or default_worker_name()
    _RUNTIME.specs = {spec.name: spec for spec in jobs}
    zone = context.settings.zone
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=context.engine, tablename=JOBSTORE_TABLE)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone=zone,
    )
    for spec in jobs:
        scheduler.add_job("evault.scheduler:run_job", CronTrigger(timezone=zone, **spec.cron), args=[spec.name],
                          id=spec.name, name=spec.name, replace_existing=True)
    return scheduler


def start_scheduler(
    context: VaultContext, *, worker: str | None = None, specs: list[JobSpec] | None = None
) -> BackgroundScheduler:
    """Start the scheduler in a background thread (embedded in `evault serve`, or in `evault worker`)."""
    scheduler = build_scheduler(context, worker=worker, specs=specs)
    scheduler.start()
    log.info("scheduler.started", worker=_RUNTIME.worker, jobs=sorted(_RUNTIME.specs))
    return scheduler


def run_worker(context: VaultContext, *, stop: threading.Event | None = None) -> None:
    """Run the scheduler until SIGINT/SIGTERM (or until `stop` is set)."""
    stopping = stop or threading.Event()
    if stop is None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda _signum, _frame: stopping.set())
    scheduler = start_scheduler(context)
    try:
        stopping.wait()
    finally:
        scheduler.shutdown(wait=True)
        log.info("scheduler.stopped", worker=_RUNTIME.worker)
