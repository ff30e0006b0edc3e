"""`evault retention ...` and `evault worker` wiring on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from evault.cli import main


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
