"""Retention state per record: recomputed on every event, store lock in step, policy history, reclassification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from retention.errors import SecondPersonRequired
from retention.models import MarkerKind, PolicyChangeRequest, PolicyVersion, RequestStatus, RetentionClass
from retention.policy import add_months, add_years
from retention.policy_approval import approve_policy_change
from retention.reclassification import approve_reclassification, request_reclassification
from retention.service import mark_long_term, policy_history, recompute_retention, set_policy
from tests.retention.conftest import People, new_case, put_record
from vault.cases.models import CaseStatus
from vault.cases.service import change_case_status
from vault.custody.models import CustodyAction, CustodyEvent
from vault.errors import InvalidInput, PermissionDenied
from vault.storage.base import BlobStore


def actions(session: Session, subject_id: object) -> list[str]:
    return list(session.scalars(select(CustodyEvent.action).where(CustodyEvent.subject_id == str(subject_id))
                                .order_by(CustodyEvent.log_index)))


def close_to(a: datetime | None, b: datetime) -> bool:
    return a is not None and abs(a - b) < timedelta(seconds=1)  # S3 keeps milliseconds


def test_every_case_event_recomputes_and_the_store_lock_only_grows(session: Session, store: BlobStore,
                                                                     people: People) -> None:
    now = datetime.now(UTC)
    record = put_record(session, store, people.officer, captured=now - timedelta(days=30),
                        lock_until=now + timedelta(minutes=5), activity="inspection")
    state = recompute_retention(session, record, now, store=store)
    assert state.retention_class is RetentionClass.ROUTINE_INSPECTION
    assert state.retain_until == add_months(now - timedelta(days=30), 6)
    assert close_to(store.stat(record.storage_key, record.version_id).retain_until, state.retain_until)

    case = new_case(session, people.manager, opened=now)
    record.case_id = case.id  # tagged (vault/ingest do this; the sweep picks it up from the custody log)
    state = recompute_retention(session, record, now, store=store)
    assert state.retain_until is None and "counts from archiving" in state.reason
    rolling = store.stat(record.storage_key, record.version_id).retain_until
    assert rolling is not None and rolling > add_years(now, 9)  # indefinite: a rolling lock years ahead

    later = now + timedelta(days=40)
    change_case_status(session=session, actor=people.manager.actor, case=case, status=CaseStatus.CLOSED, now=later)
    change_case_status(session=session, actor=people.manager.actor, case=case, status=CaseStatus.ARCHIVED, now=later)
    state = recompute_retention(session, record, later, store=store)
    assert state.retain_until == add_years(later, 30)
    assert "archived" in state.reason and "30 years" in state.reason
    assert close_to(store.stat(record.storage_key, record.version_id).retain_until, add_years(later, 30))

    change_case_status(session=session, actor=people.manager.actor, case=case, status=CaseStatus.OPEN,
                       now=later + timedelta(days=1))
    state = recompute_retention(session, record, later + timedelta(days=1), store=store)
    assert state.retain_until is None
    assert close_to(store.stat(record.storage_key, record.version_id).retain_until, add_years(later, 30))
    assert actions(session, record.id).count(str(CustodyAction.EVIDENCE_RETENTION_CHANGED)) == 4
    assert str(CustodyAction.EVIDENCE_STORE_LOCK_EXTENDED) in actions(session, record.id)


def test_a_policy_change_is_versioned_and_never_silently_shortens_stored_records(
    session: Session, store: BlobStore, people: People
) -> None:
    now = datetime.now(UTC)
    captured = now - timedelta(days=10)
    record = put_record(session, store, people.officer, captured=captured, lock_until=now + timedelta(minutes=5))
    assert recompute_retention(session, record, now).retain_until == add_years(captured, 5)

    set_policy(session=session, actor=people.manager.actor, changes={"default_years": 8}, effective_from=now,
               note="agency rule 2025-7", now=now)
    assert recompute_retention(session, record, now).retain_until == add_years(captured, 8)
    pending = set_policy(session=session, actor=people.manager.actor, changes={"default_years": 6},
                         effective_from=now + timedelta(days=1), note="back to six", now=now)
    assert isinstance(pending, PolicyChangeRequest) and pending.shortened == ["default_years"]
    approve_policy_change(session=session, actor=people.second_manager.actor, request_id=pending.id, now=now)
    state = recompute_retention(session, record, now + timedelta(days=2))
    assert state.retain_until == add_years(captured, 8) and "never shortens itself" in state.reason
    assert state.policy_version == 2

    history = policy_history(session=session, actor=people.auditor.actor)
    assert [(v.version, v.rules["default_years"], v.created_by) for v in history] == [
        (1, 8, people.manager.user.name), (2, 6, people.manager.user.name)]
    changed = session.scalars(select(CustodyEvent).where(CustodyEvent.action == str(CustodyAction.POLICY_CHANGED))
                              .order_by(CustodyEvent.log_index)).all()
    assert [e.details["shortened"] for e in changed] == [[], ["default_years"]]
    session.commit()
    with pytest.raises(DBAPIError):
        session.execute(text("UPDATE retention_policy_versions SET note = 'rewritten'"))
    session.rollback()
    assert session.get(PolicyVersion, 1).note == "agency rule 2025-7"  # type: ignore[union-attr]


@pytest.mark.parametrize(("changes", "message"), [
    ({"routine_inspection_months": 5}, "statutory minimum"),
    ({"default_years": 4}, "statutory minimum"),
    ({"case_file_years": {"licensing": 0}}, "at least 1 year"),
    ({"colour": 1}, "unknown policy settings"),
])
def test_policy_refuses_values_below_the_regulations(session: Session, people: People, changes: dict[str, object],
                                                     message: str) -> None:
    now = datetime.now(UTC)
    with pytest.raises(InvalidInput, match=message):
        set_policy(session=session, actor=people.manager.actor, changes=changes, effective_from=now, note="", now=now)


def test_a_policy_cannot_be_backdated_nor_set_by_an_officer(session: Session, people: People) -> None:
    now = datetime.now(UTC)
    with pytest.raises(InvalidInput, match="in the past"):
        set_policy(session=session, actor=people.manager.actor, changes={}, effective_from=now - timedelta(days=1),
                   note="", now=now)
    with pytest.raises(PermissionDenied):
        set_policy(session=session, actor=people.officer.actor, changes={}, effective_from=now, note="", now=now)


def test_shortening_needs_a_second_person_and_never_goes_below_the_store_lock(
    session: Session, store: BlobStore, people: People
) -> None:
    now = datetime.now(UTC)
    captured = now - timedelta(days=400)
    record = put_record(session, store, people.officer, captured=captured, lock_until=now + timedelta(minutes=5))
    mark_long_term(session=session, actor=people.officer.actor, kind=MarkerKind.OBSTRUCTION_OF_OFFICERS,
                   note="party pushed the officer", now=now, store=store, evidence_id=record.id)
    assert recompute_retention(session, record, now).permanent

    request = request_reclassification(session=session, actor=people.manager.actor, evidence_id=record.id,
                                       to_class=RetentionClass.ROUTINE_INSPECTION, reason="mis-marked", now=now,
                                       store=store)
    assert request.status is RequestStatus.PENDING
    assert recompute_retention(session, record, now).permanent  # nothing changes until approved
    with pytest.raises(SecondPersonRequired):
        approve_reclassification(session=session, actor=people.manager.actor, request_id=request.id, now=now)
    with pytest.raises(PermissionDenied):
        approve_reclassification(session=session, actor=people.officer.actor, request_id=request.id, now=now)

    state = approve_reclassification(session=session, actor=people.second_manager.actor, request_id=request.id,
                                     now=now, store=store)
    # Routine footage captured 400 days ago would have expired; the store's lock still stands as the floor.
    assert not state.permanent and state.retention_class is RetentionClass.ROUTINE_INSPECTION
    assert state.retain_until == record.store_retain_until and "Object Lock" in state.reason
    assert state.retain_until is not None and state.retain_until > now


def test_lengthening_applies_at_once_by_one_person(session: Session, store: BlobStore, people: People) -> None:
    now = datetime.now(UTC)
    record = put_record(session, store, people.officer, captured=now, lock_until=now + timedelta(minutes=5),
                        activity="inspection")
    request = request_reclassification(session=session, actor=people.manager.actor, evidence_id=record.id,
                                       to_class=RetentionClass.DEFAULT, reason="shows an offence", now=now)
    assert request.status is RequestStatus.EXECUTED
    assert recompute_retention(session, record, now).retain_until == add_years(now, 5)


def test_a_case_marker_makes_every_record_of_the_case_permanent(session: Session, store: BlobStore,
                                                                people: People) -> None:
    now = datetime.now(UTC)
    case = new_case(session, people.manager)
    records = [put_record(session, store, people.officer, captured=now, lock_until=now + timedelta(minutes=5),
                          case=case) for _ in range(2)]
    mark_long_term(session=session, actor=people.manager.actor, kind=MarkerKind.COERCIVE_ENFORCEMENT, note="",
                   now=now, store=store, case_id=case.id)
    for record in records:
        state = recompute_retention(session, record, now)
        assert state.permanent and f"marked on case {case.case_number}" in state.reason
