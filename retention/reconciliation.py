"""Lock reconciliation: the store's own lock and legal hold must be at least what the catalog computed."""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.runner import JobSummary, run_per_record
from retention.service import recompute_retention, sync_store_lock
from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.db import utcnow
from vault.errors import NotFound
from vault.evidence.models import Evidence, EvidenceStatus
from vault.identities.actor import SYSTEM
from vault.storage.base import BlobStore

log = structlog.get_logger(__name__)
PAGE = 1000


def reconcile_record(session: Session, store: BlobStore, evidence: Evidence, now: datetime, *, fix: bool) -> str:
    """Compare one record's store lock and hold with its computed retention; extend (never shorten) if fixing."""
    state = recompute_retention(session, evidence, now)
    try:
        stat = store.stat(evidence.storage_key, evidence.version_id)
    except NotFound:
        return "missing"  # the fixity audit flags and alerts on missing objects
    outcome = "ok"
    if state.held and not stat.legal_hold:
        log.warning("retention.store_hold_missing", evidence_id=str(evidence.id))
        outcome = "hold_missing"
        if fix:
            store.set_legal_hold(evidence.storage_key, evidence.version_id, True)
            record_event(session=session, actor=SYSTEM, action=CustodyAction.EVIDENCE_HOLD_PLACED,
                         subject_type="evidence", subject_id=evidence.id, case_id=evidence.case_id, now=now,
                         details={"reason": "reconciliation: the store had no legal hold on a held record"})
    elif stat.legal_hold and not state.held:
        outcome = "store_hold_without_catalog_hold"  # reported, never released automatically
    target = state.retain_until
    short = target is not None and target > now and (stat.retain_until is None or stat.retain_until < target)
    if not fix:
        return "lock_short" if short and outcome == "ok" else outcome
    # The store's word wins over the catalog's memory of it: reconcile against what the store enforces.
    evidence.store_retain_until = stat.retain_until or now
    extended = sync_store_lock(session=session, evidence=evidence, state=state, store=store, now=now,
                               reason="reconciliation: store lock shorter than computed retention")
    if extended and outcome == "ok":
        outcome = "lock_extended"
    return outcome


def stored_ids(session: Session, after: uuid.UUID | None) -> list[uuid.UUID]:
    """Return one page of stored record ids after the given id."""
    query = select(Evidence.id).where(Evidence.status == EvidenceStatus.STORED).order_by(Evidence.id).limit(PAGE)
    if after is not None:
        query = query.where(Evidence.id > after)
    return list(session.scalars(query))


def lock_reconciliation(context: VaultContext, *, now: datetime | None = None, fix: bool = True) -> JobSummary:
    """Check every stored record's store lock and hold against the catalog; report, and fix by extending."""
    moment = now or utcnow()
    summary = JobSummary(job="lock_reconciliation")
    after: uuid.UUID | None = None
    while True:
        with context.sessions() as session:
            page = stored_ids(session, after)
        if not page:
            break
        run_per_record(context, summary, page,
                       lambda session, evidence: reconcile_record(session, context.store, evidence, moment, fix=fix))
        after = page[-1]
    return summary
