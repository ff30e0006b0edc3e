"""Job leases with a heartbeat: a killed worker's run is taken over within minutes, a live one never is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from evault.scheduler import JobSpec, build_scheduler, execute_once, take_over_dead_runs
from retention.models import JobLease
from vault.config import Settings
from vault.context import VaultContext, build_context
from vault.storage.base import BlobStore

HEARTBEAT, TAKEOVER = 0.5, 3.0
JOB = "nightly_report"

# A worker that claims the run, then hangs in the job until it is killed.
DOOMED_WORKER = f"""
import time
from datetime import timedelta
from evault.scheduler import JobSpec, execute_once
from vault.config import load_settings
from vault.context import build_context

def stuck(_context):
    print("started", flush=True)
    time.sleep(3600)
    return {{}}

execute_once(build_context(load_settings()), JobSpec("{JOB}", stuck, timedelta(days=1)), worker="doomed")
"""


def quick_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"job_heartbeat_seconds": HEARTBEAT, "job_takeover_seconds": TAKEOVER})


def leases(context: VaultContext) -> list[JobLease]:
    with context.sessions() as session:
        return list(session.scalars(select(JobLease).where(JobLease.job_name == JOB).order_by(JobLease.attempt)))


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def start_doomed_worker(settings: Settings) -> subprocess.Popen[str]:
    env = {**os.environ, "EVAULT_HOME": str(settings.home), "EVAULT_DATABASE_URL": settings.resolved_database_url,
           "EVAULT_STORE": "local", "EVAULT_LOG_JSON": "false", "EVAULT_LOG_LEVEL": "WARNING",
           "EVAULT_JOB_HEARTBEAT_SECONDS": str(HEARTBEAT), "EVAULT_JOB_TAKEOVER_SECONDS": str(TAKEOVER)}
    process = subprocess.Popen([sys.executable, "-c", DOOMED_WORKER], env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:  # structlog's own lines come first
        if line.strip() == "started":
            return process
    process.wait()
    raise AssertionError(f"the worker exited with {process.returncode} before its job started")


def test_a_killed_workers_run_is_taken_over_by_another_worker_within_the_takeover_time(
    settings: Settings, store: BlobStore
) -> None:
    context = build_context(quick_settings(settings), store=store)
    taken_over: list[str] = []
    rescue = JobSpec(JOB, lambda _ctx: taken_over.append("ran") or {"took_over": True}, timedelta(days=1),
                     {"hour": "1", "minute": "10"})
    doomed = start_doomed_worker(settings)
    try:
        first_beat = leases(context)[0].heartbeat_at
        assert wait_for(lambda: leases(context)[0].heartbeat_at != first_beat, 10 * HEARTBEAT), "no heartbeat"
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        assert doomed.stdout is not None
        doomed.stdout.close()
    killed_at = time.monotonic()
    # Right after the kill the lease still looks alive: nobody runs the job twice on a hiccup.
    assert take_over_dead_runs(context, [rescue], worker="rescuer") == {}
    scheduler = build_scheduler(context, worker="rescuer", specs=[rescue])
    scheduler.start()
    try:
        done = wait_for(lambda: [r.outcome for r in leases(context)] == ["abandoned", "succeeded"], 10 * TAKEOVER)
        elapsed = time.monotonic() - killed_at
    finally:
        scheduler.shutdown(wait=True)
    rows = leases(context)
    context.close()
    assert done, [(r.attempt, r.worker, r.outcome) for r in rows]
    assert elapsed < 3 * TAKEOVER
    assert [(r.attempt, r.worker, r.outcome) for r in rows] == [(1, "doomed", "abandoned"), (2, "rescuer", "succeeded")]
    assert rows[0].slot == rows[1].slot and rows[0].summary["abandoned_by"] == "rescuer"
    assert rows[1].summary == {"took_over": True} and taken_over == ["ran"]


def test_a_live_worker_keeps_its_run_however_long_it_takes(settings: Settings, store: BlobStore) -> None:
    context = build_context(quick_settings(settings), store=store)
    release = threading.Event()
    spec = JobSpec(JOB, lambda _ctx: {"waited": release.wait(30)}, timedelta(days=1))
    runner = threading.Thread(target=execute_once, args=(context, spec), kwargs={"worker": "busy"})
    runner.start()
    try:
        assert wait_for(lambda: len(leases(context)) == 1, 10)
        deadline = time.monotonic() + 2 * TAKEOVER  # well past the takeover time, with the heartbeat going
        while time.monotonic() < deadline:
            assert take_over_dead_runs(context, [spec], worker="rival") == {}
            assert execute_once(context, spec, worker="rival") is None
            time.sleep(HEARTBEAT)
    finally:
        release.set()
        runner.join()
    rows = [(r.attempt, r.worker, r.outcome, r.summary) for r in leases(context)]
    context.close()
    assert rows == [(1, "busy", "succeeded", {"waited": True})]


def test_a_takeover_time_that_would_steal_live_jobs_is_refused(settings: Settings) -> None:
    with pytest.raises(ValidationError, match="at least twice"):
        Settings(home=settings.home, job_heartbeat_seconds=60, job_takeover_seconds=90)
