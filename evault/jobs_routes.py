"""`GET /api/jobs`: the scheduled jobs' last runs, outcomes, durations and next due times, for admins and auditors
(the same service as the administrator's jobs page)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from evault.jobs_status import RECENT_RUNS, JobStatus, get_job_status, list_job_status, run_duration
from evault.scheduler import default_jobs
from retention.models import JobLease
from vault.api.deps import ActorDep, ContextDep, SessionDep
from vault.api.errors import SIGNED_IN, error_responses
from vault.db import utcnow

router = APIRouter(prefix="/api/jobs", tags=["jobs"], responses=SIGNED_IN)
RecentQuery = Annotated[int, Query(ge=1, le=100, description="how many of each job's newest runs to return")]


class JobRunPublic(BaseModel):
    """One run (attempt) of a scheduled job, as its lease recorded it."""

    attempt: int
    worker: str
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    outcome: str  # running | succeeded | failed | abandoned
    summary: dict[str, Any]


class JobStatusPublic(BaseModel):
    """A scheduled job: its schedule, state, next due time and newest runs."""

    name: str
    schedule: str  # cron fields in the agency's time zone
    timezone: str
    period_seconds: float
    state: str  # ok | running | failed | overdue | never
    needs_attention: bool
    next_due: datetime | None
    last_run: JobRunPublic | None
    last_success_at: datetime | None
    failures_in_a_row: int
    runs_by_outcome: dict[str, int]
    recent_runs: list[JobRunPublic]


def _run(run: JobLease) -> JobRunPublic:
    duration = run_duration(run)
    return JobRunPublic(attempt=run.attempt, worker=run.worker, started_at=run.started_at, finished_at=run.finished_at,
                        duration_seconds=None if duration is None else round(duration.total_seconds(), 3),
                        outcome=run.outcome, summary=run.summary or {})


def job_public(status: JobStatus, *, timezone: str) -> JobStatusPublic:
    """Return a job's status as the API shows it."""
    success = status.last_success
    return JobStatusPublic(
        name=status.name, schedule=status.schedule, timezone=timezone, period_seconds=status.period.total_seconds(),
        state=status.state, needs_attention=status.needs_attention, next_due=status.next_due,
        last_run=_run(status.last) if status.last is not None else None,
        last_success_at=success.started_at if success is not None else None,
        failures_in_a_row=status.failures_in_a_row, runs_by_outcome=status.runs_by_outcome,
        recent_runs=[_run(run) for run in status.recent])


@router.get("", response_model=list[JobStatusPublic])
def list_jobs(actor: ActorDep, session: SessionDep, context: ContextDep,
              recent: RecentQuery = RECENT_RUNS) -> list[JobStatusPublic]:
    """List every scheduled job with its newest runs, failures and next due time (admin, auditor)."""
    settings = context.settings
    statuses = list_job_status(session=session, actor=actor, jobs=default_jobs(), now=utcnow(), zone=settings.zone,
                               recent=recent)
    return [job_public(status, timezone=settings.timezone) for status in statuses]


@router.get("/{name}", response_model=JobStatusPublic, responses=error_responses(404))
def show_job(name: Annotated[str, Path(max_length=64)], actor: ActorDep, session: SessionDep, context: ContextDep,
             recent: RecentQuery = RECENT_RUNS) -> JobStatusPublic:
    """Show one scheduled job with its newest runs, failures and next due time (admin, auditor)."""
    settings = context.settings
    status = get_job_status(session=session, actor=actor, jobs=default_jobs(), name=name, now=utcnow(),
                            zone=settings.zone, recent=recent)
    return job_public(status, timezone=settings.timezone)
