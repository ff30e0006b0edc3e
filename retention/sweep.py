"""The retention sweep: pick up events from other packages, queue what is due, remind what is coming due.

vault/ and ingest/ must not import retention, so tagging, case close/archive/reopen and flags set there cannot
call `recompute_retention` themselves. The sweep reads those events back from the custody log (a cursor over
`log_index`) and recomputes exactly the records they touch, plus any record never computed or computed under
an older policy version. Until the next sweep, such a record's stored state may lag; disposal never relies on
it, because proposal and approval recompute and re-check everything first.
"""

from __future__ import annotations

import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.disposition import disposal_obstacles
from retention.models import QueueState, RetentionCursor, RetentionState
from retention.runner import JobSummary, run_per_record
from retention.service import current_policy, recompute_retention
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.custody.service import record_event
from vault.db import transaction, utcnow
from vault.errors import VaultError
from vault.evidence.models import Evidence, EvidenceStatus
from vault.identities.actor import SYSTEM
from vault.storage.base import BlobStat, BlobStore

CURSOR = "retention_sweep"
PAGE = 1000
# Records per transaction: one signed, anchored checkpoint per batch; short enough to hold SQLite's write lock.
BATCH = 100
# Store calls in flight at once while the catalog works through a batch: RGW answers a HEAD in a few ms, and the
# sweep's one connection would otherwise wait for each in turn.
STORE_THREADS = 8
# vault/ and ingest/ may not import retention, so their retention-relevant events are read back from the custody log.
TRIGGERS = (
    CustodyAction.EVIDENCE_REGISTERED,
    CustodyAction.EVIDENCE_TAGGED,
    CustodyAction.EVIDENCE_FLAGGED,
    CustodyAction.CASE_STATUS_CHANGED,
    CustodyAction.CASE_FLAGGED,
)


def _changed_since_cursor(session: Session) -> tuple[set[uuid.UUID], int | None]:
    cursor = session.get(RetentionCursor, CURSOR)
    after = cursor.log_index if cursor else -1
    rows = session.execute(
        select(CustodyEvent.log_index, CustodyEvent.subject_type, CustodyEvent.subject_id, CustodyEvent.case_id)
        .where(CustodyEvent.log_index > after, CustodyEvent.action.in_([str(a) for a in TRIGGERS]))
        .order_by(CustodyEvent.log_index).limit(PAGE)
    ).all()
    if not rows:
        return set(), None
    ids = {uuid.UUID(r.subject_id) for r in rows if r.subject_type == "evidence"}
    case_ids = {r.case_id for r in rows if r.subject_type == "case" and r.case_id is not None}
    if case_ids:
        ids |= set(session.scalars(select(Evidence.id).where(Evidence.case_id.in_(case_ids))))
    return ids, rows[-1].log_index


def _advance(context: VaultContext, log_index: int) -> None:
    with transaction(context.sessions) as session:
        cursor = session.get(RetentionCursor, CURSOR) or RetentionCursor(name=CURSOR, log_index=-1)
        cursor.log_index = max(cursor.log_index, log_index)
        session.add(cursor)


def _stale(session: Session, now: datetime) -> list[uuid.UUID]:
    """Return stored records never computed, or computed under another policy version (one page)."""
    version = current_policy(session, now).version
    query = (select(Evidence.id).outerjoin(RetentionState, RetentionState.evidence_id == Evidence.id)
             .where(Evidence.status == EvidenceStatus.STORED)
             .where(RetentionState.evidence_id.is_(None) | (RetentionState.policy_version != version)).limit(PAGE))
    return list(session.scalars(query))


def refresh_changed(context: VaultContext, summary: JobSummary, now: datetime) -> None:
    """Recompute every record touched by a relevant event since the last sweep, and every stale record."""
    with context.sessions() as session:
        policy = current_policy(session, now)

    def work(session: Session, evidence: Evidence) -> str:
        recompute_retention(session, evidence, now, store=context.store, zone=context.settings.zone, policy=policy)
        return "recomputed"

    while True:
        with context.sessions() as session:
            ids, last = _changed_since_cursor(session)
        if last is None:
            break
        run_per_record(context, summary, sorted(ids), work, batch=BATCH)
        _advance(context, last)
    seen: set[uuid.UUID] = set()
    while True:
        with context.sessions() as session:
            batch = [i for i in _stale(session, now) if i not in seen]
        if not batch:
            break
        seen.update(batch)
        run_per_record(context, summary, batch, work, batch=BATCH)


