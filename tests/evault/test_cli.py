"""The operator's command line: init, users, tokens, handlers, cases, parties, audit verify."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from evault.cli import main


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"EVAULT_HOME": str(tmp_path / "home"), "EVAULT_DATABASE_URL": database_url, "EVAULT_LOG_JSON": "false"}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_init_creates_home_keys_schema_and_prints_admin_token_once(env: dict[str, str]) -> None:
    first = run(env, "init")
    assert first.exit_code == 0, first.output
    token = first.output.strip().splitlines()[-1]
    assert token.startswith("evt_")
    key = Path(env["EVAULT_HOME"]) / "keys" / "vault-ed25519.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = run(env, "init")
    assert again.exit_code == 0 and "already initialised" in again.output and "evt_" not in again.output


def test_operator_workflow(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "init")
    csv = tmp_path / "handlers.csv"
    csv.write_text("certificate_number,name,unit,valid_from,valid_until\n"
                   "14010219001,张伟,阜阳市应急管理局,2022-01-01,2026-12-31\n", encoding="utf-8")
    assert run(env, "handlers", "import", str(csv)).output.strip() == "1 handlers imported"
    assert run(env, "handlers", "add", "--cert", "14010219002", "--name", "李娜", "--valid-from", "2023-01-01",
               "--valid-until", "2027-12-31").exit_code == 0
    assert run(env, "users", "add", "zhang.wei", "--role", "officer", "--handler", "14010219001").exit_code == 0
    assert run(env, "users", "add", "archive", "--role", "records_manager").exit_code == 0
    assert run(env, "users", "add", "li.na", "--role", "officer").exit_code == 0
    linked = run(env, "users", "link", "li.na", "14010219002").output.strip()
    assert linked == "user 'li.na' linked to handler 14010219002"
    assert run(env, "tokens", "create", "zhang.wei").output.startswith("evt_")
    made = run(env, "--as", "archive", "cases", "add", "阜应急罚字〔2023〕40号", "--type", "general_procedure_penalty")
    assert made.exit_code == 0 and "阜应急罚字〔2023〕40号" in made.output
    assert run(env, "--as", "archive", "parties", "add", "陈某", "--id-number", "341202198805061234",
               "--case", "阜应急罚字〔2023〕40号").exit_code == 0
    listed = run(env, "--as", "archive", "cases", "list").output
    assert "阜应急罚字〔2023〕40号\tgeneral_procedure_penalty\topen" in listed
    verified = run(env, "audit", "verify")
    assert verified.exit_code == 0 and "custody log OK" in verified.output


@pytest.mark.parametrize(("args", "message"), [
    (["users", "add", "x", "--role", "superuser"], "unknown role 'superuser'"),
    (["--as", "nobody", "cases", "list"], "no user named 'nobody'"),
    (["cases", "add", "K-1", "--type", "parking"], "unknown case type"),
    (["handlers", "add", "--cert", "1", "--name", "a", "--valid-from", "2024-02-30", "--valid-until", "2025-01-01"],
     "YYYY-MM-DD"),
])
def test_bad_input_gets_a_message_and_exit_2(env: dict[str, str], args: list[str], message: str) -> None:
    run(env, "init")
    result = run(env, *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_duplicate_case_number_is_refused(env: dict[str, str]) -> None:
    run(env, "init")
    run(env, "cases", "add", "K-1", "--type", "licensing")
    result = run(env, "cases", "add", "K-1", "--type", "licensing")
    assert result.exit_code == 2 and "already exists" in result.output


def test_commands_before_init_say_so(env: dict[str, str]) -> None:
    result = run(env, "cases", "list")
    assert result.exit_code == 2 and "evault init" in result.output


def test_unreachable_database_is_a_clear_message(env: dict[str, str]) -> None:
    run(env, "init")
    broken = {**env, "EVAULT_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"}
    result = run(broken, "cases", "list")
    assert result.exit_code == 2 and "database is unreachable" in result.output


def test_audit_verify_exits_nonzero_naming_the_altered_entry(env: dict[str, str], database_url: str) -> None:
    run(env, "init")
    run(env, "users", "add", "a1", "--role", "auditor")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE custody_events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER custody_events_no_update"))
        conn.execute(text("UPDATE custody_events SET actor_name = 'mallory' WHERE log_index = 1"))
    engine.dispose()
    result = run(env, "audit", "verify")
    assert result.exit_code == 1 and "entry 1 was altered" in result.output


def test_s3_store_refuses_placeholder_secrets(env: dict[str, str]) -> None:
    bad = {**env, "EVAULT_STORE": "s3", "EVAULT_S3_ACCESS_KEY": "minioadmin", "EVAULT_S3_SECRET_KEY": "minioadmin"}
    result = CliRunner().invoke(main, ["init"], env=bad)
    assert result.exit_code != 0 and "placeholder" in result.output
    assert os.environ.get("EVAULT_S3_SECRET_KEY") != "minioadmin"
