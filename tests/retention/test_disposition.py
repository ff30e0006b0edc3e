"""Disposition: two people, every guard, the store's own refusal, and a signed certificate kept forever."""

from __future__ import annotations

import io
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from retention.disposition import (
    approve_disposal,
    certificate_body,
    get_certificate,
    propose_disposal,
    verify_certificate,
)
from retention.errors import DispositionRefused, SecondPersonRequired
from retention.holds import place_hold, release_hold
from retention.models import DisposalRequest, DisposalStatus
from retention.recovery import destroy_due
from retention.service import recompute_retention
from tests.conftest import S3_ENDPOINT, make_s3_store
from tests.retention.conftest import Clock, People, new_case, put_record
from vault.cases.models import CaseStatus, CaseType
from vault.cases.service import change_case_status
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.errors import NotFound, ObjectLocked
from vault.evidence.models import Derivative, DerivativeKind, Evidence, EvidenceStatus
from vault.storage.base import BlobStore


def refusals(session: Session, evidence: Evidence) -> list[list[str]]:
    rows = session.scalars(select(CustodyEvent).where(
        CustodyEvent.subject_id == str(evidence.id),
        CustodyEvent.action == str(CustodyAction.EVIDENCE_DISPOSAL_REFUSED)).order_by(CustodyEvent.log_index))
    return [e.details["reasons"] for e in rows]


def add_proxy(session: Session, store: BlobStore, evidence: Evidence, lock_until: datetime) -> Derivative:
    blob = store.put_stream(io.BytesIO(os.urandom(512)), retain_until=lock_until)
    proxy = Derivative(evidence_id=evidence.id, kind=DerivativeKind.PROXY, sha256=blob.sha256, size=blob.size,
                       media_type="video/mp4", storage_key=blob.key, version_id=blob.version_id)
    session.add(proxy)
    session.flush()
    return proxy


def test_end_to_end_disposal_on_the_configured_store(context: VaultContext, session: Session, store: BlobStore,
                                                     people: People) -> None:
    start = datetime.now(UTC)
    lock = start + timedelta(seconds=2)
    record = put_record(session, store, people.officer, captured=start - timedelta(days=365), lock_until=lock,
                        activity="inspection")
    proxy = add_proxy(session, store, record, lock)
    session.commit()

    with pytest.raises(DispositionRefused, match="store's lock runs until") as early:
        propose_disposal(session=session, actor=people.manager.actor, evidence_id=record.id, reason="due",
                         now=datetime.now(UTC), store=store)
    assert early.value.record_kept
    session.commit()  # what the API's session dependency does with a kept refusal

    while datetime.now(UTC) <= lock + timedelta(milliseconds=200):
        time.sleep(0.2)
    request = propose_disposal(session=session, actor=people.manager.actor, evidence_id=record.id, reason="due",
                               now=datetime.now(UTC), store=store)
    with pytest.raises(SecondPersonRequired):
        approve_disposal(session=session, actor=people.manager.actor, request_id=request.id, now=datetime.now(UTC),
                         store=store, signer=context.signer, recovery_days=7)
    approved = approve_disposal(session=session, actor=people.approver.actor, request_id=request.id,
                                now=datetime.now(UTC), store=store, signer=context.signer, recovery_days=7)
    session.commit()
    # (issue 12, item 7) Approved, it waits out the recovery window with the original untouched ...
    assert approved.status is DisposalStatus.PENDING_DESTRUCTION and approved.destroy_after is not None
    assert store.stat(record.storage_key, record.version_id).size == record.size
    assert destroy_due(context, now=approved.destroy_after - timedelta(seconds=1)).outcomes == {}
    # ... and then the scheduled job destroys and certifies it.
    assert destroy_due(context, now=approved.destroy_after).outcomes == {"disposed": 1}
    session.expire_all()
    certificate = get_certificate(session=session, actor=people.auditor.actor, evidence_id=record.id)

    assert session.get(Evidence, record.id).status is EvidenceStatus.DISPOSED  # type: ignore[union-attr]
    for key, version in ((record.storage_key, record.version_id), (proxy.storage_key, proxy.version_id)):
        with pytest.raises(NotFound):
            store.stat(key, version)
    body = certificate_body(certificate)
    assert (body["sha256"], body["size"], body["retention_class"]) == (record.sha256, record.size,
                                                                       "routine_inspection")
    assert body["proposed_by"] == people.manager.user.name and body["approved_by"] == people.approver.user.name
    assert body["destroy_after"] == approved.destroy_after.isoformat() and body["disposed_by"] == "system"
    assert body["retention_basis"].startswith("kept until") and body["policy_version"] == 0
    assert body["derivatives"][0]["result"] == "deleted"
    assert verify_certificate(certificate, context.signer.public_raw)
    logged = session.scalar(select(CustodyEvent).where(CustodyEvent.action == str(CustodyAction.EVIDENCE_DISPOSED)))
    assert logged is not None and logged.details["signature"] == certificate.signature
    assert refusals(session, record) == [early.value.details["reasons"]]

    for statement in ("UPDATE disposal_certificates SET sha256 = 'x'", "DELETE FROM disposal_certificates"):
        with pytest.raises(DBAPIError):
            session.execute(text(statement))
        session.rollback()


