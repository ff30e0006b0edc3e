"""Each scheduled job, when it runs next, and how its last runs went: the administrator's jobs page, `GET /api/jobs`
and the job metrics of /metrics read this one service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from evault.leases import ABANDONED, FAILED, RUNNING, SUCCEEDED
from evault.scheduler import JobSpec
from retention.models import JobLease
from vault.errors import NotFound
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require

CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
OK, IS_RUNNING, IS_FAILED, OVERDUE, NEVER = "ok", "running", "failed", "overdue", "never"
RECENT_RUNS = 10


@dataclass(frozen=True)
class JobStatus:
    """One scheduled job with its newest run (lease) and what that says."""

    name: str
    schedule: str  # the cron fields, in the agency's zone
    period: timedelta
    last: JobLease | None
    state: str  # ok | running | failed | overdue | never
    recent: tuple[JobLease, ...] = ()  # newest first, at most RECENT_RUNS
    runs_by_outcome: dict[str, int] = field(default_factory=dict)  # every recorded run
    next_due: datetime | None = None

    @property
    def failures_in_a_row(self) -> int:
        """Return how many of the newest runs failed or were abandoned, up to the last one that did not."""
        count = 0
        for run in self.recent:
            if run.outcome not in (FAILED, ABANDONED):
                break
            count += 1
        return count

    @property
    def last_success(self) -> JobLease | None:
        """Return the newest of the recent runs that succeeded."""
        return next((run for run in self.recent if run.outcome == SUCCEEDED), None)

    @property
    def needs_attention(self) -> bool:
        """Return whether the job failed or has not run when it should have."""
        return self.state in (IS_FAILED, OVERDUE)


def cron_text(cron: dict[str, str]) -> str:
    """Show cron fields as the usual five-field line ("10 1 * * *")."""
    return " ".join(cron.get(field, "*") for field in CRON_FIELDS)


def _state(last: JobLease | None, period: timedelta, now: datetime) -> str:
    if last is None:
        return NEVER
    if last.outcome in (FAILED, ABANDONED):
        return IS_FAILED
    # One whole period of grace: a run may start late in its slot, and the next one not yet be due.
    if last.started_at < now - 2 * period:
        return OVERDUE
    return IS_RUNNING if last.outcome == RUNNING else OK


def run_duration(run: JobLease) -> timedelta | None:
    """Return how long a finished run took (None while it runs)."""
    return None if run.finished_at is None else run.finished_at - run.started_at


def next_due(cron: dict[str, str], *, zone: tzinfo, now: datetime) -> datetime | None:
    """Return when the scheduler fires the job next, in UTC (its cron fields are in the agency's zone)."""
    fire: datetime | None = CronTrigger(timezone=zone, **cron).get_next_fire_time(None, now)
    return fire.astimezone(UTC) if fire is not None else None


def _newest(session: Session, name: str, limit: int) -> list[JobLease]:
    query = select(JobLease).where(JobLease.job_name == name)
    return list(session.scalars(query.order_by(JobLease.started_at.desc(), JobLease.id.desc()).limit(limit)))


def _counts(session: Session) -> dict[str, dict[str, int]]:
    rows = session.execute(select(JobLease.job_name, JobLease.outcome, func.count()).group_by(
        JobLease.job_name, JobLease.outcome))
    counts: dict[str, dict[str, int]] = {}
    for name, outcome, count in rows:
        counts.setdefault(name, {})[outcome] = count
    return counts


def list_job_status(
    *, session: Session, actor: Actor, jobs: Sequence[JobSpec], now: datetime, zone: tzinfo,
    recent: int = RECENT_RUNS,
) -> list[JobStatus]:
    """Return every scheduled job with its newest runs, run counts, next due time and state (admin, auditor)."""
    require(actor, Permission.READ_OPERATIONS)
    counts = _counts(session)
    statuses = []
    for spec in jobs:
        runs = _newest(session, spec.name, max(recent, 1))
        last = runs[0] if runs else None
        statuses.append(JobStatus(
            name=spec.name, schedule=cron_text(spec.cron), period=spec.period, last=last,
            state=_state(last, spec.period, now), recent=tuple(runs[:recent]),
            runs_by_outcome=counts.get(spec.name, {}), next_due=next_due(spec.cron, zone=zone, now=now)))
    return statuses


class JobNotFound(NotFound):
    """No scheduled job has this name."""

    code = "job_not_found"


def get_job_status(
    *, session: Session, actor: Actor, jobs: Sequence[JobSpec], name: str, now: datetime, zone: tzinfo,
    recent: int = RECENT_RUNS,
) -> JobStatus:
    """Return one scheduled job's status (see list_job_status); JobNotFound for a name the scheduler lacks."""
    spec = next((spec for spec in jobs if spec.name == name), None)
    if spec is None:
        require(actor, Permission.READ_OPERATIONS)  # a refused caller learns nothing about job names
        raise JobNotFound(f"没有名为 {name} 的定时任务 (no scheduled job named {name})",
                          details={"jobs": sorted(spec.name for spec in jobs)})
    return list_job_status(session=session, actor=actor, jobs=[spec], now=now, zone=zone, recent=recent)[0]
