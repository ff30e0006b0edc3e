"""The backup drill, on whichever catalog and store the run uses (SQLite + local folder, or PostgreSQL + Ceph RGW):
make a vault, upload footage, back up, upload more, lose the host, restore onto a fresh home and empty database
against the same store, then verify the log, run fixity and upload again. And the refusals: a wrong passphrase, a
truncated or altered file, an unacknowledged gap, a non-empty catalog."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from evault.app import create_app
from evault.backup.archive import unpack_backup, write_backup
from evault.backup.catalog import load_catalog
from evault.migrate import alembic_config
from evault.setup import open_vault
from evault_client.cli import root
from retention.models import RetentionState
from tests.conftest import POSTGRES_URL, S3_ENDPOINT, STORE_KIND, Person, _admin_url, make_s3_store
from tests.ingest.conftest import tus_upload
from tests.media import make_video
from vault.config import Settings, host_login, load_settings
from vault.context import build_context
from vault.custody.merkle import leaf_hash
from vault.custody.models import CustodyAction, CustodyEvent
from vault.custody.service import canonical_entry
from vault.db import utcnow
from vault.evidence.models import Evidence
from vault.identities.actor import SYSTEM
from vault.identities.models import Role, User
from vault.identities.service import HandlerInput, add_handler, create_user, issue_token

PASSPHRASE = "correct horse battery staple 2025"
HOST = f"host:{host_login()}"


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(root, list(args), env=env, input=stdin, catch_exceptions=False)


@dataclass
class Host:
    """One host of the drill: its environment for the `evault` commands."""

    env: dict[str, str]

    @property
    def home(self) -> Path:
        return Path(self.env["EVAULT_HOME"])

    def settings(self) -> Settings:
        overrides = {key.removeprefix("EVAULT_").lower(): value for key, value in self.env.items()}
        return load_settings(**overrides)


def _empty_database(tmp_path: Path, name: str) -> Iterator[str]:
    """Yield the URL of a database holding nothing: a new PostgreSQL database, or a SQLite file not yet made."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / name}.db"
        return
    database = f"evault_r_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_admin_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    yield make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def store_env() -> dict[str, str]:
    """Return the store settings both hosts share: the local folder of the first home, or one RGW bucket."""
    if STORE_KIND != "s3":
        return {}
    if not S3_ENDPOINT:
        pytest.fail("EVAULT_TEST_STORE=s3 needs EVAULT_TEST_S3_ENDPOINT")
    bucket = make_s3_store().bucket  # type: ignore[attr-defined]
    return {"EVAULT_STORE": "s3", "EVAULT_S3_ENDPOINT": S3_ENDPOINT, "EVAULT_S3_BUCKET": bucket,
            "EVAULT_S3_LOCK_MODE": "GOVERNANCE",
            "EVAULT_S3_ACCESS_KEY": os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", "evaultci"),
            "EVAULT_S3_SECRET_KEY": os.environ.get("EVAULT_TEST_S3_SECRET_KEY", "evaultci-secret-key")}


@pytest.fixture
def first(tmp_path: Path, store_env: dict[str, str]) -> Iterator[Host]:
    """Return the first host, initialised, on an empty catalog."""
    for url in _empty_database(tmp_path, "first"):
        host = Host({"EVAULT_HOME": str(tmp_path / "home"), "EVAULT_DATABASE_URL": url, "EVAULT_LOG_JSON": "false",
                     **store_env})
        assert run(host.env, "init").exit_code == 0
        yield host


@pytest.fixture
def second(tmp_path: Path, first: Host) -> Iterator[Host]:
    """Return a fresh host (empty home and catalog) against the same store as the first."""
    for url in _empty_database(tmp_path, "second"):
        env = {**first.env, "EVAULT_HOME": str(tmp_path / "new-home"), "EVAULT_DATABASE_URL": url}
        if STORE_KIND != "s3":  # the local store lives in the home: the new host mounts the same folder
            env["EVAULT_HOME"] = str(tmp_path / "home")
        yield Host(env)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Return four distinct short clips made with ffmpeg."""
    folder = tmp_path_factory.mktemp("clips")
    return [make_video(folder / f"clip{i}.mp4", seconds=1.0, rate=20 + i,
                       creation_time=f"2025-03-30T06:0{i}:00Z") for i in range(4)]


def upload(host: Host, clip: Path, officer: str = "zhang.wei") -> str:
    """Upload one clip through the vault's API as an officer (made on first use); return its SHA-256."""
    context = open_vault(host.settings())
    try:
        with context.sessions() as session:
            user = session.scalars(select(User).where(User.name == officer)).first()
            if user is None:
                add_handler(session=session, actor=SYSTEM, data=HandlerInput(
                    certificate_number="C001", name="张伟", valid_from=date(2023, 1, 1),
                    valid_until=date(2030, 12, 31), unit="阜阳市应急管理局"))
                user = create_user(session=session, actor=SYSTEM, name=officer, role=Role.OFFICER,
                                   handler_certificate="C001")
            token = issue_token(session=session, actor=SYSTEM, user=user)
            session.commit()
        with TestClient(create_app(context), raise_server_exceptions=False) as client:
            response = tus_upload(client, Person(user=user, token=token), clip)
            assert response.status_code in {200, 204}, response.text
    finally:
        context.close()
    return hashlib.sha256(clip.read_bytes()).hexdigest()


