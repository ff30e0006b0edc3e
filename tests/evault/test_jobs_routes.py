"""GET /api/jobs and /api/jobs/{name}: the scheduled jobs' runs, outcomes, durations and next due times, for
admins and auditors only (issue 16); the same service as the administrator's jobs page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from evault.leases import FAILED, SUCCEEDED
from evault.scheduler import default_jobs
from retention.models import JobLease
from tests.conftest import Person
from vault.context import VaultContext
from vault.db import utcnow
from vault.identities.models import Role


def add_run(context: VaultContext, job: str, *, started: datetime, seconds: float, outcome: str,
            summary: dict[str, Any], slot: int) -> None:
    with context.sessions() as session:
        session.add(JobLease(job_name=job, slot=slot, attempt=1, worker="vault-01:4242", started_at=started,
                             heartbeat_at=started, finished_at=started + timedelta(seconds=seconds),
                             outcome=outcome, summary=summary))
        session.commit()


@pytest.mark.parametrize("role", [Role.OFFICER, Role.REVIEWER, Role.APPROVER, Role.RECORDS_MANAGER])
def test_only_admins_and_auditors_read_job_status(client: TestClient, make_person: Callable[..., Person],
                                                  role: Role) -> None:
    who = make_person(role, certificate="C001" if role == Role.OFFICER else None)
    for path in ("/api/jobs", "/api/jobs/fixity_audit", "/api/jobs/no_such_job"):
        refused = client.get(path, headers=who.headers)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied", path
    assert client.get("/api/jobs").json()["error"]["code"] == "unauthenticated"


def test_admins_and_auditors_see_last_runs_failures_durations_and_next_due(
    client: TestClient, context: VaultContext, make_person: Callable[..., Person],
) -> None:
    now = utcnow()
    add_run(context, "fixity_audit", started=now - timedelta(days=1, minutes=5), seconds=42.5, outcome=SUCCEEDED,
            summary={"checked": 1284, "mismatches": 0}, slot=1)
    add_run(context, "fixity_audit", started=now - timedelta(minutes=30), seconds=3, outcome=FAILED,
            summary={"error": "StorageError", "message": "存储桶不可达"}, slot=2)
    for role in (Role.ADMIN, Role.AUDITOR):
        who = make_person(role)
        listed = client.get("/api/jobs", headers=who.headers)
        assert listed.status_code == 200, listed.text
        jobs = {job["name"]: job for job in listed.json()}
        assert set(jobs) == {spec.name for spec in default_jobs()}
        assert jobs["reconcile"]["state"] == "never" and jobs["reconcile"]["last_run"] is None
        fixity = client.get("/api/jobs/fixity_audit", headers=who.headers).json()
        assert fixity == jobs["fixity_audit"]
        assert fixity["state"] == "failed" and fixity["needs_attention"] is True
        assert fixity["failures_in_a_row"] == 1 and fixity["runs_by_outcome"] == {"succeeded": 1, "failed": 1}
        assert fixity["last_run"]["summary"]["message"] == "存储桶不可达"
        assert fixity["last_run"]["duration_seconds"] == 3.0
        assert [run["outcome"] for run in fixity["recent_runs"]] == ["failed", "succeeded"]
        assert fixity["recent_runs"][1]["duration_seconds"] == 42.5
        assert datetime.fromisoformat(fixity["last_success_at"]) == now - timedelta(days=1, minutes=5)
        due = datetime.fromisoformat(fixity["next_due"])
        assert now < due <= now + timedelta(days=1)
        assert due.astimezone(context.settings.zone).strftime("%H:%M") == "02:10"  # cron in the agency's zone
        assert fixity["schedule"] == "10 2 * * *" and fixity["timezone"] == context.settings.timezone
        one = client.get("/api/jobs/fixity_audit", params={"recent": 1}, headers=who.headers).json()
        assert [run["outcome"] for run in one["recent_runs"]] == ["failed"]


def test_an_unknown_job_is_a_404_naming_the_jobs(client: TestClient, make_person: Callable[..., Person]) -> None:
    answer = client.get("/api/jobs/fixity", headers=make_person(Role.AUDITOR).headers)
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "job_not_found" and "fixity_audit" in error["details"]["jobs"]
