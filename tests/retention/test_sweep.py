"""The nightly sweep over more than one batch: the store's own word on each due record, and a crash midway."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from retention.models import QueueState, RetentionState
from retention.sweep import BATCH, retention_sweep
from tests.retention.conftest import People, put_record
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.evidence.models import Evidence
from vault.storage.base import BlobStat


def due_records(context: VaultContext, people: People, count: int) -> list[Evidence]:
    """Store more than a batch of inspection records whose retention has ended, each locked for 2 more seconds."""
    with context.sessions() as session:
        records = []
        for _ in range(count):  # RGW refuses a lock already in the past: each one counts from its own upload
            now = datetime.now(UTC)
            records.append(put_record(session, context.store, people.officer, captured=now - timedelta(days=400),
                                      lock_until=now + timedelta(seconds=2), activity="inspection"))
        session.commit()
    while datetime.now(UTC) <= max(r.store_retain_until for r in records if r.store_retain_until) + timedelta(
            milliseconds=200):
        time.sleep(0.2)
    return records


def queue_states(context: VaultContext) -> Counter[QueueState]:
    with context.sessions() as session:
        return Counter(session.scalars(select(RetentionState.queue_state)))


def queued_events(context: VaultContext) -> Counter[str]:
    with context.sessions() as session:
        return Counter(session.scalars(select(CustodyEvent.subject_id).where(
            CustodyEvent.action == str(CustodyAction.EVIDENCE_DISPOSITION_QUEUED))))


def test_a_lock_or_hold_only_the_store_holds_keeps_a_due_record_out_of_the_queue(
    context: VaultContext, people: People
) -> None:
    records = due_records(context, people, BATCH + 20)
    store_held, store_locked = records[5], records[BATCH + 5]  # one in each batch
    context.store.set_legal_hold(store_held.storage_key, store_held.version_id, True)
    context.store.set_retention(store_locked.storage_key, store_locked.version_id,
                                datetime.now(UTC) + timedelta(days=1))

    summary = retention_sweep(context)

    assert not summary.failed
    assert summary.outcomes["queued"] == BATCH + 18 and summary.outcomes["due_but_blocked"] == 2
    with context.sessions() as session:
        for blocked in (store_held, store_locked):
            state = session.get(RetentionState, blocked.id)
            assert state is not None and state.queue_state is QueueState.ACTIVE
    assert set(queued_events(context)) == {str(r.id) for r in records} - {str(store_held.id), str(store_locked.id)}


def test_a_sweep_that_dies_midway_is_finished_by_the_next_without_doing_anything_twice(
    context: VaultContext, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = due_records(context, people, BATCH + 50)
    store_stat = context.store.stat
    calls = Counter[str]()

    def dies_on_the_second_batch(key: str, version_id: str) -> BlobStat:
        calls["stat"] += 1
        if calls["stat"] > BATCH + 20:
            raise KeyboardInterrupt  # the worker is stopped while the second batch waits for the store
        return store_stat(key, version_id)

    monkeypatch.setattr(context.store, "stat", dies_on_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        retention_sweep(context)
    assert queue_states(context)[QueueState.DUE] == BATCH  # the first batch committed, the second rolled back

    monkeypatch.setattr(context.store, "stat", store_stat)
    summary = retention_sweep(context)

    assert not summary.failed and summary.outcomes["queued"] == 50
    assert queue_states(context)[QueueState.DUE] == len(records)
    assert queued_events(context) == Counter({str(r.id): 1 for r in records})