def api_verify(host: Host) -> dict[str, object]:
    """Run `audit verify` through the vault's API as an auditor; return the verdict."""
    context = open_vault(host.settings())
    try:
        with context.sessions() as session:
            auditor = create_user(session=session, actor=SYSTEM, name=f"auditor-{uuid.uuid4().hex[:6]}",
                                  role=Role.AUDITOR)
            token = issue_token(session=session, actor=SYSTEM, user=auditor)
            session.commit()
        with TestClient(create_app(context), raise_server_exceptions=False) as client:
            response = client.get("/api/custody/verify", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            verdict: dict[str, object] = response.json()
            return verdict
    finally:
        context.close()


def catalog_shas(host: Host) -> set[str]:
    """Return the SHA-256 of every original the host's catalog names."""
    context = open_vault(host.settings())
    try:
        with context.sessions() as session:
            return set(session.scalars(select(Evidence.sha256)))
    finally:
        context.close()


def backup(host: Host, target: Path, passphrase: str = PASSPHRASE) -> Result:
    """Run `evault backup` with the passphrase on standard input."""
    return run(host.env, "backup", str(target), stdin=passphrase + "\n")


def restore(host: Host, source: Path, *args: str, passphrase: str = PASSPHRASE) -> Result:
    """Run `evault restore` with the passphrase on standard input."""
    return run(host.env, "restore", str(source), *args, stdin=passphrase + "\n")


def nothing_restored(host: Host) -> bool:
    """Return whether a refused restore left the fresh host as it was: no keys, an empty catalog."""
    url = host.env["EVAULT_DATABASE_URL"]
    if url.startswith("sqlite") and not Path(make_url(url).database or "").exists():
        empty = True
    else:
        engine = create_engine(url)
        with engine.connect() as connection:
            empty = not inspect(connection).get_table_names()
        engine.dispose()
    return empty and not (host.home / "keys" / "vault-ed25519.pem").exists()


def lose_host(host: Host) -> None:
    """Delete the host's home but the local store's objects (kept on their own volume), and its catalog."""
    for child in host.home.iterdir():
        if child.name != "objects":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    url = host.env["EVAULT_DATABASE_URL"]
    if url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path((make_url(url).database or "") + suffix).unlink(missing_ok=True)
    else:
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()


def test_the_drill_back_up_lose_the_host_restore_and_carry_on(first: Host, second: Host, clips: list[Path],
                                                              tmp_path: Path) -> None:
    before = {upload(first, clips[0]), upload(first, clips[1])}
    written = backup(first, tmp_path / "vault.evbk")
    assert written.exit_code == 0, written.output
    assert stat.S_IMODE((tmp_path / "vault.evbk").stat().st_mode) == 0o600
    assert PASSPHRASE.encode() not in (tmp_path / "vault.evbk").read_bytes()
    after = upload(first, clips[2])
    lose_host(first)

    refused = restore(second, tmp_path / "vault.evbk")
    assert refused.exit_code == 5, refused.output
    assert "restore_gap_not_acknowledged" in refused.output and "--accept-lost-entries" in refused.output
    assert nothing_restored(second)
    lost = int(refused.output.split("--accept-lost-entries ")[1].split()[0])
    assert lost >= 2  # the backup's own record, and at least the upload after it

    restored = restore(second, tmp_path / "vault.evbk", "--accept-lost-entries", str(lost))
    assert restored.exit_code == 0, restored.output
    assert f"grew by {lost} entries" in restored.output
    assert "1 stored originals are not in the restored catalog" in restored.output
    unknown = [line for line in restored.output.splitlines() if " version " in line]
    assert len(unknown) == 1 and f"{clips[2].stat().st_size} bytes" in unknown[0], restored.output
    if STORE_KIND != "s3":  # the local store names an original by its digest
        assert after in unknown[0]
    keys = second.home / "keys"
    assert {stat.S_IMODE(p.stat().st_mode) for p in keys.iterdir()} == {0o600}
    assert catalog_shas(second) == before

    verified = run(second.env, "verify-log")
    assert verified.exit_code == 0, verified.output
    assert "on the branch lost before the restore" in verified.output
    through_api = api_verify(second)
    assert through_api["ok"] is True and through_api["lost"], through_api
    for _ in before:
        fixity = run(second.env, "run-job", "fixity_audit")
        assert fixity.exit_code == 0 and json.loads(fixity.output)["outcomes"] == {"ok": 1}, fixity.output
    context = open_vault(second.settings())
    try:
        with context.sessions() as session:
            checked = session.scalars(select(Evidence.sha256).join(
                RetentionState, RetentionState.evidence_id == Evidence.id).where(RetentionState.fixity_ok))
            assert set(checked) == before
            restored_event = session.scalars(select(CustodyEvent).where(
                CustodyEvent.action == str(CustodyAction.VAULT_RESTORED))).one()
            assert restored_event.actor_name == HOST and restored_event.details["lost_entries"] == lost
    finally:
        context.close()

    upload(second, clips[3])
    assert catalog_shas(second) == before | {hashlib.sha256(clips[3].read_bytes()).hexdigest()}
    again = run(second.env, "verify-log")
    assert again.exit_code == 0, again.output


def test_a_wrong_passphrase_a_cut_file_and_a_flipped_byte_restore_nothing(first: Host, second: Host,
                                                                          clips: list[Path], tmp_path: Path) -> None:
    upload(first, clips[0])
    source = tmp_path / "vault.evbk"
    assert backup(first, source).exit_code == 0
    lose_host(first)
    data = source.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    damaged = {"cut": data[: len(data) - 100], "cut_at_chunk": data[: 64 + 65536 + 16], "flipped": bytes(flipped),
               "appended": data + b"\0"}
    wrong = restore(second, source, passphrase="not the passphrase at all")
    assert wrong.exit_code == 6 and "backup_unreadable" in wrong.output and "wrong passphrase" in wrong.output
    assert nothing_restored(second)
    for name, content in damaged.items():
        (tmp_path / name).write_bytes(content)
        result = restore(second, tmp_path / name, "--accept-lost-entries", "1")
        assert result.exit_code == 6 and "backup_unreadable" in result.output, (name, result.output)
        assert nothing_restored(second), name
    assert restore(second, source, "--accept-lost-entries", "1").exit_code == 0


def test_restore_refuses_a_catalog_that_is_not_empty_and_a_home_that_holds_a_vault(
        first: Host, tmp_path: Path, clips: list[Path]) -> None:
    source = tmp_path / "vault.evbk"
    assert backup(first, source).exit_code == 0
    over_itself = restore(first, source, "--accept-lost-entries", "1")
    assert over_itself.exit_code == 5 and "already holds a vault" in over_itself.output
    (first.home / "keys" / "vault-ed25519.pem").rename(tmp_path / "kept.pem")
    non_empty = restore(first, source, "--accept-lost-entries", "1")
    assert non_empty.exit_code == 5 and "not empty" in non_empty.output, non_empty.output
    assert not (first.home / "keys" / "vault-ed25519.pem").exists()


def test_backup_reads_the_passphrase_never_from_argv_and_never_overwrites(first: Host, tmp_path: Path) -> None:
    short = backup(first, tmp_path / "a.evbk", passphrase="short")
    assert short.exit_code == 6 and not (tmp_path / "a.evbk").exists()
    phrase = tmp_path / "phrase"
    phrase.write_text(PASSPHRASE + "\n")
    with_file = run(first.env, "backup", str(tmp_path / "b.evbk"), "--passphrase-file", str(phrase))
    assert with_file.exit_code == 0, with_file.output
    again = run(first.env, "backup", str(tmp_path / "b.evbk"), "--passphrase-file", str(phrase))
    assert again.exit_code == 5 and "never overwrites" in again.output
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial file left
    assert [p.name for p in first.home.iterdir() if p.name.startswith(".backup-")] == []  # no plain catalog copy


def test_restore_refuses_another_store(first: Host, tmp_path: Path) -> None:
    source = tmp_path / "vault.evbk"
    assert backup(first, source).exit_code == 0
    for url in _empty_database(tmp_path, "elsewhere"):
        elsewhere = Host({**first.env, "EVAULT_HOME": str(tmp_path / "elsewhere"), "EVAULT_DATABASE_URL": url})
        if STORE_KIND == "s3":
            elsewhere.env["EVAULT_S3_BUCKET"] = make_s3_store().bucket  # type: ignore[attr-defined]
        refused = restore(elsewhere, source, "--accept-lost-entries", "1")
        assert refused.exit_code == 5 and ("same store" in refused.output or "not the store" in refused.output)
        assert nothing_restored(elsewhere)


def test_a_catalog_put_back_by_hand_behind_its_anchors_does_not_start(
        first: Host, second: Host, clips: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "vault.evbk"
    assert backup(first, source).exit_code == 0
    upload(first, clips[0])
    lose_host(first)
    folder = tmp_path / "by-hand"
    folder.mkdir()
    with source.open("rb") as handle:
        unpacked = unpack_backup(handle, passphrase=PASSPHRASE.encode(), folder=folder)
    shutil.copytree(folder / "keys", second.home / "keys")
    catalog = unpacked.manifest["catalog"]
    load_catalog(second.env["EVAULT_DATABASE_URL"], unpacked.part(catalog["part"]), catalog["kind"])
    monkeypatch.setattr("evault.scheduler.run_worker", lambda context: pytest.fail("the worker started"))
    started = run(second.env, "worker")
    assert started.exit_code == 75, started.output
    assert "custody_log_inconsistent" in started.output and "evault restore" in started.output


def test_a_backup_of_an_older_schema_is_migrated_on_restore(first: Host, second: Host, tmp_path: Path) -> None:
    settings = first.settings()
    config = alembic_config(settings.resolved_database_url)
    engine = create_engine(settings.resolved_database_url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0025_records_case_unit-1")
    engine.dispose()
    context = build_context(settings)  # the older catalog as it is: building a context does not migrate
    try:
        older = write_backup(settings, target=tmp_path / "older.evbk", passphrase=PASSPHRASE.encode(),
                             anchors=context.anchors, now=utcnow())
    finally:
        context.close()
    assert "0025_records_case_unit" not in older.manifest["catalog"]["schema_revisions"]
    lose_host(first)
    second.env["EVAULT_TIMEZONE"] = "Asia/Urumqi"
    restored = restore(second, tmp_path / "older.evbk")
    assert restored.exit_code == 0, restored.output
    migrated = next(line for line in restored.output.splitlines() if line.startswith("catalog migrated from"))
    before, after = migrated.removeprefix("catalog migrated from ").split(" to ", 1)
    assert "0024_token_expiry" in before and "0024_token_expiry" not in after, migrated  # brought past the backup's
    assert "check: EVAULT_TIMEZONE was 'Asia/Shanghai', is 'Asia/Urumqi'" in restored.output


def test_a_restore_record_forged_in_the_catalog_does_not_hide_lost_anchors(first: Host) -> None:
    for _ in range(3):
        assert run(first.env, "verify-log").exit_code == 0  # each verdict is logged: more anchored checkpoints
    engine = create_engine(first.env["EVAULT_DATABASE_URL"])
    with Session(engine) as session:
        if engine.dialect.name == "postgresql":
            session.execute(text("ALTER TABLE custody_events DISABLE TRIGGER USER"))
            session.execute(text("ALTER TABLE custody_checkpoints DISABLE TRIGGER USER"))
        else:
            for name in ("custody_events_no_delete", "custody_checkpoints_no_delete"):
                session.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        size = session.scalar(text("SELECT count(*) FROM custody_events"))
        cut = size - 2
        session.execute(text("DELETE FROM custody_events WHERE log_index >= :cut"), {"cut": cut})
        session.execute(text("DELETE FROM custody_checkpoints WHERE tree_size > :cut"), {"cut": cut})
        for index, action, details in (
                (cut, CustodyAction.VAULT_RESTORED, {"lost_checkpoints": [cut + 1, size]}),
                (cut + 1, CustodyAction.VAULT_LOG_ENTRY_LOST, {"lost_index": cut})):
            forged = CustodyEvent(log_index=index, at=utcnow(), actor_id=None, actor_name="host:mallory",
                                  action=str(action), subject_type="vault", subject_id="forged", case_id=None,
                                  details=details)
            forged.leaf_hash = leaf_hash(canonical_entry(forged)).hex()
            session.add(forged)
        session.commit()
    engine.dispose()
    result = run(first.env, "verify-log")
    assert result.exit_code == 1
    assert f"the restore recorded at entry {cut} is not covered by any anchored checkpoint" in result.stderr


def test_a_vault_that_rotated_its_key_restores_with_its_retired_key_and_origin(
        first: Host, second: Host, clips: list[Path], tmp_path: Path) -> None:
    upload(first, clips[0])
    assert run(first.env, "rotate-signing-key", "--yes").exit_code == 0
    upload(first, clips[1])  # signed with the new key, after checkpoints signed with the retired one
    origin = (first.home / "keys" / "log-origin").read_text()
    assert backup(first, tmp_path / "vault.evbk").exit_code == 0
    lose_host(first)
    refused = restore(second, tmp_path / "vault.evbk")
    lost = refused.output.split("--accept-lost-entries ")[1].split()[0]
    restored = restore(second, tmp_path / "vault.evbk", "--accept-lost-entries", lost)
    assert restored.exit_code == 0, restored.output
    assert (second.home / "keys" / "log-origin").read_text() == origin
    assert len(list((second.home / "keys" / "retired-signing-keys").glob("*.pem"))) == 1
    verified = run(second.env, "verify-log")
    assert verified.exit_code == 0 and "custody log OK" in verified.output, verified.output
