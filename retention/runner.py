"""Run a job record by record, each in its own transaction or savepoint, so one failing record does not stop
the run."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.models import RetentionState
from vault.context import VaultContext
from vault.db import transaction
from vault.evidence.models import Evidence

log = structlog.get_logger(__name__)

RecordWork = Callable[[Session, Evidence], str]


@dataclass
class JobSummary:
    """What one job run did: outcomes counted by name, failures with their record ids."""

    job: str
    outcomes: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready values."""
        return {"job": self.job, "outcomes": dict(self.outcomes), "failed": self.failed[:100],
                "failed_count": len(self.failed), **self.details}


def run_per_record(context: VaultContext, summary: JobSummary, ids: Iterable[uuid.UUID], work: RecordWork, *,
                   batch: int = 1) -> None:
    """Apply work to each record; log and count a failure, then go on.

    With batch > 1, up to that many records share one transaction, each in a savepoint of its own: one commit
    (so one signed, anchored checkpoint) per batch instead of per record. A record that fails rolls back alone;
    a batch whose commit fails is run again record by record. Only work whose store calls may safely repeat
    (extending a lock, setting a hold) may be batched: nothing irreversible happens before the commit.
    """
    pending = list(ids)
    for start in range(0, len(pending), batch):
        chunk = pending[start:start + batch]
        if batch > 1 and _run_batch(context, summary, chunk, work):
            continue
        for evidence_id in chunk:
            try:
                with transaction(context.sessions) as session:
                    outcome = _apply_work(session, evidence_id, work)
                summary.outcomes[outcome] += 1
            except Exception as exc:  # one bad record must not stop the run; it is retried next time
                _failed(summary, evidence_id, exc)


def _apply_work(session: Session, evidence_id: uuid.UUID, work: RecordWork) -> str:
    evidence = session.get(Evidence, evidence_id)
    return "missing" if evidence is None else work(session, evidence)


def _run_batch(context: VaultContext, summary: JobSummary, ids: list[uuid.UUID], work: RecordWork) -> bool:
    """Run a batch in one transaction, a savepoint per record; return False, counting nothing, if it failed."""
    outcomes: Counter[str] = Counter()
    failures: list[tuple[uuid.UUID, Exception]] = []
    try:
        with transaction(context.sessions) as session:
            _kept = _preload(session, ids)  # referenced until the batch ends: the identity map holds them weakly
            for evidence_id in ids:
                try:
                    with session.begin_nested():
                        outcomes[_apply_work(session, evidence_id, work)] += 1
                except Exception as exc:  # this record's savepoint is rolled back; the batch goes on
                    failures.append((evidence_id, exc))
    except Exception as exc:  # the commit (or the database) failed: the caller runs the batch record by record
        log.warning("retention.job_batch_failed", job=summary.job, records=len(ids), error=type(exc).__name__,
                    message=str(exc)[:300])
        return False
    summary.outcomes.update(outcomes)
    for evidence_id, failure in failures:
        _failed(summary, evidence_id, failure)
    return True


def _preload(session: Session, ids: list[uuid.UUID]) -> list[object]:
    """Load the batch's records and retention states in two queries, so each record's own reads find them."""
    loaded: list[object] = list(session.scalars(select(Evidence).where(Evidence.id.in_(ids))))
    loaded.extend(session.scalars(select(RetentionState).where(RetentionState.evidence_id.in_(ids))))
    return loaded


def _failed(summary: JobSummary, evidence_id: uuid.UUID, exc: Exception) -> None:
    if str(evidence_id) not in summary.failed:
        summary.failed.append(str(evidence_id))
    log.error("retention.job_record_failed", job=summary.job, evidence_id=str(evidence_id),
              error=type(exc).__name__, message=str(exc)[:300])
