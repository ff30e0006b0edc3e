"""`GET /metrics`: this process's request, ingest and store metrics, and vault-wide ones read from the catalog at
scrape time (job runs, the reconciler's last findings, the custody log's anchoring), in the Prometheus text format.

Who may scrape: the holder of the scrape token in EVAULT_METRICS_TOKEN_FILE (Prometheus reads it with
`authorization.credentials_file`), or an admin's or auditor's API token. Never anyone else: route names,
job summaries and upload volumes say how the agency works. The catalog-read families are the same from every
instance (they come from the shared catalog); the others are this process's own.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from evault.jobs_status import IS_FAILED, IS_RUNNING, NEVER, OK, OVERDUE, JobStatus, list_job_status, run_duration
from evault.leases import SUCCEEDED
from evault.scheduler import JobSpec
from retention.models import JobLease
from vault.api.deps import ContextDep, get_actor
from vault.api.errors import error_responses
from vault.context import VaultContext
from vault.custody.models import Checkpoint
from vault.db import utcnow
from vault.errors import VaultError
from vault.identities.actor import SYSTEM
from vault.identities.authz import Permission, require
from vault.metrics import METRICS_CONTENT_TYPE

log = structlog.get_logger(__name__)

# The routes whose request bodies are evidence arriving: tus creation-with-upload and PATCH, one-request upload.
UPLOAD_ROUTES = frozenset({("POST", "/api/uploads"), ("PATCH", "/api/uploads/{upload_id}"), ("POST", "/api/evidence")})
JOB_STATES = (OK, IS_RUNNING, IS_FAILED, OVERDUE, NEVER)
RECONCILE_JOB = "reconcile"
MIN_SCRAPE_TOKEN_CHARS = 24

router = APIRouter(tags=["metrics"])
_bearer = HTTPBearer(auto_error=False, description="the scrape token, or an admin's or auditor's API token")


def _gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def _timestamp(moment: datetime) -> float:
    return moment.timestamp()


def job_families(statuses: Sequence[JobStatus]) -> Iterator[Metric]:
    """Yield the job metrics: runs by outcome, the last run's start, duration and outcome, and the next due time."""
    runs = CounterMetricFamily("evault_job_runs", "Recorded runs of each scheduled job, by outcome.",
                               labels=["job", "outcome"])
    state = _gauge("evault_job_state", "1 for the job's current state (ok, running, failed, overdue, never).",
                   ["job", "state"])
    started = _gauge("evault_job_last_run_start_timestamp_seconds", "When the job's newest run started.", ["job"])
    took = _gauge("evault_job_last_run_duration_seconds", "How long the job's newest finished run took.", ["job"])
    success = _gauge("evault_job_last_success_timestamp_seconds", "When the job's newest successful run started.",
                     ["job"])
    failing = _gauge("evault_job_failures_in_a_row", "Newest runs of the job that failed or were abandoned.", ["job"])
    due = _gauge("evault_job_next_due_timestamp_seconds", "When the scheduler fires the job next.", ["job"])
    period = _gauge("evault_job_period_seconds", "How often the job runs (its runs are keyed by this period).",
                    ["job"])
    for status in statuses:
        for outcome, count in sorted(status.runs_by_outcome.items()):
            runs.add_metric([status.name, outcome], count)
        for name in JOB_STATES:
            state.add_metric([status.name, name], 1 if status.state == name else 0)
        failing.add_metric([status.name], status.failures_in_a_row)
        period.add_metric([status.name], status.period.total_seconds())
        if status.last is not None:
            started.add_metric([status.name], _timestamp(status.last.started_at))
            duration = run_duration(status.last)
            if duration is not None:
                took.add_metric([status.name], duration.total_seconds())
        if status.last_success is not None:
            success.add_metric([status.name], _timestamp(status.last_success.started_at))
        if status.next_due is not None:
            due.add_metric([status.name], _timestamp(status.next_due))
    yield from (runs, state, started, took, success, failing, due, period)


def reconciler_families(session: Session) -> Iterator[Metric]:
    """Yield what the newest successful reconciler pass found and did, by kind, and when it ran."""
    newest = session.scalars(select(JobLease).where(JobLease.job_name == RECONCILE_JOB, JobLease.outcome == SUCCEEDED)
                             .order_by(JobLease.started_at.desc(), JobLease.id.desc()).limit(1)).first()
    findings = _gauge("evault_reconcile_findings", "What the newest scheduled reconciler pass found or did, by kind "
                      "(uploads_finished, store_locked, store_locked_orphans, ...).", ["kind"])
    when = _gauge("evault_reconcile_last_pass_timestamp_seconds", "When the newest successful reconciler pass ran.")
    if newest is not None:
        when.add_metric([], _timestamp(newest.started_at))
        for kind, value in sorted((newest.summary or {}).items()):
            if isinstance(value, int | float) and not isinstance(value, bool):
                findings.add_metric([kind], value)
    yield from (findings, when)


