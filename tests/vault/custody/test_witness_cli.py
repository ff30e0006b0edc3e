"""`evault witness vkey` for pairing two vaults, and `evault witness verify-timestamp` offline (issue 12)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from evault.app import create_app
from evault.cli import main
from tests.tsa import LocalTSA, running_tsa
from vault.config import Settings
from vault.context import VaultContext
from vault.custody.note import COSIGNATURE_V1, CheckpointText, NoteKey, signed_checkpoint
from vault.timestamping import request_timestamp


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """Return the environment of the test vault (home with keys, its catalog)."""
    return {"EVAULT_HOME": str(settings.home), "EVAULT_DATABASE_URL": settings.resolved_database_url,
            "EVAULT_LOG_JSON": "false"}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_vkey_prints_the_cosignature_key_the_api_serves(env: dict[str, str], context: VaultContext) -> None:
    # Pairing (docs/witnesses.md): the witness's operator hands this line to the log's operator.
    result = run({**env, "EVAULT_WITNESS_NAME": "vault-b.example/witness"}, "witness", "vkey")
    assert result.exit_code == 0, result.output
    key = NoteKey.from_vkey(result.output.strip())
    assert (key.name, key.kind) == ("vault-b.example/witness", COSIGNATURE_V1)
    assert key.public_raw == context.signer.public_raw
    context.settings.witness_name = "vault-b.example/witness"
    with TestClient(create_app(context)) as api:
        assert api.get("/api/witness/vkey").json() == {"name": key.name, "vkey": result.output.strip()}


def test_log_vkey_is_the_key_checkpoints_verify_with(env: dict[str, str], context: VaultContext) -> None:
    result = run(env, "witness", "log-vkey", "--origin", "vault-a.example/custody")
    assert result.exit_code == 0, result.output
    note = signed_checkpoint(CheckpointText("vault-a.example/custody", 3, bytes(32)), signer=context.signer)
    assert note.verified_by(NoteKey.from_vkey(result.output.strip())) is not None
    assert run(env, "witness", "log-vkey", "--origin", "has space").exit_code == 2
    # Without --origin it is the key of the vault's own checkpoints, as /api/custody/public-key serves it.
    assert run(env, "witness", "log-vkey").output.strip() == context.anchors.key.vkey()


def test_vkey_without_a_witness_name_says_witnessing_is_off(env: dict[str, str]) -> None:
    result = run(env, "witness", "vkey")
    assert result.exit_code == 2 and "EVAULT_WITNESS_NAME" in result.output


def test_a_bad_witness_setting_is_a_one_line_configuration_error(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["witness", "vkey"], env={**env, "EVAULT_WITNESSES": '["nonsense"]'})
    assert result.exit_code != 0 and "configuration error" in result.output and "Traceback" not in result.output


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[LocalTSA]:
    """Serve a throwaway OpenSSL TSA on a free local port."""
    with running_tsa(tmp_path / "tsa") as local:
        yield local


def test_verify_timestamp_checks_a_stamped_note_offline(
    env: dict[str, str], context: VaultContext, tsa: LocalTSA, tmp_path: Path
) -> None:
    # Issue 12: the RFC 3161 stamp on a checkpoint can be checked with no server and no database.
    note = signed_checkpoint(CheckpointText("vault-a.example/custody", 7, bytes(32)), signer=context.signer).encode()
    (tmp_path / "checkpoint.txt").write_text(note)
    with httpx.Client(timeout=10) as http:
        stamp = request_timestamp(url=tsa.url, data=note.encode(), ca_pem=tsa.ca.read_bytes(), client=http)
    (tmp_path / "checkpoint.tst").write_bytes(stamp.token)
    offline = {"EVAULT_HOME": str(tmp_path / "nowhere")}
    args = ("witness", "verify-timestamp", str(tmp_path / "checkpoint.tst"), str(tmp_path / "checkpoint.txt"),
            "--tsa-ca", str(tsa.ca))
    ok = run(offline, *args)
    assert ok.exit_code == 0 and f"existed at {stamp.gen_time.isoformat()}" in ok.output
    assert "(TSA: CN=Test TSA)" in ok.output
    (tmp_path / "checkpoint.txt").write_text(note.replace("\n7\n", "\n8\n"))
    bad = run(offline, *args)
    assert bad.exit_code == 1 and "INVALID" in bad.output
