"""`evault jobs [NAME]` as an auditor: the scheduled jobs' states and next runs, one job's newest runs (issue 16)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from evault.leases import FAILED
from retention.models import JobLease
from tests.client.conftest import Shell
from tests.conftest import Person
from vault.context import VaultContext
from vault.db import utcnow
from vault.identities.models import Role

Shells = Callable[..., Shell]


def test_an_auditor_sees_a_failed_job_and_its_runs(shell_for: Shells, context: VaultContext,
                                                   make_person: Callable[..., Person]) -> None:
    started = utcnow() - timedelta(minutes=20)
    with context.sessions() as session:
        session.add(JobLease(job_name="lock_reconciliation", slot=1, attempt=1, worker="vault-02:77",
                             started_at=started, finished_at=started + timedelta(seconds=7), outcome=FAILED,
                             summary={"error": "StorageError"}))
        session.commit()
    auditor = shell_for(make_person(Role.AUDITOR))
    table = auditor.ok("jobs").stdout.splitlines()
    assert table[0].split()[:2] == ["JOB", "STATE"] and all(len(line) <= 80 for line in table)
    row = next(line for line in table if line.startswith("lock_reconciliation"))
    assert "FAILED" in row and started.astimezone(context.settings.zone).strftime("%Y-%m-%d %H:%M:%S") in row
    assert any(line.startswith("reconcile ") and "never run" in line for line in table)
    listed = {job["name"]: job for job in auditor.json_lines("jobs")}
    assert listed["lock_reconciliation"]["failures_in_a_row"] == 1
    one = auditor.json("jobs", "lock_reconciliation")
    assert one["recent_runs"][0]["worker"] == "vault-02:77" and one["recent_runs"][0]["outcome"] == "failed"
    shown = auditor.ok("jobs", "lock_reconciliation").stdout
    assert "vault-02:77" in shown and "StorageError" in shown and "schedule: 10 3 * * *" in shown
    assert "1 failure(s) in a row" in shown and " 7.0 " in shown

    officer = shell_for(make_person(Role.OFFICER, certificate="C001"))("jobs")
    assert officer.exit_code == 4 and "permission" in officer.stderr
    unknown = auditor("jobs", "no_such_job")
    assert unknown.exit_code == 4 and "no scheduled job named no_such_job" in unknown.stderr