def anchoring_families(session: Session, context: VaultContext, now: datetime) -> Iterator[Metric]:
    """Yield the age of the newest anchored checkpoint and how many signed checkpoints wait for their anchor."""
    anchored = context.anchors.latest()
    anchored_size = anchored.tree_size if anchored is not None else 0
    waiting = select(Checkpoint).where(Checkpoint.tree_size > anchored_size)
    unanchored = session.scalar(select(func.count()).select_from(waiting.subquery())) or 0
    oldest_waiting = session.scalar(select(func.min(Checkpoint.signed_at)).where(Checkpoint.tree_size > anchored_size))
    age = _gauge("evault_custody_last_anchored_checkpoint_age_seconds",
                 "Seconds since the newest anchored checkpoint was signed (absent until one is anchored).")
    size = _gauge("evault_custody_last_anchored_tree_size",
                  "Custody log entries the newest anchored checkpoint covers.")
    count = _gauge("evault_custody_unanchored_checkpoints", "Signed checkpoints newer than the newest anchored one.")
    waited = _gauge("evault_custody_oldest_unanchored_checkpoint_age_seconds",
                    "Seconds the oldest checkpoint not yet anchored has waited (0 when every one is anchored).")
    row = session.get(Checkpoint, anchored_size) if anchored is not None else None
    if row is not None:
        age.add_metric([], (now - row.signed_at).total_seconds())
    size.add_metric([], anchored_size)
    count.add_metric([], unanchored)
    waited.add_metric([], (now - oldest_waiting).total_seconds() if oldest_waiting is not None else 0)
    yield from (age, size, count, waited)


class CatalogCollector:
    """Read the vault-wide metrics from the catalog at each scrape, so they agree across instances and workers."""

    def __init__(self, context: VaultContext, jobs: Sequence[JobSpec]) -> None:
        self.context = context
        self.jobs = list(jobs)

    def collect(self) -> Iterator[Metric]:
        """Yield the catalog's families, and evault_catalog_up (0 when the catalog could not be read)."""
        up = _gauge("evault_catalog_up", "1 when this scrape could read the catalog and the custody log's anchors.")
        now = utcnow()
        try:
            with self.context.sessions() as session:
                statuses = list_job_status(session=session, actor=SYSTEM, jobs=self.jobs, now=now,
                                           zone=self.context.settings.zone, recent=20)
                families = [*job_families(statuses), *reconciler_families(session),
                            *anchoring_families(session, self.context, now)]
        except (SQLAlchemyError, VaultError) as exc:
            log.warning("metrics.catalog_unreadable", error=type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def scrape_token(path: Path | None) -> str | None:
    """Return the scrape token held in the file (read on every scrape, so it can be rotated), or None."""
    if path is None:
        return None
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        log.warning("metrics.token_unreadable", path=str(path), error=exc.strerror)
        return None
    if len(token) < MIN_SCRAPE_TOKEN_CHARS:
        log.warning("metrics.token_too_short", path=str(path), minimum=MIN_SCRAPE_TOKEN_CHARS)
        return None
    return token


def _may_scrape(request: Request, context: VaultContext, credentials: HTTPAuthorizationCredentials | None) -> None:
    expected = scrape_token(context.settings.metrics_token_file)
    sent = credentials.credentials if credentials is not None else ""
    if expected is not None and sent and secrets.compare_digest(sent.encode(), expected.encode()):
        request.state.actor = "metrics-scraper"
        return
    require(get_actor(request, context, credentials), Permission.READ_OPERATIONS)


EXPOSITION: dict[int | str, dict[str, Any]] = {200: {
    "description": "The metrics in the Prometheus text exposition format (version 0.0.4)",
    "content": {"text/plain": {"schema": {"type": "string"}}}}}


@router.get("/metrics", response_class=Response, responses={**EXPOSITION, **error_responses(401, 403, 503)})
def metrics(request: Request, context: ContextDep,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Response:
    """Return the metrics in the Prometheus text format (the scrape token, or an admin's or auditor's API token)."""
    _may_scrape(request, context, credentials)
    return Response(context.metrics.render(), media_type=METRICS_CONTENT_TYPE)
