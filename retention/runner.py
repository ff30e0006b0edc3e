"""Run a job record by record, each in its own transaction, so one failing record does not stop the run."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.orm import Session

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


def run_per_record(context: VaultContext, summary: JobSummary, ids: Iterable[uuid.UUID], work: RecordWork) -> None:
    """Apply work to each record in a transaction of its own; log and count a failure, then go on."""
    for evidence_id in ids:
        try:
            with transaction(context.sessions) as session:
                evidence = session.get(Evidence, evidence_id)
                outcome = "missing" if evidence is None else work(session, evidence)
            summary.outcomes[outcome] += 1
        except Exception as exc:  # one bad record must not stop the run; it is retried next time
            if str(evidence_id) not in summary.failed:
                summary.failed.append(str(evidence_id))
            log.error("retention.job_record_failed", job=summary.job, evidence_id=str(evidence_id),
                      error=type(exc).__name__, message=str(exc)[:300])
