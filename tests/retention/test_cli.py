"""`evault retention ...` and `evault worker` wiring on the command line."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session

from evault.cli import main
from tests.conftest import STORE_KIND
from tests.retention.conftest import People, due_records
from vault.context import VaultContext
from vault.storage.base import BlobStore


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"EVAULT_HOME": str(tmp_path / "home"), "EVAULT_DATABASE_URL": database_url, "EVAULT_LOG_JSON": "false"}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_report_policy_and_jobs_from_the_command_line(env: dict[str, str]) -> None:
    assert run(env, "init").exit_code == 0
    assert run(env, "users", "add", "archive", "--role", "records_manager").exit_code == 0
    assert run(env, "--as", "archive", "cases", "add", "阜应急罚字〔2023〕40号", "--type",
               "general_procedure_penalty").exit_code == 0
    assert run(env, "--as", "archive", "cases", "status", "阜应急罚字〔2023〕40号", "closed").exit_code == 0

    report = run(env, "--as", "archive", "retention", "report")
    assert report.exit_code == 0, report.output
    assert "due for disposition: 0" in report.output and "overdue for archiving" in report.output

    changed = run(env, "--as", "archive", "retention", "policy", "set", "default_years=7", "--note", "agency rule")
    assert changed.exit_code == 0 and "policy version 1" in changed.output
    assert '"default_years": 7' in run(env, "--as", "archive", "retention", "policy", "show").output
    refused = run(env, "--as", "archive", "retention", "policy", "set", "default_years=2")
    assert refused.exit_code == 2 and "statutory minimum" in refused.output

    swept = run(env, "retention", "run", "retention_sweep")
    assert swept.exit_code == 0 and '"job": "retention_sweep"' in swept.output
    assert "worker" in run(env, "--help").output


def store_env(context: VaultContext, store: BlobStore) -> dict[str, str]:
    """Return the environment of a CLI that opens the test's own catalog and store."""
    env = {"EVAULT_HOME": str(context.settings.home), "EVAULT_DATABASE_URL": context.settings.resolved_database_url,
           "EVAULT_LOG_JSON": "false"}
    if STORE_KIND == "s3":
        env |= {"EVAULT_STORE": "s3", "EVAULT_S3_ENDPOINT": os.environ["EVAULT_TEST_S3_ENDPOINT"],
                "EVAULT_S3_ACCESS_KEY": os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", "evaultci"),
                "EVAULT_S3_SECRET_KEY": os.environ.get("EVAULT_TEST_S3_SECRET_KEY", "evaultci-secret-key"),
                "EVAULT_S3_BUCKET": store.bucket, "EVAULT_S3_LOCK_MODE": "GOVERNANCE"}  # type: ignore[attr-defined]
    return env


def test_recovery_window_from_the_command_line(context: VaultContext, session: Session, store: BlobStore,
                                               people: People) -> None:
    # (issue 12, item 7) approve -> pending destruction (listed with its time in the agency zone) -> cancel.
    env = store_env(context, store)
    kept, destroyed = due_records(session, store, people, 2)
    manager, approver = people.manager.user.name, people.approver.user.name

    proposed = run(env, "--as", manager, "retention", "propose", str(kept.id))
    assert proposed.exit_code == 0, proposed.output
    request_id = re.findall(r"disposal request (\S+) proposed", proposed.output)[0]
    approved = run(env, "--as", approver, "retention", "approve", request_id)
    assert approved.exit_code == 0, approved.output
    assert "pending destruction, destroyed after" in approved.output and "+08:00 unless cancelled" in approved.output

    listed = run(env, "--as", people.auditor.user.name, "retention", "disposals")
    assert "open disposal requests: 1" in listed.output
    assert request_id in listed.output and "pending_destruction" in listed.output and "+08:00" in listed.output
    report = run(env, "--as", people.auditor.user.name, "retention", "report")
    assert "pending destruction (cancellable until destroyed): 1" in report.output and str(kept.id) in report.output

    refused = run(env, "--as", approver, "retention", "cancel", request_id, "--reason", "keep")
    assert refused.exit_code == 2 and refused.output.startswith("error (permission_denied): ")
    assert run(env, "--as", manager, "retention", "cancel", request_id).exit_code == 2  # --reason is required
    cancelled = run(env, "--as", manager, "retention", "cancel", request_id, "--reason", "复议中 (under review)")
    assert cancelled.exit_code == 0 and f"record {kept.id} is kept" in cancelled.output
    report = run(env, "--as", people.auditor.user.name, "retention", "report")
    assert "kept (disposal cancelled): 1" in report.output and "复议中 (under review)" in report.output
    swept = run(env, "retention", "run", "disposal_destruction")
    assert swept.exit_code == 0 and '"job": "disposal_destruction"' in swept.output
    assert store.stat(kept.storage_key, kept.version_id).size == kept.size

    # EVAULT_DISPOSAL_RECOVERY_DAYS=0: no window, the approval destroys and prints the signed certificate.
    proposed = run(env, "--as", manager, "retention", "propose", str(destroyed.id))
    request_id = re.findall(r"disposal request (\S+) proposed", proposed.output)[0]
    at_once = run({**env, "EVAULT_DISPOSAL_RECOVERY_DAYS": "0"}, "--as", approver, "retention", "approve", request_id)
    assert at_once.exit_code == 0 and destroyed.sha256 in at_once.output and "signature" in at_once.output
