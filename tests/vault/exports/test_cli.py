"""`evault export` writes a bundle file and `evault verify-bundle` checks it; errors are one line, exit 2."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner, Result

from evault.cli import main
from evault_client.cli import root as client_root
from tests.conftest import STORE_KIND
from tests.vault.exports.conftest import CASE_NUMBER, World, approve
from vault.access.models import AccessPurpose
from vault.context import VaultContext
from vault.db import utcnow
from vault.exports.cli import parse_record_ids
from vault.storage.base import BlobStore

OFFLINE = {"EVAULT_TIMEZONE": "Asia/Shanghai"}  # the client verifies offline: no server, no sign-in


def _env(context: VaultContext, store: BlobStore) -> dict[str, str]:
    env = {
        "EVAULT_HOME": str(context.settings.home),
        "EVAULT_DATABASE_URL": context.settings.resolved_database_url,
        "EVAULT_LOG_JSON": "false",
        "EVAULT_AGENCY_NAME": context.settings.agency_name,
    }
    if STORE_KIND == "s3":
        bucket: str = store.bucket  # type: ignore[attr-defined]
        env |= {
            "EVAULT_STORE": "s3",
            "EVAULT_S3_ENDPOINT": os.environ["EVAULT_TEST_S3_ENDPOINT"],
            "EVAULT_S3_ACCESS_KEY": os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", "evaultci"),
            "EVAULT_S3_SECRET_KEY": os.environ.get("EVAULT_TEST_S3_SECRET_KEY", "evaultci-secret-key"),
            "EVAULT_S3_BUCKET": bucket,
            "EVAULT_S3_LOCK_MODE": "GOVERNANCE",
        }
    return env


def _export(env: dict[str, str], world: World, out: Path, *extra: str) -> Result:
    args = [
        "--as",
        world.manager.user.name,
        "export",
        CASE_NUMBER,
        "--purpose",
        "court",
        "--recipient",
        "阜阳市中级人民法院",
        "--out",
        str(out),
        *extra,
    ]
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def test_export_then_verify_bundle(context: VaultContext, store: BlobStore, world: World, tmp_path: Path) -> None:
    env = _env(context, store)
    approve(context, world, world.records, utcnow())
    out = tmp_path / "court.zip"
    made = _export(env, world, out, "--records", f"{world.records[0]},{world.records[1]}")
    assert made.exit_code == 0, made.output
    assert "2 record(s)" in made.output and "bundle SHA-256" in made.output
    assert not out.with_name("court.zip.partial").exists()
    checked = CliRunner().invoke(client_root, ["verify-bundle", str(out)], env=OFFLINE)
    assert checked.exit_code == 0 and "VERDICT: VALID" in checked.output
    again = _export(env, world, out)
    assert again.exit_code == 1 and "already exists" in again.output


def test_export_without_approval_is_one_line_and_leaves_no_file(
    context: VaultContext, store: BlobStore, world: World, tmp_path: Path
) -> None:
    out = tmp_path / "court.zip"
    refused = _export(_env(context, store), world, out)
    assert refused.exit_code == 2
    assert refused.output.startswith("error (permission_denied): ") and not out.exists()


def test_record_ids_accept_commas_and_spaces(world: World) -> None:
    ids = parse_record_ids((f"{world.records[0]}, {world.records[1]}", str(world.secret)))
    assert ids == [*world.records, world.secret]


def test_party_copy_from_the_command_line_names_what_it_withheld(
    context: VaultContext, store: BlobStore, world: World, tmp_path: Path
) -> None:
    # Confidential records may not be copied (`000` 第九条); the CLI says which were left out, and names refusals.
    env = _env(context, store)
    now = utcnow()
    approve(context, world, world.records, now)  # a court grant alone does not make a party copy
    out = tmp_path / "party.zip"
    refused = _export(env, world, out, "--purpose", "party-copy")
    assert refused.exit_code == 2 and all(str(i) in refused.output for i in world.records) and not out.exists()
    approve(context, world, world.records, now, purpose=AccessPurpose.PARTY_COPY)
    made = _export(env, world, out, "--purpose", "party-copy")
    assert made.exit_code == 0, made.output
    assert f"withheld from this party copy (000 第九条): 1: {world.secret}" in made.output
    secret = _export(env, world, tmp_path / "secret.zip", "--purpose", "party-copy", "--records", str(world.secret))
    assert secret.exit_code == 2 and "confidential_record" in secret.output and str(world.secret) in secret.output
