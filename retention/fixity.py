"""Fixity audit: re-hash stored originals on a rolling cycle; a mismatch or a missing object is flagged and
alerted, never "repaired"."""

from __future__ import annotations

import hashlib
import hmac
import math
import uuid
from datetime import datetime

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retention.models import RetentionState
from retention.runner import JobSummary, run_per_record
from retention.service import current_policy, recompute_retention
from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.db import utcnow
from vault.errors import NotFound, StorageError
from vault.evidence.models import Evidence, EvidenceStatus
from vault.evidence.service import raise_flag
from vault.identities.actor import SYSTEM
from vault.storage.base import BlobStore

log = structlog.get_logger(__name__)

FIXITY_FLAG = "fixity_failed"


def rehash(store: BlobStore, evidence: Evidence) -> tuple[str, int]:
    """Stream the stored original once in fixed chunks; return its SHA-256 and size."""
    digest = hashlib.sha256()
    size = 0
    for chunk in store.open_range(evidence.storage_key, evidence.version_id):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def check_fixity(session: Session, store: BlobStore, evidence: Evidence, now: datetime) -> str:
    """Re-hash one original, record the outcome, and flag and alert on a mismatch or a missing object."""
    state = session.get(RetentionState, evidence.id) or recompute_retention(session, evidence, now)
    try:
        sha256, size = rehash(store, evidence)
        problem = None
        if not hmac.compare_digest(sha256, evidence.sha256) or size != evidence.size:
            problem = {"problem": "mismatch", "expected_sha256": evidence.sha256, "actual_sha256": sha256,
                       "expected_size": evidence.size, "actual_size": size}
    except NotFound:
        problem = {"problem": "missing", "expected_sha256": evidence.sha256}
    except StorageError:
        return "store_unreachable"  # not a verdict on the object: it is checked again next run
    state.fixity_checked_at = now
    state.fixity_ok = problem is None
    if problem is None:
        record_event(session=session, actor=SYSTEM, action=CustodyAction.EVIDENCE_FIXITY_CHECKED,
                     subject_type="evidence", subject_id=evidence.id, case_id=evidence.case_id, now=now,
                     details={"sha256": evidence.sha256, "size": evidence.size})
        return "ok"
    log.error("retention.fixity_failed", evidence_id=str(evidence.id), problem=problem["problem"])
    raise_flag(session=session, actor=SYSTEM, evidence=evidence, flag=FIXITY_FLAG, now=now,
               detail=f"fixity audit {now.isoformat()}: stored original {problem['problem']}")
    record_event(session=session, actor=SYSTEM, action=CustodyAction.EVIDENCE_FIXITY_FAILED, subject_type="evidence",
                 subject_id=evidence.id, case_id=evidence.case_id, now=now, details=problem)
    return str(problem["problem"])


def fixity_batch(session: Session, now: datetime, limit: int | None) -> list[uuid.UUID]:
    """Return the share of stored originals to check this run: never-checked first, then the longest unchecked."""
    if limit is None:
        total = session.scalar(select(func.count()).select_from(Evidence)
                               .where(Evidence.status == EvidenceStatus.STORED)) or 0
        limit = max(1, math.ceil(total / current_policy(session, now).fixity_cycle_days))
    query = (select(Evidence.id).outerjoin(RetentionState, RetentionState.evidence_id == Evidence.id)
             .where(Evidence.status == EvidenceStatus.STORED)
             .order_by(RetentionState.fixity_checked_at.asc().nulls_first(), Evidence.id).limit(limit))
    return list(session.scalars(query))


def fixity_audit(context: VaultContext, *, now: datetime | None = None, limit: int | None = None) -> JobSummary:
    """Re-hash today's share of originals (all within the policy's fixity cycle when run daily)."""
    moment = now or utcnow()
    summary = JobSummary(job="fixity_audit")
    with context.sessions() as session:
        ids = fixity_batch(session, moment, limit)
    run_per_record(context, summary, ids, lambda session, evidence: check_fixity(session, context.store, evidence,
                                                                                  moment))
    return summary
