"""The host's commands, run through the real `evault` root: init, migrate, run-job, verify-log, admin-password, and
their refusals where there is no vault."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, select, text

from evault.setup import open_vault
from evault_client.cli import root
from tests.conftest import fresh_database_url
from vault.config import host_login, load_settings
from vault.custody.models import CustodyEvent
from vault.custody.verification_models import LogVerification
from vault.db import utcnow
from vault.identities.models import User
from vault.identities.sign_in import LockoutPolicy, sign_in_with_password

HOST = f"host:{host_login()}"


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"EVAULT_HOME": str(tmp_path / "home"), "EVAULT_DATABASE_URL": database_url, "EVAULT_LOG_JSON": "false"}


@pytest.fixture
def second_database_url(template_database: str, tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "second-db"
    folder.mkdir()
    yield from fresh_database_url(template_database, folder)


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(root, list(args), env=env, input=stdin, catch_exceptions=False)


def _last(env: dict[str, str], model: type[LogVerification] | type[CustodyEvent]) -> object:
    context = open_vault(load_settings(home=Path(env["EVAULT_HOME"]), database_url=env["EVAULT_DATABASE_URL"]))
    try:
        with context.sessions() as session:
            order = LogVerification.at if model is LogVerification else CustodyEvent.log_index
            row = session.scalars(select(model).order_by(order.desc()).limit(1)).one()
            session.expunge(row)
            return row
    finally:
        context.close()


def test_init_creates_home_keys_schema_and_prints_admin_token_once(env: dict[str, str]) -> None:
    first = run(env, "init")
    assert first.exit_code == 0, first.output
    token = first.output.strip().splitlines()[-1]
    assert token.startswith("evt_")
    home = Path(env["EVAULT_HOME"])
    key = home / "keys" / "vault-ed25519.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    kept = home / "first-admin-password"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert f"password: {kept.read_text().strip()}" in first.output
    again = run(env, "init")
    assert again.exit_code == 0 and "already initialised" in again.output and "evt_" not in again.output


def test_the_host_commands_join_the_evault_root_through_their_entry_points(env: dict[str, str]) -> None:
    names = ("init", "migrate", "serve", "worker", "reconcile", "run-job", "verify-log", "admin-password",
             "rotate-signing-key")
    assert set(names) <= set(root.list_commands(click.Context(root)))
    for name in names:
        helped = run(env, name, "--help")
        assert helped.exit_code == 0 and f" {name} [OPTIONS]" in helped.output


@pytest.mark.parametrize("args", [["migrate"], ["serve"], ["worker"], ["reconcile"], ["run-job", "custody_anchor"],
                                  ["verify-log"], ["admin-password", "admin"], ["rotate-signing-key", "--yes"]])
def test_every_host_command_but_init_refuses_without_a_vault(env: dict[str, str], args: list[str]) -> None:
    result = run(env, *args, stdin="a-long-new-password\n")
    home = Path(env["EVAULT_HOME"])
    assert result.exit_code == 78, result.output
    assert f"error (no_vault): no vault at {home}; run `evault init` to create one" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not home.exists()


def test_migrate_brings_a_catalog_to_head(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "init")
    done = run(env, "migrate")
    assert done.exit_code == 0 and "catalog already at the newest schema" in done.output
    empty = {**env, "EVAULT_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    migrated = run(empty, "migrate")
    assert migrated.exit_code == 0, migrated.output
    heads = done.output.split("(")[1].rstrip(")\n")
    assert f"catalog migrated from empty to {heads}" in migrated.output
    assert "already at the newest schema" in run(empty, "migrate").output


def test_run_job_runs_one_scheduled_job_now(env: dict[str, str]) -> None:
    run(env, "init")
    swept = run(env, "run-job", "retention_sweep")
    assert swept.exit_code == 0, swept.output
    assert isinstance(json.loads(swept.output), dict)
    anchored = run(env, "run-job", "custody_anchor")
    assert anchored.exit_code == 0, anchored.output
    unknown = run(env, "run-job", "parking")
    assert unknown.exit_code == 2 and "unknown job 'parking'" in unknown.stderr and "retention_sweep" in unknown.stderr


def test_verify_log_checks_offline_and_keeps_the_verdict_as_the_host_user(env: dict[str, str]) -> None:
    run(env, "init")
    verified = run(env, "verify-log")
    assert verified.exit_code == 0 and "custody log OK" in verified.output
    last = _last(env, LogVerification)
    assert isinstance(last, LogVerification)
    assert (last.ran_by, last.ran_by_id, last.via, last.ok) == (HOST, None, "host", True)


def test_rotate_signing_key_keeps_the_log_verifiable_and_logs_who_rotated(env: dict[str, str]) -> None:
    run(env, "init")
    refused = run(env, "rotate-signing-key", stdin="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    rotated = run(env, "rotate-signing-key", "--yes")
    assert rotated.exit_code == 0, rotated.output
    assert "retired" in rotated.output and "log origin unchanged" in rotated.output
    run(env, "run-job", "custody_anchor")
    verified = run(env, "verify-log")
    assert verified.exit_code == 0 and "custody log OK" in verified.output, verified.output
    event = _last(env, CustodyEvent)
    assert isinstance(event, CustodyEvent)
    assert (event.action, event.actor_name) == ("vault:signing_key_rotated", HOST)
    assert event.details["key_id"] != event.details["retired_key_id"]
    assert event.details["key_id"] in rotated.output


def test_verify_log_exits_1_naming_the_altered_entry(env: dict[str, str], database_url: str) -> None:
    run(env, "init")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE custody_events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER custody_events_no_update"))
        conn.execute(text("UPDATE custody_events SET actor_name = 'mallory' WHERE log_index = 1"))
    engine.dispose()
    result = run(env, "verify-log")
    assert result.exit_code == 1 and "custody log BROKEN: entry 1 was altered" in result.stderr
    last = _last(env, LogVerification)
    assert isinstance(last, LogVerification) and (last.ran_by, last.ok) == (HOST, False)


def test_admin_password_lets_a_locked_out_admin_sign_in_and_is_logged(env: dict[str, str]) -> None:
    run(env, "init")
    context = open_vault(load_settings(home=Path(env["EVAULT_HOME"]), database_url=env["EVAULT_DATABASE_URL"]))
    try:
        with context.sessions() as session:
            admin = session.scalars(select(User).where(User.name == "admin")).one()
            admin.failed_sign_ins, admin.locked_until = 5, admin.created_at.replace(year=2999)
            session.commit()
    finally:
        context.close()
    done = run(env, "admin-password", "admin", stdin="a-long-new-password\n")
    assert done.exit_code == 0, done.output
    assert f"password of admin 'admin' set by {HOST}" in done.output
    event = _last(env, CustodyEvent)
    assert isinstance(event, CustodyEvent)
    assert (event.action, event.actor_name, event.details["user"]) == ("user:password_set", HOST, "admin")
    context = open_vault(load_settings(home=Path(env["EVAULT_HOME"]), database_url=env["EVAULT_DATABASE_URL"]))
    try:
        with context.sessions() as session:
            signed_in = sign_in_with_password(session=session, name="admin", password="a-long-new-password",
                                              now=utcnow(), policy=LockoutPolicy.of(context.settings))
            assert signed_in.name == "admin" and signed_in.locked_until is None
    finally:
        context.close()


@pytest.mark.parametrize(("args", "stdin", "status", "message"), [
    (["admin-password", "nobody"], "a-long-new-password\n", 4, "error (not_found): "),
    (["admin-password", "admin"], "short\n", 6, "error (invalid_input): "),
    (["admin-password", "admin"], "", 6, "no password on standard input"),
])
def test_admin_password_refusals(env: dict[str, str], args: list[str], stdin: str, status: int,
                                 message: str) -> None:
    run(env, "init")
    result = run(env, *args, stdin=stdin)
    assert result.exit_code == status and message in result.stderr and "Traceback" not in result.output


def test_a_relative_home_from_another_folder_names_the_vault_init_recorded(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, elsewhere = tmp_path / "first", tmp_path / "elsewhere"
    first.mkdir()
    elsewhere.mkdir()
    relative = {**env, "EVAULT_HOME": "evault-data"}
    monkeypatch.chdir(first)
    made = run(relative, "init")
    assert made.exit_code == 0 and f"vault home: {first / 'evault-data'}" in made.output
    recorded = json.loads((Path(os.environ["EVAULT_HOST_CONFIG_DIR"]) / "vault-homes.json").read_text())
    assert [entry["home"] for entry in recorded["vaults"]] == [str(first / "evault-data")]
    assert json.loads((first / "evault-data" / "vault-home.json").read_text())["home"] == str(first / "evault-data")
    monkeypatch.chdir(elsewhere)
    lost = run(relative, "verify-log")
    assert lost.exit_code == 78
    assert (f"no vault at {elsewhere / 'evault-data'} (EVAULT_HOME=evault-data is relative to the current folder "
            f"{elsewhere}); `evault init` recorded: {first / 'evault-data'}; set EVAULT_HOME") in lost.stderr
    assert not (elsewhere / "evault-data").exists()
    refused = run(relative, "init")
    assert refused.exit_code == 78 and "--new-vault" in refused.stderr and str(first / "evault-data") in refused.stderr
    assert not (elsewhere / "evault-data").exists()
    monkeypatch.chdir(first)
    assert run(relative, "verify-log").exit_code == 0


def test_init_starts_again_where_a_deleted_home_was(env: dict[str, str], tmp_path: Path,
                                                    second_database_url: str) -> None:
    # Deleting the embedded home deletes its catalog too; the fresh catalog stands in for that.
    assert run(env, "init").exit_code == 0
    shutil.rmtree(tmp_path / "home")
    again = run({**env, "EVAULT_DATABASE_URL": second_database_url}, "init")
    assert again.exit_code == 0, again.stderr
    assert (tmp_path / "home" / "keys" / "vault-ed25519.pem").exists()


def test_a_second_vault_needs_new_vault(env: dict[str, str], tmp_path: Path, second_database_url: str) -> None:
    assert run(env, "init").exit_code == 0
    second = {**env, "EVAULT_HOME": str(tmp_path / "second"), "EVAULT_DATABASE_URL": second_database_url}
    refused = run(second, "init")
    assert refused.exit_code == 78 and not (tmp_path / "second").exists()
    assert f"`evault init` already made one for this user: {tmp_path / 'home'}" in refused.stderr
    made = run(second, "init", "--new-vault")
    assert made.exit_code == 0 and made.output.strip().splitlines()[-1].startswith("evt_")
    key = "keys/vault-ed25519.pem"
    assert (tmp_path / "second" / key).read_bytes() != (tmp_path / "home" / key).read_bytes()
    recorded = json.loads((Path(os.environ["EVAULT_HOST_CONFIG_DIR"]) / "vault-homes.json").read_text())
    assert [entry["home"] for entry in recorded["vaults"]] == [str(tmp_path / "home"), str(tmp_path / "second")]


def test_a_recorded_vault_whose_key_is_gone_is_not_silently_remade(env: dict[str, str]) -> None:
    run(env, "init")
    home = Path(env["EVAULT_HOME"])
    (home / "keys" / "vault-ed25519.pem").unlink()
    refused = run(env, "init")
    assert refused.exit_code == 78 and "(its signing key is missing)" in refused.stderr
    assert not (home / "keys" / "vault-ed25519.pem").exists()


def test_unreachable_database_is_a_temporary_failure(env: dict[str, str]) -> None:
    run(env, "init")
    broken = {**env, "EVAULT_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"}
    result = run(broken, "verify-log")
    assert result.exit_code == 75 and "database is unreachable" in result.stderr


def test_s3_store_refuses_placeholder_secrets(env: dict[str, str]) -> None:
    bad = {**env, "EVAULT_STORE": "s3", "EVAULT_S3_ACCESS_KEY": "minioadmin", "EVAULT_S3_SECRET_KEY": "minioadmin"}
    result = CliRunner().invoke(root, ["init"], env=bad)
    assert result.exit_code == 78 and "placeholder" in result.stderr
    assert os.environ.get("EVAULT_S3_SECRET_KEY") != "minioadmin"