def due_ids(session: Session, now: datetime, limit: int = 100_000) -> list[uuid.UUID]:
    """Return records whose retention has ended and that carry no hold, read through the due index."""
    query = (select(RetentionState.evidence_id)
             .where(RetentionState.queue_state == QueueState.ACTIVE, RetentionState.held.is_(False),
                    RetentionState.retain_until <= now)
             .order_by(RetentionState.retain_until).limit(limit))
    return list(session.scalars(query))


StatFutures = dict[uuid.UUID, Future[BlobStat | None]]


def _stat_quietly(store: BlobStore, key: str, version_id: str) -> BlobStat | None:
    try:
        return store.stat(key, version_id)
    except VaultError:  # missing or unreachable: the record's own work asks again and reports what the store says
        return None


def _ask_store(context: VaultContext, pool: ThreadPoolExecutor, ids: list[uuid.UUID]) -> StatFutures:
    """Start reading the store's lock and hold of a batch's records, STORE_THREADS at a time, in no transaction."""
    with context.sessions() as session:
        rows = session.execute(select(Evidence.id, Evidence.storage_key, Evidence.version_id)
                               .where(Evidence.id.in_(ids))).all()
    return {row.id: pool.submit(_stat_quietly, context.store, row.storage_key, row.version_id) for row in rows}


def queue_due(context: VaultContext, summary: JobSummary, now: datetime) -> None:
    """Move due records with no hold, no open case and an expired store lock into the disposition queue.

    The store's answers for the next batch are read in threads while this one runs: queueing only marks a record
    for review, and proposal and approval ask the store again before anything is destroyed."""
    with context.sessions() as session:
        ids = due_ids(session, now)
        policy = current_policy(session, now)
    stats: StatFutures = {}

    def work(session: Session, evidence: Evidence) -> str:
        state = recompute_retention(session, evidence, now, store=context.store, zone=context.settings.zone,
                                    policy=policy)
        if state.queue_state != QueueState.ACTIVE:
            return "not_active"
        asked = stats.get(evidence.id)
        reasons = disposal_obstacles(session, evidence, state, context.store, now,
                                     stat=asked.result() if asked else None)
        if reasons:
            return "due_but_blocked"
        state.queue_state = QueueState.DUE
        session.flush()
        record_event(session=session, actor=SYSTEM, action=CustodyAction.EVIDENCE_DISPOSITION_QUEUED,
                     subject_type="evidence", subject_id=evidence.id, case_id=evidence.case_id, now=now,
                     details={"retain_until": state.retain_until.isoformat() if state.retain_until else None,
                              "reason": state.reason})
        return "queued"

    batches = [ids[start:start + BATCH] for start in range(0, len(ids), BATCH)]
    with ThreadPoolExecutor(STORE_THREADS) as pool:
        ahead = _ask_store(context, pool, batches[0]) if batches else {}
        for number, batch in enumerate(batches):
            stats = ahead
            ahead = _ask_store(context, pool, batches[number + 1]) if number + 1 < len(batches) else {}
            run_per_record(context, summary, batch, work, batch=BATCH)


def send_reminders(context: VaultContext, summary: JobSummary, now: datetime) -> None:
    """Log a reminder once per record whose retention ends within the policy's reminder window."""
    with context.sessions() as session:
        horizon = now + timedelta(days=current_policy(session, now).reminder_days)
        ids = list(session.scalars(
            select(RetentionState.evidence_id)
            .where(RetentionState.queue_state == QueueState.ACTIVE, RetentionState.held.is_(False),
                   RetentionState.retain_until > now, RetentionState.retain_until <= horizon)
            .where(RetentionState.reminded_for.is_(None)
                   | (RetentionState.reminded_for != RetentionState.retain_until))))

    def work(session: Session, evidence: Evidence) -> str:
        state = session.get(RetentionState, evidence.id)
        assert state is not None and state.retain_until is not None
        state.reminded_for = state.retain_until
        record_event(session=session, actor=SYSTEM, action=CustodyAction.EVIDENCE_RETENTION_REMINDER,
                     subject_type="evidence", subject_id=evidence.id, case_id=evidence.case_id, now=now,
                     details={"retain_until": state.retain_until.isoformat(), "reason": state.reason})
        return "reminded"

    run_per_record(context, summary, ids, work, batch=BATCH)


def retention_sweep(context: VaultContext, *, now: datetime | None = None) -> JobSummary:
    """Run the whole sweep: refresh changed records, queue due ones, send reminders."""
    moment = now or utcnow()
    summary = JobSummary(job="retention_sweep")
    refresh_changed(context, summary, moment)
    queue_due(context, summary, moment)
    send_reminders(context, summary, moment)
    return summary
