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


def test_certificate_history_from_the_command_line(env: dict[str, str]) -> None:
    # A certificate can be suspended, revoked and renewed (`001` 第十五、十六条); each change dated, with a reason.
    run(env, "init")
    run(env, "handlers", "add", "--cert", "14010219001", "--name", "张伟", "--valid-from", "2022-01-01",
        "--valid-until", "2026-12-31")
    suspended = run(env, "handlers", "suspend", "14010219001", "--effective", "2025-03-01", "--reason", "暂扣")
    assert suspended.exit_code == 0 and "suspended from 2025-03-01" in suspended.output
    reinstated = run(env, "handlers", "reinstate", "14010219001", "--effective", "2025-04-01", "--reason", "发还")
    assert reinstated.exit_code == 0
    renewed = run(env, "handlers", "renew", "14010219001", "--effective", "2027-01-01", "--valid-until", "2031-12-31",
                  "--reason", "换证")
    assert renewed.exit_code == 0, renewed.output
    shown = run(env, "handlers", "show", "14010219001", "--on", "2025-03-15").output
    assert "on 2025-03-15: NOT VALID (suspended, 2022-01-01..2026-12-31)" in shown
    assert "2027-01-01\trenewed\t2027-01-01..2031-12-31\t换证" in shown
    assert "VALID (valid, 2027-01-01..2031-12-31)" in run(env, "handlers", "show", "14010219001", "--on",
                                                          "2028-01-01").output
    wrong = next(line for line in shown.splitlines() if "\trenewed\t" in line).rsplit(", ", 1)[1].rstrip(")")
    corrected = run(env, "handlers", "correct", "14010219001", "--effective", "2027-01-01", "--voids", wrong,
                    "--reason", "录错")
    assert corrected.exit_code == 0, corrected.output
    assert "NOT VALID" in run(env, "handlers", "show", "14010219001", "--on", "2028-01-01").output
    assert run(env, "handlers", "revoke", "14010219001", "--effective", "2025-05-01", "--reason", "吊销").exit_code == 0
    refused = run(env, "handlers", "reinstate", "14010219001", "--effective", "2025-06-01", "--reason", "x")
    assert refused.exit_code == 2 and "already revoked" in refused.output
    assert run(env, "audit", "verify").exit_code == 0


def test_users_disabled_and_roles_changed_from_the_command_line(env: dict[str, str]) -> None:
    # Issue 12 item 4: users can be disabled and their role changed; a disabled user acts no more.
    run(env, "init")
    run(env, "users", "add", "archive", "--role", "records_manager")
    run(env, "users", "add", "zhang.wei", "--role", "officer")
    assert run(env, "users", "role", "zhang.wei", "reviewer").output.strip() == \
        "user 'zhang.wei' is now reviewer (was officer)"
    refused = run(env, "--as", "archive", "users", "disable", "zhang.wei")
    assert refused.exit_code == 2 and "permission_denied" in refused.output
    assert run(env, "users", "disable", "archive", "--reason", "离职").exit_code == 0
    assert "archive\trecords_manager\tdisabled" in run(env, "users", "list").output
    acting = run(env, "--as", "archive", "cases", "list")
    assert acting.exit_code == 2 and "user 'archive' is disabled" in acting.output
    assert run(env, "users", "enable", "archive").exit_code == 0
    assert run(env, "--as", "archive", "cases", "list").exit_code == 0
    own = run(env, "users", "disable", "admin")
    assert own.exit_code == 2 and "self_lockout" in own.output
    assert run(env, "users", "role", "admin", "officer").exit_code == 2


def test_tokens_listed_and_revoked_from_the_command_line(env: dict[str, str]) -> None:
    # Issue 12 item 4: tokens can be listed and revoked; a revoked token stops working.
    run(env, "init")
    run(env, "users", "add", "zhang.wei", "--role", "officer")
    run(env, "tokens", "create", "zhang.wei", "--label", "dock")
    (line,) = run(env, "tokens", "list", "zhang.wei").output.splitlines()
    token_id, label, _created, state = line.split("\t")
    assert (label, state) == ("dock", "active")
    assert run(env, "--as", "zhang.wei", "tokens", "list").output.splitlines() == [line]
    assert run(env, "--as", "zhang.wei", "tokens", "list", "admin").exit_code == 2
    assert run(env, "--as", "zhang.wei", "tokens", "revoke", token_id).output.strip() == f"token {token_id} revoked"
    assert "\trevoked " in run(env, "tokens", "list", "zhang.wei").output
    again = run(env, "tokens", "revoke", token_id)
    assert again.exit_code == 2 and "already revoked" in again.output
    assert run(env, "tokens", "revoke", "not-an-id").exit_code == 2
