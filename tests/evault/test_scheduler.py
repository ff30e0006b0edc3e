"""The scheduler: a job store in the catalog, and exactly one worker executing each scheduled run."""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from sqlalchemy import select

from evault.scheduler import JobSpec, build_scheduler, default_jobs, execute_once, slot_of
from retention.models import JobLease
from tests.conftest import Person
from vault.context import VaultContext
from vault.db import utcnow
from vault.evidence.models import Evidence
from vault.evidence.service import EvidenceTags, register_evidence
from vault.identities.models import Role


class CountingJob:
    """A job that counts how often it really ran, per slot."""

    def __init__(self, period: timedelta) -> None:
        self.period = period
        self.runs: Counter[int] = Counter()
        self._lock = threading.Lock()

    def __call__(self, context: VaultContext) -> dict[str, Any]:
        with self._lock:
            self.runs[slot_of(self.period, datetime.now(UTC))] += 1
        time.sleep(0.05)  # long enough for a rival worker to try the same run meanwhile
        return {"ok": True}


def leases(context: VaultContext, job: str) -> list[JobLease]:
    with context.sessions() as session:
        return list(session.scalars(select(JobLease).where(JobLease.job_name == job).order_by(JobLease.slot)))


def test_two_workers_racing_for_the_same_runs_execute_each_exactly_once(context: VaultContext) -> None:
    executed: list[str] = []
    spec = JobSpec("race", lambda _ctx: executed.append("x") or {"n": len(executed)}, timedelta(hours=1))
    base = datetime(2025, 3, 31, 1, 10, tzinfo=UTC)
    for run in range(4):
        moment = base + timedelta(hours=run, seconds=run)  # each worker fires a little apart, same hour slot
        barrier = threading.Barrier(2)
        results: dict[str, Any] = {}

        def worker(name: str, at: datetime, barrier: threading.Barrier = barrier,
                   results: dict[str, Any] = results) -> None:
            barrier.wait()
            results[name] = execute_once(context, spec, worker=name, now=at)

        threads = [threading.Thread(target=worker, args=(f"worker-{i}", moment + timedelta(milliseconds=i)))
                   for i in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(r is None for r in results.values()) == [False, True]
    assert len(executed) == 4
    rows = leases(context, "race")
    assert [r.outcome for r in rows] == ["succeeded"] * 4
    assert len({r.slot for r in rows}) == 4


def test_a_failed_run_is_recorded_and_the_next_run_still_happens(context: VaultContext) -> None:
    calls: list[int] = []

    def flaky(_ctx: VaultContext) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("store unreachable")
        return {"ok": True}

    spec = JobSpec("flaky", flaky, timedelta(days=1))
    day = datetime(2025, 3, 31, 1, 10, tzinfo=UTC)
    assert execute_once(context, spec, worker="w", now=day) is None
    assert execute_once(context, spec, worker="w", now=day + timedelta(days=1)) == {"ok": True}
    assert [(r.outcome, r.summary.get("error")) for r in leases(context, "flaky")] == [
        ("failed", "RuntimeError"), ("succeeded", None)]


def test_two_real_schedulers_on_one_job_store_run_each_second_once(context: VaultContext) -> None:
    job = CountingJob(timedelta(seconds=1))
    specs = [JobSpec("tick", job, timedelta(seconds=1), {"second": "*"})]
    first = build_scheduler(context, worker="worker-a", specs=specs)
    second = build_scheduler(context, worker="worker-b", specs=specs)
    first.start()
    second.start()
    try:
        deadline = time.monotonic() + 30
        while len(leases(context, "tick")) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        first.shutdown(wait=True)
        second.shutdown(wait=True)
    rows = leases(context, "tick")
    assert len(rows) >= 3
    assert all(count == 1 for count in job.runs.values())
    assert sum(job.runs.values()) == len(rows)


def test_the_job_list_wires_retention_ingest_and_access_jobs() -> None:
    names = {spec.name for spec in default_jobs()}
    assert names == {"retention_sweep", "fixity_audit", "lock_reconciliation", "archiving_deadline_report",
                     "ingest_backfill_sm3", "ingest_make_derivatives",
                     "access_close_idle_playback", "reconcile", "custody_anchor", "disposal_destruction",
                     "redaction_resume"}


def test_scheduled_sm3_job_digests_a_stored_original(context: VaultContext,
                                                      make_person: Callable[..., Person]) -> None:
    officer = make_person(Role.OFFICER)
    data = b"recording bytes " * 4096
    blob = context.store.put_stream(io.BytesIO(data), retain_until=utcnow() + timedelta(days=183))
    with context.sessions() as session:
        evidence = register_evidence(session=session, actor=officer.actor, blob=blob, store_name=context.store.name,
                                     store_retain_until=utcnow() + timedelta(days=183), original_name="a.mp4",
                                     media_type="video/mp4", tags=EvidenceTags())
        session.commit()
    specs = {spec.name: spec for spec in default_jobs()}
    assert specs["ingest_backfill_sm3"].run(context) == {"handled": 1}
    assert specs["ingest_backfill_sm3"].run(context) == {"handled": 0}
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    with context.sessions() as session:
        assert session.get(Evidence, evidence.id).sm3 == digest.finalize().hex()  # type: ignore[union-attr]
    assert specs["access_close_idle_playback"].run(context) == {"closed": 0}
