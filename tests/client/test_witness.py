"""`evault witness vkey` and `log-vkey` for pairing two vaults, and `verify-timestamp` offline (issue 12)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.client.conftest import Shell
from tests.conftest import Person
from tests.tsa import LocalTSA, running_tsa
from vault.context import VaultContext
from vault.custody.note import COSIGNATURE_V1, CheckpointText, NoteKey, signed_checkpoint
from vault.identities.models import Role
from vault.timestamping import request_timestamp


@pytest.fixture
def shell(shell_for: Callable[..., Shell], make_person: Callable[..., Person]) -> Shell:
    return shell_for(make_person(Role.ADMIN))


def test_vkey_prints_the_cosignature_key_the_api_serves(shell: Shell, context: VaultContext) -> None:
    # Pairing (docs/witnesses.md): the witness's operator hands this line to the log's operator.
    context.settings.witness_name = "vault-b.example/witness"
    printed = shell.ok("witness", "vkey").stdout.strip()
    key = NoteKey.from_vkey(printed)
    assert (key.name, key.kind) == ("vault-b.example/witness", COSIGNATURE_V1)
    assert key.public_raw == context.signer.public_raw
    assert shell.json("witness", "vkey") == {"name": key.name, "vkey": printed}


def test_log_vkey_is_the_key_checkpoints_verify_with(shell: Shell, context: VaultContext) -> None:
    printed = shell.ok("witness", "log-vkey", "--origin", "vault-a.example/custody").stdout.strip()
    note = signed_checkpoint(CheckpointText("vault-a.example/custody", 3, bytes(32)), signer=context.signer)
    assert note.verified_by(NoteKey.from_vkey(printed)) is not None
    assert shell("witness", "log-vkey", "--origin", "has space").exit_code == 2
    # Without --origin it is the key of the vault's own checkpoints, as /api/custody/public-key serves it.
    assert shell.ok("witness", "log-vkey").stdout.strip() == context.anchors.key.vkey()
    assert shell.json("witness", "log-vkey")["origin"] == context.anchors.origin


def test_vkey_without_a_witness_name_says_witnessing_is_off(shell: Shell) -> None:
    result = shell("witness", "vkey")
    assert result.exit_code == 4 and "EVAULT_WITNESS_NAME" in result.stderr


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[LocalTSA]:
    """Serve a throwaway OpenSSL TSA on a free local port."""
    with running_tsa(tmp_path / "tsa") as local:
        yield local


def test_verify_timestamp_checks_a_stamped_note_offline(
    context: VaultContext, tsa: LocalTSA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The RFC 3161 stamp on a checkpoint can be checked with no server, no sign-in and no vault.
    note = signed_checkpoint(CheckpointText("vault-a.example/custody", 7, bytes(32)), signer=context.signer).encode()
    (tmp_path / "checkpoint.txt").write_text(note)
    with httpx.Client(timeout=10) as http:
        stamp = request_timestamp(url=tsa.url, data=note.encode(), ca_pem=tsa.ca.read_bytes(), client=http)
    (tmp_path / "checkpoint.tst").write_bytes(stamp.token)
    offline = Shell(env={"EVAULT_CLIENT_DIR": str(tmp_path / "client"), "EVAULT_LANG": "en", "EVAULT_KEYRING": "0",
                         "EVAULT_SERVER": "", "EVAULT_TOKEN": "", "EVAULT_TIMEZONE": "Asia/Shanghai"})
    args = ("witness", "verify-timestamp", str(tmp_path / "checkpoint.tst"), str(tmp_path / "checkpoint.txt"),
            "--tsa-ca", str(tsa.ca))
    ok = offline.ok(*args).stdout
    shown = stamp.gen_time.astimezone(context.settings.zone).strftime("%Y-%m-%d %H:%M:%S")
    assert f"existed at {shown}" in ok and "(TSA: CN=Test TSA)" in ok
    assert offline.json(*args)["tsa"] == "CN=Test TSA"
    (tmp_path / "checkpoint.txt").write_text(note.replace("\n7\n", "\n8\n"))
    bad = offline(*args)
    assert bad.exit_code == 1 and "INVALID" in bad.stderr
    (tmp_path / "junk.tst").write_bytes(b"junk")
    junk = offline("witness", "verify-timestamp", str(tmp_path / "junk.tst"), str(tmp_path / "checkpoint.txt"),
                   "--tsa-ca", str(tsa.ca))
    assert junk.exit_code == 1 and "cannot be read" in junk.stderr

    monkeypatch.setitem(sys.modules, "rfc3161_client", None)  # the `timestamps` extra is not installed
    missing = offline(*args)
    assert missing.exit_code == 78 and "evidence-vault-client[timestamps]" in missing.stderr
