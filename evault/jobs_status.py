"""What the administrator's jobs page shows: each scheduled job, when it runs, and how its last run went."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from evault.leases import ABANDONED, FAILED, RUNNING
from evault.scheduler import JobSpec
from retention.models import JobLease
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require

CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
OK, IS_RUNNING, IS_FAILED, OVERDUE, NEVER = "ok", "running", "failed", "overdue", "never"


@dataclass(frozen=True)
class JobStatus:
    """One scheduled job with its newest run (lease) and what that says."""

    name: str
    schedule: str  # the cron fields, in the agency's zone
    period: timedelta
    last: JobLease | None
    state: str  # ok | running | failed | overdue | never

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


def _newest(session: Session, name: str) -> JobLease | None:
    query = select(JobLease).where(JobLease.job_name == name)
    return session.scalars(query.order_by(JobLease.started_at.desc(), JobLease.id.desc()).limit(1)).first()


def list_job_status(*, session: Session, actor: Actor, jobs: Sequence[JobSpec], now: datetime) -> list[JobStatus]:
    """Return every scheduled job with its newest run and whether it failed or is overdue (admin)."""
    require(actor, Permission.MANAGE_USERS)
    statuses = []
    for spec in jobs:
        last = _newest(session, spec.name)
        statuses.append(JobStatus(name=spec.name, schedule=cron_text(spec.cron), period=spec.period, last=last,
                                  state=_state(last, spec.period, now)))
    return statuses
