"""The recovery window (issue 12, item 7): an approved disposal waits as pending destruction, a records manager may
cancel it, a hold stops it, and the scheduled job destroys and certifies it once the window has passed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.disposition import approve_disposal, get_certificate, propose_disposal, verify_certificate
from retention.errors import RequestNotPending
from retention.holds import place_hold, release_hold
from retention.models import DisposalRequest, DisposalStatus, QueueState, RetentionState
from retention.recovery import cancel_disposal, destroy_due
from retention.report import build_report
from retention.sweep import retention_sweep
from tests.conftest import Person
from tests.retention.conftest import Clock, People, new_case, put_record
from vault.cases.models import CaseStatus, CaseType
from vault.cases.service import change_case_status
from vault.config import Settings
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.errors import InvalidInput, PermissionDenied
from vault.evidence.models import Evidence, EvidenceStatus
from vault.identities.models import Role

WINDOW = 7


def events(session: Session, action: CustodyAction, evidence: Evidence) -> list[CustodyEvent]:
    return list(session.scalars(select(CustodyEvent).where(
        CustodyEvent.action == str(action), CustodyEvent.subject_id == str(evidence.id))
        .order_by(CustodyEvent.log_index)))


def original_is_intact(ctx: VaultContext, evidence: Evidence) -> bool:
    return b"".join(ctx.store.open_range(evidence.storage_key, evidence.version_id)) != b""


@pytest.fixture
def pending(clocked_context: VaultContext, people: People, clock: Clock) -> DisposalRequest:
    """A due routine inspection record whose disposal was proposed, approved, and now waits out the window."""
    ctx = clocked_context
    with ctx.sessions() as session:
        record = put_record(session, ctx.store, people.officer, captured=clock.now - timedelta(days=400),
                            lock_until=clock.now + timedelta(days=1), activity="inspection")
        session.commit()
    clock.advance(days=2)
    with ctx.sessions() as session:
        request = propose_disposal(session=session, actor=people.manager.actor, evidence_id=record.id,
                                   reason="retention ended", now=clock.now, store=ctx.store)
        approve_disposal(session=session, actor=people.approver.actor, request_id=request.id, now=clock.now,
                         store=ctx.store, signer=ctx.signer, recovery_days=WINDOW)
        session.commit()
        return request


def record_of(ctx: VaultContext, request: DisposalRequest) -> Evidence:
    with ctx.sessions() as session:
        evidence = session.get(Evidence, request.evidence_id)
        assert evidence is not None
        return evidence


def test_the_window_is_seven_days_by_default() -> None:
    # (issue 12, item 7) "waits a configurable number of days (default 7)"; 0 turns the window off.
    assert Settings().disposal_recovery_days == 7
    assert Settings(disposal_recovery_days=0).disposal_recovery_days == 0
    with pytest.raises(ValueError, match="disposal_recovery_days"):
        Settings(disposal_recovery_days=-1)


def test_an_approved_disposal_waits_then_the_job_destroys_and_certifies_it(
    clocked_context: VaultContext, pending: DisposalRequest, people: People, clock: Clock
) -> None:
    # (issue 12, item 7) Approved, the disposal waits in pending destruction; then it is destroyed and certified.
    ctx, record = clocked_context, record_of(clocked_context, pending)
    approved_at = clock.now
    assert pending.status is DisposalStatus.PENDING_DESTRUCTION
    assert pending.destroy_after == approved_at + timedelta(days=WINDOW)
    lock_before = ctx.store.stat(record.storage_key, record.version_id).retain_until

    clock.advance(days=WINDOW, seconds=-1)
    assert retention_sweep(ctx, now=clock.now).failed == []
    assert destroy_due(ctx, now=clock.now).outcomes == {}
    assert original_is_intact(ctx, record)  # until then the original and its store lock are untouched
    assert ctx.store.stat(record.storage_key, record.version_id).retain_until == lock_before
    with ctx.sessions() as session:
        assert session.get(Evidence, record.id).status is EvidenceStatus.STORED  # type: ignore[union-attr]
        state = session.get(RetentionState, record.id)
        assert state is not None and state.queue_state is QueueState.PENDING_DESTRUCTION

    summary = destroy_due(ctx, now=clock.advance(seconds=1))
    assert summary.outcomes == {"disposed": 1} and summary.job == "disposal_destruction"
    assert destroy_due(ctx, now=clock.advance(hours=1)).outcomes == {}  # once only
    with ctx.sessions() as session:
        certificate = get_certificate(session=session, actor=people.auditor.actor, evidence_id=record.id)
        assert verify_certificate(certificate, ctx.signer.public_raw)
        assert (certificate.approved_by, certificate.approved_at) == (people.approver.user.name, approved_at)
        assert certificate.disposed_at == approved_at + timedelta(days=WINDOW)
        assert session.get(DisposalRequest, pending.id).status is DisposalStatus.EXECUTED  # type: ignore[union-attr]
        [disposed] = events(session, CustodyAction.EVIDENCE_DISPOSED, record)
        assert disposed.actor_name == "system" and disposed.details["signature"] == certificate.signature


@pytest.mark.parametrize("role", [Role.OFFICER, Role.REVIEWER, Role.APPROVER, Role.AUDITOR, Role.ADMIN])
def test_only_records_managers_may_cancel(clocked_context: VaultContext, pending: DisposalRequest, clock: Clock,
                                          make_person: Callable[..., Person], role: Role) -> None:
    # (issue 12, item 7) "A records manager can cancel it": no other role, not even the approver.
    with clocked_context.sessions() as session, pytest.raises(PermissionDenied):
        cancel_disposal(session=session, actor=make_person(role).actor, request_id=pending.id, reason="keep",
                        now=clock.now)


def test_a_records_manager_cancels_with_a_reason_and_the_record_is_kept(
    clocked_context: VaultContext, pending: DisposalRequest, people: People, clock: Clock
) -> None:
    # (issue 12, item 7) Cancel with a reason, logged; the record returns to being retained and stays off the queue.
    ctx, record = clocked_context, record_of(clocked_context, pending)
    with ctx.sessions() as session:
        with pytest.raises(InvalidInput, match="reason"):
            cancel_disposal(session=session, actor=people.second_manager.actor, request_id=pending.id, reason="  ",
                            now=clock.now)
        cancelled = cancel_disposal(session=session, actor=people.second_manager.actor, request_id=pending.id,
                                    reason="当事人已申请行政复议 (reconsideration filed)", now=clock.advance(days=1))
        session.commit()
        assert cancelled.status is DisposalStatus.CANCELLED
        assert cancelled.cancelled_by == people.second_manager.user.name
        [logged] = events(session, CustodyAction.EVIDENCE_DISPOSAL_CANCELLED, record)
        assert logged.actor_name == people.second_manager.user.name
        assert logged.details["reason"] == "当事人已申请行政复议 (reconsideration filed)"
        assert logged.details["was"] == "pending_destruction"
        with pytest.raises(RequestNotPending):
            cancel_disposal(session=session, actor=people.manager.actor, request_id=pending.id, reason="again",
                            now=clock.now)

    clock.advance(days=WINDOW + 30)
    assert destroy_due(ctx, now=clock.now).outcomes == {}
    retention_sweep(ctx, now=clock.now)  # a cancelled disposal is not queued again by the next sweep
    with ctx.sessions() as session:
        assert events(session, CustodyAction.EVIDENCE_DISPOSITION_QUEUED, record) == []
        state = session.get(RetentionState, record.id)
        assert state is not None and state.queue_state is QueueState.KEPT
        assert session.get(Evidence, record.id).status is EvidenceStatus.STORED  # type: ignore[union-attr]
        report = build_report(session=session, actor=people.auditor.actor, now=clock.now)
        assert report.due == [] and report.pending_destruction == []
        [kept] = report.kept
        assert kept.evidence_id == record.id and "reconsideration filed" in kept.note
    assert original_is_intact(ctx, record)

    with ctx.sessions() as session:  # only a new proposal and approval bring it back
        again = propose_disposal(session=session, actor=people.manager.actor, evidence_id=record.id,
                                 reason="review done", now=clock.now, store=ctx.store)
        assert again.id != pending.id and again.status is DisposalStatus.PENDING
        session.commit()


def test_a_proposal_not_yet_approved_can_be_cancelled_too(clocked_context: VaultContext, people: People,
                                                          clock: Clock) -> None:
    ctx = clocked_context
    with ctx.sessions() as session:
        record = put_record(session, ctx.store, people.officer, captured=clock.now - timedelta(days=400),
                            lock_until=clock.now + timedelta(days=1), activity="inspection")
        clock.advance(days=2)
        request = propose_disposal(session=session, actor=people.manager.actor, evidence_id=record.id, reason="due",
                                   now=clock.now, store=ctx.store)
        cancel_disposal(session=session, actor=people.manager.actor, request_id=request.id, reason="withdrawn",
                        now=clock.now)
        with pytest.raises(RequestNotPending):
            approve_disposal(session=session, actor=people.approver.actor, request_id=request.id, now=clock.now,
                             store=ctx.store, signer=ctx.signer, recovery_days=WINDOW)


@pytest.mark.parametrize("on", ["record", "case"])
def test_a_hold_placed_during_the_window_stops_the_destruction(
    clocked_context: VaultContext, people: People, clock: Clock, on: str
) -> None:
    # (issue 12, item 7) "Holds placed during the window must stop the destruction" (DOMAIN.md: a hold freezes it).
    ctx = clocked_context
    with ctx.sessions() as session:
        case = new_case(session, people.manager, case_type=CaseType.ROUTINE_INSPECTION, number="阜应急检〔2024〕9号")
        record = put_record(session, ctx.store, people.officer, captured=clock.now - timedelta(days=400),
                            lock_until=clock.now + timedelta(days=1), case=case, activity="inspection")
        for status in (CaseStatus.CLOSED, CaseStatus.ARCHIVED):
            change_case_status(session=session, actor=people.manager.actor, case=case, status=status, now=clock.now)
        session.commit()
    clock.advance(days=2)
    with ctx.sessions() as session:
        request = propose_disposal(session=session, actor=people.manager.actor, evidence_id=record.id, reason="due",
                                   now=clock.now, store=ctx.store)
        approve_disposal(session=session, actor=people.approver.actor, request_id=request.id, now=clock.now,
                         store=ctx.store, signer=ctx.signer, recovery_days=WINDOW)
        session.commit()
    with ctx.sessions() as session:
        target = {"evidence_id": record.id} if on == "record" else {"case_id": case.id}
        hold = place_hold(session=session, actor=people.second_manager.actor, reason="行政诉讼 (litigation)",
                          now=clock.advance(days=3), store=ctx.store, **target)  # type: ignore[arg-type]
        session.commit()
        assert session.get(DisposalRequest, request.id).status is DisposalStatus.REJECTED  # type: ignore[union-attr]
        [refused] = events(session, CustodyAction.EVIDENCE_DISPOSAL_REFUSED, record)
        assert refused.details["stage"] == "recovery_window" and "legal hold" in refused.details["reasons"][0]
        assert build_report(session=session, actor=people.auditor.actor, now=clock.now).pending_destruction == []
        release_hold(session=session, actor=people.manager.actor, hold_id=hold.id, reason="judgment final",
                     now=clock.advance(days=1), store=ctx.store)
        session.commit()

    assert destroy_due(ctx, now=clock.advance(days=WINDOW)).outcomes == {}  # released: still a fresh approval needed
    assert original_is_intact(ctx, record)


def test_every_guard_is_checked_again_when_the_window_ends(
    clocked_context: VaultContext, people: People, clock: Clock
) -> None:
    # DOMAIN.md: a record linked to an open case is never disposed; vault/ reopens cases without telling retention.
    ctx = clocked_context
    with ctx.sessions() as session:
        case = new_case(session, people.manager, case_type=CaseType.ROUTINE_INSPECTION, number="阜应急检〔2024〕10号")
        record = put_record(session, ctx.store, people.officer, captured=clock.now - timedelta(days=400),
                            lock_until=clock.now + timedelta(days=1), case=case, activity="inspection")
        for status in (CaseStatus.CLOSED, CaseStatus.ARCHIVED):
            change_case_status(session=session, actor=people.manager.actor, case=case, status=status, now=clock.now)
        clock.advance(days=2)
        request = propose_disposal(session=session, actor=people.manager.actor, evidence_id=record.id, reason="due",
                                   now=clock.now, store=ctx.store)
        approve_disposal(session=session, actor=people.approver.actor, request_id=request.id, now=clock.now,
                         store=ctx.store, signer=ctx.signer, recovery_days=WINDOW)
        change_case_status(session=session, actor=people.manager.actor, case=case, status=CaseStatus.OPEN,
                           now=clock.advance(days=1))
        session.commit()

    assert destroy_due(ctx, now=clock.advance(days=WINDOW)).outcomes == {"refused": 1}
    with ctx.sessions() as session:
        assert session.get(DisposalRequest, request.id).status is DisposalStatus.REJECTED  # type: ignore[union-attr]
        [refused] = events(session, CustodyAction.EVIDENCE_DISPOSAL_REFUSED, record)
        assert refused.details["stage"] == "execution" and "which is open" in refused.details["reasons"][0]
    assert original_is_intact(ctx, record)


def test_the_report_shows_when_each_pending_destruction_happens_in_the_agency_zone(
    clocked_context: VaultContext, pending: DisposalRequest, people: People, clock: Clock
) -> None:
    # (issue 12, item 7) Reports show pending destructions with their destroy-after time (agency zone).
    shanghai = ZoneInfo("Asia/Shanghai")
    with clocked_context.sessions() as session:
        report = build_report(session=session, actor=people.auditor.actor, now=clock.now, zone=shanghai)
    [line] = report.pending_destruction
    assert pending.destroy_after is not None
    assert (line.request_id, line.evidence_id, line.approved_by) == (pending.id, pending.evidence_id,
                                                                      people.approver.user.name)
    assert line.destroy_after == pending.destroy_after
    assert line.destroy_after_local == pending.destroy_after.astimezone(shanghai).isoformat(timespec="minutes")
    assert line.destroy_after_local.endswith("+08:00")
    assert report.due == []
