"""Scheduled jobs: sweep, reminders, fixity audit, lock reconciliation, archiving deadlines (time-travelled)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.fixity import FIXITY_FLAG, fixity_audit
from retention.holds import place_hold
from retention.models import QueueState, RetentionState
from retention.policy import add_years
from retention.reconciliation import lock_reconciliation
from retention.report import archiving_deadline_report, build_report
from retention.service import recompute_retention
from retention.sweep import retention_sweep
from tests.retention.conftest import Clock, People, new_case, put_record
from vault.cases.models import CaseStatus
from vault.cases.service import change_case_status
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.evidence.models import Evidence
from vault.evidence.service import open_flags
from vault.storage.local import LocalBlobStore


def state_of(context: VaultContext, evidence: Evidence) -> RetentionState:
    with context.sessions() as session:
        state = session.get(RetentionState, evidence.id)
        assert state is not None
        return state


def count(context: VaultContext, action: CustodyAction, evidence: Evidence) -> int:
    with context.sessions() as session:
        return len(session.scalars(select(CustodyEvent.log_index).where(
            CustodyEvent.action == str(action), CustodyEvent.subject_id == str(evidence.id))).all())


def object_path(store: LocalBlobStore, evidence: Evidence) -> Path:
    return store.root / evidence.storage_key[:2] / evidence.storage_key[2:4] / evidence.storage_key


def test_sweep_reads_other_packages_events_queues_due_and_reminds_once(
    clocked_context: VaultContext, people: People, clock: Clock
) -> None:
    ctx, start = clocked_context, clock.now
    with ctx.sessions() as session:
        case = new_case(session, people.manager, opened=start)
        due = put_record(session, ctx.store, people.officer, captured=start - timedelta(days=400),
                         lock_until=start + timedelta(days=1), activity="inspection")
        in_case = put_record(session, ctx.store, people.officer, captured=start - timedelta(days=400),
                             lock_until=start + timedelta(days=1), case=case, activity="inspection")
        soon = put_record(session, ctx.store, people.officer, captured=start - timedelta(days=170),
                          lock_until=start + timedelta(days=1), activity="inspection")
        held = put_record(session, ctx.store, people.officer, captured=start - timedelta(days=400),
                          lock_until=start + timedelta(days=1), activity="inspection")
        place_hold(session=session, actor=people.manager.actor, reason="complaint pending", now=start,
                   store=ctx.store, evidence_id=held.id)
        session.commit()

    now = clock.advance(days=2)
    summary = retention_sweep(ctx, now=now)
    assert not summary.failed
    assert state_of(ctx, due).queue_state is QueueState.DUE
    assert count(ctx, CustodyAction.EVIDENCE_DISPOSITION_QUEUED, due) == 1
    assert state_of(ctx, in_case).retain_until is None  # open case: indefinite, not queued
    assert state_of(ctx, held).queue_state is QueueState.ACTIVE and state_of(ctx, held).held
    assert count(ctx, CustodyAction.EVIDENCE_RETENTION_REMINDER, soon) == 1

    with ctx.sessions() as session:  # vault/ archives the case; retention hears of it only through the log
        case_row = session.get(type(case), case.id)
        assert case_row is not None
        for status in (CaseStatus.CLOSED, CaseStatus.ARCHIVED):
            change_case_status(session=session, actor=people.manager.actor, case=case_row, status=status, now=now)
        session.commit()
    retention_sweep(ctx, now=now + timedelta(hours=1))
    assert state_of(ctx, in_case).retain_until == add_years(now, 30)
    assert count(ctx, CustodyAction.EVIDENCE_RETENTION_REMINDER, soon) == 1  # once per retain-until
    with ctx.sessions() as session:
        report = build_report(session=session, actor=people.auditor.actor, now=now + timedelta(hours=1))
    assert [line.evidence_id for line in report.due] == [due.id]
    assert [line.evidence_id for line in report.held] == [held.id] and "complaint pending" in report.held[0].note
    assert [line.evidence_id for line in report.coming_due] == [soon.id]


def test_one_failing_record_does_not_stop_the_sweep(clocked_context: VaultContext, people: People,
                                                     clock: Clock) -> None:
    ctx, start = clocked_context, clock.now
    with ctx.sessions() as session:
        case = new_case(session, people.manager, opened=start)
        broken = put_record(session, ctx.store, people.officer, captured=start, lock_until=start + timedelta(days=1),
                            case=case)
        due = put_record(session, ctx.store, people.officer, captured=start - timedelta(days=400),
                         lock_until=start + timedelta(days=1), activity="inspection")
        session.commit()
    assert isinstance(ctx.store, LocalBlobStore)
    path = object_path(ctx.store, broken)
    path.chmod(0o644)
    path.unlink()  # extending its lock for the open case will fail: the object is gone
    summary = retention_sweep(ctx, now=clock.advance(days=2))
    assert summary.failed == [str(broken.id)]
    assert state_of(ctx, due).queue_state is QueueState.DUE


def test_fixity_audit_flags_and_alerts_never_repairs_and_rolls_through_everything(
    clocked_context: VaultContext, people: People, clock: Clock
) -> None:
    ctx, start = clocked_context, clock.now
    assert isinstance(ctx.store, LocalBlobStore)
    with ctx.sessions() as session:
        records = [put_record(session, ctx.store, people.officer, captured=start, lock_until=start + timedelta(days=1))
                   for _ in range(3)]
        session.commit()
    good, tampered, missing = records
    damaged = object_path(ctx.store, tampered)
    damaged.chmod(0o644)
    damaged.write_bytes(b"re-encoded by someone" + os.urandom(100))
    object_path(ctx.store, missing).chmod(0o644)
    object_path(ctx.store, missing).unlink()

    checked: list[str] = []
    for _night in range(3):  # 3 records over a 90-day cycle: one a night, never-checked first
        summary = fixity_audit(ctx, now=clock.advance(days=1))
        assert sum(summary.outcomes.values()) == 1
        checked += list(summary.outcomes)
    assert sorted(checked) == ["mismatch", "missing", "ok"]
    assert state_of(ctx, good).fixity_ok and not state_of(ctx, tampered).fixity_ok
    assert damaged.read_bytes().startswith(b"re-encoded by someone")  # never "repaired"
    with ctx.sessions() as session:
        for record in (tampered, missing):
            row = session.get(Evidence, record.id)
            assert row is not None and FIXITY_FLAG in open_flags(row)
        failures = session.scalars(select(CustodyEvent).where(
            CustodyEvent.action == str(CustodyAction.EVIDENCE_FIXITY_FAILED))).all()
        assert {e.details["problem"] for e in failures} == {"mismatch", "missing"}
        report = build_report(session=session, actor=people.auditor.actor, now=clock.now)
    assert {line.evidence_id for line in report.failed_fixity} == {tampered.id, missing.id}


def test_reconciliation_reports_then_extends_short_locks_and_restores_missing_holds(
    clocked_context: VaultContext, people: People, clock: Clock
) -> None:
    ctx, start = clocked_context, clock.now
    with ctx.sessions() as session:
        record = put_record(session, ctx.store, people.officer, captured=start, lock_until=start + timedelta(days=1))
        held = put_record(session, ctx.store, people.officer, captured=start, lock_until=start + timedelta(days=1))
        recompute_retention(session, record, start)  # catalog knows 5 years; the store still has 1 day
        place_hold(session=session, actor=people.manager.actor, reason="court", now=start, store=ctx.store,
                   evidence_id=held.id)
        session.commit()
    ctx.store.set_legal_hold(held.storage_key, held.version_id, False)  # drift at the store

    report_only = lock_reconciliation(ctx, now=start, fix=False)
    assert report_only.outcomes == {"lock_short": 1, "hold_missing": 1}  # placing the hold extended the other
    assert ctx.store.stat(record.storage_key, record.version_id).retain_until == start + timedelta(days=1)

    fixed = lock_reconciliation(ctx, now=start)
    assert fixed.outcomes == {"lock_extended": 1, "hold_missing": 1}
    assert ctx.store.stat(record.storage_key, record.version_id).retain_until == add_years(start, 5)
    assert ctx.store.stat(held.storage_key, held.version_id).legal_hold
    assert lock_reconciliation(ctx, now=start).outcomes == {"ok": 2}


def test_archiving_deadline_counts_thirty_working_days_and_reports_overdue_cases(
    context: VaultContext, session: Session, people: People
) -> None:
    case = new_case(session, people.manager, opened=datetime(2025, 1, 2, tzinfo=UTC))
    change_case_status(session=session, actor=people.manager.actor, case=case, status=CaseStatus.CLOSED,
                       now=datetime(2025, 1, 20, 2, 0, tzinfo=UTC))
    session.commit()
    on_time = archiving_deadline_report(context, now=datetime(2025, 3, 7, 9, 0, tzinfo=UTC))
    assert on_time.outcomes["overdue"] == 0
    late = archiving_deadline_report(context, now=datetime(2025, 3, 10, 2, 0, tzinfo=UTC))
    assert late.details["overdue_cases"] == [
        {"case_number": case.case_number, "deadline": date(2025, 3, 7).isoformat(), "overdue_working_days": 1}]