@pytest.mark.s3
@pytest.mark.skipif(not S3_ENDPOINT, reason="EVAULT_TEST_S3_ENDPOINT not set (scripts/ceph-rgw.sh start DIR PORT)")
def test_ceph_rgw_itself_refuses_an_early_delete() -> None:
    store = make_s3_store()
    blob = store.put_stream(io.BytesIO(b"original footage"), retain_until=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(ObjectLocked):  # S3BlobStore.delete has no lock check of its own: this is the server's no
        store.delete(blob.key, blob.version_id)
    assert store.stat(blob.key, blob.version_id).size == len(b"original footage")


@pytest.fixture
def due_record(clocked_context: VaultContext, people: People, clock: Clock) -> Evidence:
    """A routine inspection record whose retention and store lock have both run out (by the test clock)."""
    with clocked_context.sessions() as session:
        record = put_record(session, clocked_context.store, people.officer, captured=clock.now - timedelta(days=400),
                            lock_until=clock.now + timedelta(days=1), activity="inspection")
        session.commit()
    clock.advance(days=2)
    return record


def test_a_held_record_is_never_disposed_and_the_store_holds_it_too(
    clocked_context: VaultContext, due_record: Evidence, people: People, clock: Clock
) -> None:
    store = clocked_context.store
    with clocked_context.sessions() as session:
        request = propose_disposal(session=session, actor=people.manager.actor, evidence_id=due_record.id,
                                   reason="due", now=clock.now, store=store)
        hold = place_hold(session=session, actor=people.manager.actor, reason="administrative litigation (行政诉讼)",
                          now=clock.now, store=store, evidence_id=due_record.id)
        session.commit()
        assert store.stat(due_record.storage_key, due_record.version_id).legal_hold
        with pytest.raises(DispositionRefused, match="legal hold"):
            approve_disposal(session=session, actor=people.approver.actor, request_id=request.id, now=clock.now,
                             store=store, signer=clocked_context.signer, recovery_days=7)
        session.commit()
        assert session.get(DisposalRequest, request.id).status is DisposalStatus.REJECTED  # type: ignore[union-attr]
        with pytest.raises(DispositionRefused, match="legal hold"):
            propose_disposal(session=session, actor=people.manager.actor, evidence_id=due_record.id, reason="due",
                             now=clock.now, store=store)
        session.rollback()
        with pytest.raises(ObjectLocked):
            store.delete(due_record.storage_key, due_record.version_id)  # the store refuses on its own as well
        release_hold(session=session, actor=people.second_manager.actor, hold_id=hold.id, reason="judgment final",
                     now=clock.now, store=store)
        assert not store.stat(due_record.storage_key, due_record.version_id).legal_hold
        again = propose_disposal(session=session, actor=people.manager.actor, evidence_id=due_record.id,
                                 reason="due", now=clock.now, store=store)
        approve_disposal(session=session, actor=people.approver.actor, request_id=again.id, now=clock.now,
                         store=store, signer=clocked_context.signer, recovery_days=0)  # no window: destroyed now
        session.commit()
        assert session.get(Evidence, due_record.id).status is EvidenceStatus.DISPOSED  # type: ignore[union-attr]


def test_a_hold_on_the_whole_case_protects_every_record(
    clocked_context: VaultContext, people: People, clock: Clock
) -> None:
    store = clocked_context.store
    with clocked_context.sessions() as session:
        case = new_case(session, people.manager, case_type=CaseType.ROUTINE_INSPECTION, number="阜应急检〔2024〕7号")
        record = put_record(session, store, people.officer, captured=clock.now - timedelta(days=400),
                            lock_until=clock.now + timedelta(days=1), case=case, activity="inspection")
        for status in (CaseStatus.CLOSED, CaseStatus.ARCHIVED):
            change_case_status(session=session, actor=people.manager.actor, case=case, status=status, now=clock.now)
        place_hold(session=session, actor=people.manager.actor, reason="reconsideration (行政复议)", now=clock.now,
                   store=store, case_id=case.id)
        session.commit()
        clock.advance(days=2)
        assert recompute_retention(session, record, clock.now).held
        with pytest.raises(DispositionRefused, match="legal hold"):
            propose_disposal(session=session, actor=people.manager.actor, evidence_id=record.id, reason="due",
                             now=clock.now, store=store)


def test_a_record_of_an_open_case_is_never_disposed(clocked_context: VaultContext, people: People,
                                                    clock: Clock) -> None:
    store = clocked_context.store
    with clocked_context.sessions() as session:
        case = new_case(session, people.manager, case_type=CaseType.ROUTINE_INSPECTION, number="阜应急检〔2024〕8号")
        record = put_record(session, store, people.officer, captured=clock.now - timedelta(days=400),
                            lock_until=clock.now + timedelta(days=1), case=case, activity="inspection")
        for status in (CaseStatus.CLOSED, CaseStatus.ARCHIVED):
            change_case_status(session=session, actor=people.manager.actor, case=case, status=status, now=clock.now)
        session.commit()
        clock.advance(days=2)
        request = propose_disposal(session=session, actor=people.manager.actor, evidence_id=record.id,
                                   reason="due", now=clock.now, store=store)
        change_case_status(session=session, actor=people.manager.actor, case=case, status=CaseStatus.OPEN,
                           now=clock.now)  # reopened between proposal and approval
        session.commit()
        with pytest.raises(DispositionRefused, match="which is open, not archived"):
            approve_disposal(session=session, actor=people.approver.actor, request_id=request.id, now=clock.now,
                             store=store, signer=clocked_context.signer, recovery_days=0)
        session.commit()
        assert session.get(Evidence, record.id).status is EvidenceStatus.STORED  # type: ignore[union-attr]
        assert b"".join(store.open_range(record.storage_key, record.version_id))


def test_an_unexpired_store_lock_stops_disposal_even_when_the_catalog_says_due(
    clocked_context: VaultContext, due_record: Evidence, people: People, clock: Clock
) -> None:
    store = clocked_context.store
    store.set_retention(due_record.storage_key, due_record.version_id, clock.now + timedelta(days=30))
    with clocked_context.sessions() as session:
        with pytest.raises(DispositionRefused, match="store's lock runs until"):
            propose_disposal(session=session, actor=people.manager.actor, evidence_id=due_record.id, reason="due",
                             now=clock.now, store=store)
        session.commit()
        assert len(refusals(session, due_record)) == 1
    with pytest.raises(ObjectLocked):
        store.delete(due_record.storage_key, due_record.version_id)


def test_retention_not_ended_is_refused(clocked_context: VaultContext, people: People, clock: Clock) -> None:
    store = clocked_context.store
    with clocked_context.sessions() as session:
        record = put_record(session, store, people.officer, captured=clock.now, lock_until=clock.now,
                            activity="questioning")
        with pytest.raises(DispositionRefused, match="retention has not ended"):
            propose_disposal(session=session, actor=people.manager.actor, evidence_id=record.id, reason="why not",
                             now=clock.advance(days=365), store=store)
