"""Job leases: one row per attempt at a scheduled run, kept alive by a heartbeat and taken over once it stops.

A worker that claims a run refreshes the lease's `heartbeat_at` from its own thread while the job runs. A
lease whose heartbeat is older than the takeover time belongs to a worker that died (killed, host lost): any
other worker marks it `abandoned` and, in the same transaction, claims the next attempt of that run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from retention.models import JobLease
from vault.db import transaction, utcnow

log = structlog.get_logger(__name__)

RUNNING, SUCCEEDED, FAILED, ABANDONED = "running", "succeeded", "failed", "abandoned"


@dataclass(frozen=True)
class Claim:
    """A lease this worker holds: which run of which job, and which attempt at it."""

    lease_id: int
    job_name: str
    slot: int
    attempt: int


def _rows(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def _alive_after(now: datetime, takeover_after: timedelta) -> Any:
    return JobLease.heartbeat_at > now - takeover_after


def claim_slot(
    sessions: sessionmaker[Session], *, job_name: str, slot: int, worker: str, now: datetime,
    takeover_after: timedelta,
) -> Claim | None:
    """Insert the first lease of this run; None if another worker has it, or a live one runs an earlier run."""
    try:
        with transaction(sessions) as session:
            running = session.scalar(select(JobLease.id).where(
                JobLease.job_name == job_name, JobLease.outcome == RUNNING, JobLease.slot != slot,
                _alive_after(now, takeover_after)).limit(1))
            if running is not None:
                return None
            lease = JobLease(job_name=job_name, slot=slot, attempt=1, worker=worker, started_at=now,
                             heartbeat_at=now, outcome=RUNNING, summary={})
            session.add(lease)
            session.flush()
            return Claim(lease.id, job_name, slot, 1)
    except IntegrityError:
        return None


def _silent(now: datetime, takeover_after: timedelta) -> Any:
    return or_(JobLease.heartbeat_at.is_(None), JobLease.heartbeat_at <= now - takeover_after)


def _take_over(session: Session, dead: JobLease, *, worker: str, now: datetime,
               takeover_after: timedelta) -> Claim | None:
    silent_since = dead.heartbeat_at
    marked = session.execute(
        update(JobLease)
        .where(JobLease.id == dead.id, JobLease.outcome == RUNNING, _silent(now, takeover_after))
        .values(outcome=ABANDONED, finished_at=now,
                summary={"abandoned_by": worker, "last_heartbeat": silent_since.isoformat() if silent_since else None})
    )
    if _rows(marked) != 1:
        return None  # another worker took it over first
    log.warning("scheduler.lease_abandoned", job=dead.job_name, slot=dead.slot, attempt=dead.attempt,
                dead_worker=dead.worker, last_heartbeat=silent_since.isoformat() if silent_since else None,
                taken_over_by=worker)
    later = session.scalar(select(JobLease.id).where(
        JobLease.job_name == dead.job_name, JobLease.slot > dead.slot).limit(1))
    if later is not None:
        return None  # the job has run since: that run covered what the dead one left undone
    lease = JobLease(job_name=dead.job_name, slot=dead.slot, attempt=dead.attempt + 1, worker=worker,
                     started_at=now, heartbeat_at=now, outcome=RUNNING, summary={"takes_over": dead.id})
    session.add(lease)
    session.flush()
    return Claim(lease.id, dead.job_name, dead.slot, lease.attempt)


def take_over_dead(
    sessions: sessionmaker[Session], *, job_names: list[str], worker: str, now: datetime,
    takeover_after: timedelta,
) -> list[Claim]:
    """Abandon running leases whose heartbeat stopped and claim the next attempt of each such run."""
    with transaction(sessions) as session:
        dead = list(session.scalars(select(JobLease).where(
            JobLease.job_name.in_(job_names), JobLease.outcome == RUNNING, _silent(now, takeover_after))))
    claims = []
    for lease in dead:
        try:
            with transaction(sessions) as session:
                current = session.get(JobLease, lease.id)
                claim = None if current is None else _take_over(session, current, worker=worker, now=now,
                                                                      takeover_after=takeover_after)
        except IntegrityError:
            claim = None  # a rival claimed the same attempt between our reads
        if claim is not None:
            claims.append(claim)
    return claims


def finish_lease(sessions: sessionmaker[Session], claim: Claim, outcome: str, summary: dict[str, Any]) -> None:
    """Record how the run ended, unless another worker has already taken the lease over."""
    with transaction(sessions) as session:
        done = session.execute(update(JobLease).where(JobLease.id == claim.lease_id, JobLease.outcome == RUNNING)
                               .values(finished_at=utcnow(), outcome=outcome, summary=summary))
        if _rows(done) != 1:
            log.error("scheduler.lease_lost", job=claim.job_name, slot=claim.slot, attempt=claim.attempt,
                      outcome=outcome)


class Heartbeat:
    """Refresh one lease's heartbeat on its own thread until stopped (use as a context manager)."""

    def __init__(self, sessions: sessionmaker[Session], claim: Claim, *, every: float) -> None:
        self._sessions = sessions
        self._claim = claim
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{claim.lease_id}-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> bool:
        with transaction(self._sessions) as session:
            done = session.execute(update(JobLease).where(
                JobLease.id == self._claim.lease_id, JobLease.outcome == RUNNING).values(heartbeat_at=utcnow()))
            return _rows(done) == 1

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                alive = self._beat()
            except SQLAlchemyError as exc:  # a missed beat is survivable; the next one may get through
                log.warning("scheduler.heartbeat_failed", job=self._claim.job_name, error=type(exc).__name__)
                continue
            if not alive:
                log.error("scheduler.lease_lost", job=self._claim.job_name, slot=self._claim.slot,
                          attempt=self._claim.attempt)
                return
