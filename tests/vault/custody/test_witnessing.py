"""The minute job sends anchored checkpoints to witnesses and, daily, to a TSA, and anchors what comes back.

Issue 12: "Also send checkpoints to any configured witnesses ... another vault, and an RFC 3161 time-stamp on a
checkpoint at least daily when a TSA is configured."
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import serve_app
from tests.tsa import running_tsa
from tests.vault.custody.test_service import _append
from tests.vault.custody.test_witness import witness_database_url  # noqa: F401 - the fixture is used below
from vault.config import Settings
from vault.context import VaultContext, build_context
from vault.custody.anchoring import anchor_name
from vault.custody.jobs import anchor_checkpoints
from vault.custody.note import COSIGNATURE_V1, NoteKey, SignedNote
from vault.custody.witness import Witness
from vault.custody.witnessing import TIMESTAMP_PREFIX, witnessed_name
from vault.keys import create_keys
from vault.storage.local import LocalBlobStore
from vault.timestamping import verify_timestamp

WITNESS_NAME = "vault-b.example/witness"


@contextmanager
def configured(context: VaultContext, **changes: object) -> Iterator[VaultContext]:
    """Open the same vault with some settings changed, as an operator restarting it would."""
    made = build_context(context.settings.model_copy(update=changes), store=context.store)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def witness_vault(tmp_path: Path, witness_database_url: str, context: VaultContext) -> Iterator[str]:  # noqa: F811
    """Serve vault B, configured to witness this vault's log (trusting its published vkey); yield its URL."""
    settings = Settings(home=tmp_path / "vault-b", database_url=witness_database_url, log_json=False,
                        witness_name=WITNESS_NAME, witness_trusted_logs=[context.anchors.key.vkey()])
    create_keys(settings.keys_dir)
    vault_b = build_context(settings, store=LocalBlobStore(settings.objects_dir))
    try:
        yield from serve_app(vault_b)
    finally:
        vault_b.close()


def test_another_vault_cosigns_each_new_checkpoint_with_a_consistency_proof(
        context: VaultContext, witness_vault: str) -> None:
    vkey = httpx.get(f"{witness_vault}/api/witness/vkey", timeout=10).json()["vkey"]
    entry = f"{vkey} {witness_vault}/api/witness/"
    witness = Witness.parse(entry)
    with configured(context, witnesses=[entry]) as vault_a:
        _append(vault_a, 3)
        first = anchor_checkpoints(vault_a)
        _append(vault_a, 2)
        second = anchor_checkpoints(vault_a)  # from size 3 to 5: the witness checks the consistency proof
        again = anchor_checkpoints(vault_a)
    assert first["witnesses"][WITNESS_NAME].startswith("cosigned size 3")
    assert second["witnesses"][WITNESS_NAME].startswith("cosigned size 5")
    assert again["witnesses"][WITNESS_NAME] == "already cosigned size 5"
    stored = next(context.store.list_anchors(witnessed_name(witness, 5)))
    cosigned = SignedNote.parse(stored.data.decode())
    witness_key = NoteKey.from_vkey(vkey)
    assert witness_key.kind == COSIGNATURE_V1 and cosigned.verified_by(witness_key) is not None
    assert cosigned.verified_by(context.anchors.key) is not None  # still the vault's own checkpoint
    assert cosigned.text == next(context.store.list_anchors(anchor_name(5))).data.decode().split("\n\n")[0] + "\n"


def test_a_witness_that_is_down_does_not_stop_anchoring(context: VaultContext) -> None:
    vkey = NoteKey(name=WITNESS_NAME, public_raw=bytes(32), kind=COSIGNATURE_V1).vkey()
    with configured(context, witnesses=[f"{vkey} http://127.0.0.1:9/api/witness/"]) as vault_a:
        _append(vault_a, 2)
        summary = anchor_checkpoints(vault_a)
    assert summary["anchored_tree_size"] == 2
    assert summary["witnesses"][WITNESS_NAME].startswith("failed: ")


def test_a_checkpoint_is_time_stamped_once_a_day_and_the_token_is_anchored(
        context: VaultContext, tmp_path: Path) -> None:
    with running_tsa(tmp_path / "tsa") as tsa, \
            configured(context, tsa_url=tsa.url, tsa_certificates_file=tsa.ca) as vault_a:
        _append(vault_a, 4)
        first = anchor_checkpoints(vault_a)
        _append(vault_a, 1)
        later = anchor_checkpoints(vault_a)
    assert first["timestamp"].startswith("size 4 time-stamped at")
    assert "timestamp" not in later  # at least daily, not every minute
    [token] = list(context.store.list_anchors(TIMESTAMP_PREFIX))
    assert token.name.endswith("-4")
    note = next(context.store.list_anchors(anchor_name(4))).data
    stamped_at = verify_timestamp(token.data, data=note, ca_pem=tsa.ca.read_bytes()).gen_time
    assert stamped_at.tzinfo is not None
