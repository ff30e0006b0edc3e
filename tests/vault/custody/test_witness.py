"""Two vaults over real HTTP: vault B witnesses vault A's custody log (c2sp.org/tlog-witness, issue 12)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Person, fresh_database_url, serve_app
from vault.config import Settings
from vault.context import VaultContext, build_context
from vault.custody.merkle import consistency_proof, root_from_leaves
from vault.custody.models import CustodyAction, CustodyEvent
from vault.custody.note import CheckpointText, NoteKey, SignedNote, signed_checkpoint
from vault.custody.verification import verify_log
from vault.custody.witness import Witness, WitnessConfigError, WitnessRefused, parse_witnesses, submit_checkpoint
from vault.custody.witness_models import WitnessedLog
from vault.identities.models import Role
from vault.keys import Signer, create_keys
from vault.storage.local import LocalBlobStore

ORIGIN = "vault-a.example/custody"
WITNESS_NAME = "vault-b.example/witness"


@pytest.fixture
def witness_database_url(template_database: str, tmp_path: Path) -> Iterator[str]:
    """Return a second fresh catalog: vault B's."""
    yield from fresh_database_url(template_database, tmp_path, "vault-b.db")


def log_key(context: VaultContext) -> NoteKey:
    """Return vault A's checkpoint-signing key as a signed-note verifier key named by its origin."""
    return NoteKey(name=ORIGIN, public_raw=context.signer.public_raw)


@pytest.fixture
def vault_b(tmp_path: Path, witness_database_url: str, context: VaultContext) -> Iterator[VaultContext]:
    """Return vault B: its own home, keys and catalog, witnessing vault A's log."""
    settings = Settings(home=tmp_path / "vault-b", database_url=witness_database_url, log_json=False,
                        witness_name=WITNESS_NAME, witness_trusted_logs=[log_key(context).vkey()])
    create_keys(settings.keys_dir)
    made = build_context(settings, store=LocalBlobStore(settings.objects_dir))
    yield made
    made.close()


@pytest.fixture
def vault_b_url(vault_b: VaultContext) -> Iterator[str]:
    """Return vault B's base URL."""
    yield from serve_app(vault_b)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """Return the HTTP client vault A's job hands in."""
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def witness(vault_b_url: str, http: httpx.Client) -> Witness:
    """Pair the vaults as an operator would: read B's vkey over HTTP, configure it in A's EVAULT_WITNESSES form."""
    vkey = http.get(f"{vault_b_url}/api/witness/vkey").json()["vkey"]
    return Witness.parse(f"{vkey} {vault_b_url}/api/witness/")


@dataclass
class LogA:
    """Vault A's custody log as its anchoring job sees it: leaves, signed checkpoints, consistency proofs."""

    context: VaultContext
    grow: Callable[[int], None]

    def leaves(self) -> list[bytes]:
        """Return every leaf hash of A's log."""
        with self.context.sessions() as session:
            rows = session.scalars(select(CustodyEvent.leaf_hash).order_by(CustodyEvent.log_index))
            return [bytes.fromhex(leaf) for leaf in rows]

    def checkpoint(self, size: int, *, signer: Signer | None = None, origin: str = ORIGIN) -> SignedNote:
        """Return A's signed checkpoint of the first size leaves."""
        body = CheckpointText(origin, size, root_from_leaves(self.leaves()[:size]))
        return signed_checkpoint(body, signer=signer or self.context.signer)

    def proof(self, old: int, new: int) -> list[bytes]:
        """Return the consistency proof from size old to size new."""
        return consistency_proof(self.leaves(), old, new)


@pytest.fixture
def log_a(context: VaultContext, make_person: Callable[..., Person]) -> LogA:
    """Return vault A's log with real custody events in it (users created, each one logged)."""

    def grow(people: int) -> None:
        for _ in range(people):
            make_person(Role.REVIEWER)

    grow(3)
    return LogA(context=context, grow=grow)


def events(context: VaultContext, action: CustodyAction) -> list[CustodyEvent]:
    """Return a vault's custody events of one action."""
    with context.sessions() as session:
        return list(session.scalars(select(CustodyEvent).where(CustodyEvent.action == action.value)))


def cosigned(note: SignedNote, reply_lines: tuple[object, ...], vkey: str) -> bool:
    """Return True when the witness's lines verify on the checkpoint with the key the witness published."""
    key = NoteKey.from_vkey(vkey)
    return SignedNote(note.text, tuple(reply_lines)).verified_by(key) is not None  # type: ignore[arg-type]


def test_b_cosigns_a_first_from_zero_then_with_a_real_consistency_proof(
    log_a: LogA, witness: Witness, http: httpx.Client, vault_b: VaultContext
) -> None:
    # Issue 12: checkpoints go to the configured witness, who countersigns them (tlog-witness add-checkpoint).
    first_size = len(log_a.leaves())
    first = log_a.checkpoint(first_size)
    reply = submit_checkpoint(witness, note=first, old_size=0, proof=[], client=http)
    assert reply.cosigned and reply.conflict_size is None
    assert cosigned(first, reply.cosignatures, witness.key.vkey())

    log_a.grow(4)
    size = len(log_a.leaves())
    second = log_a.checkpoint(size)
    reply = submit_checkpoint(witness, note=second, old_size=first_size, proof=log_a.proof(first_size, size),
                              client=http)
    assert cosigned(second, reply.cosignatures, witness.key.vkey())
    assert not cosigned(first, reply.cosignatures, witness.key.vkey())  # a cosignature covers its checkpoint only

    # Each cosigned checkpoint is in B's own custody log, which still verifies.
    recorded = events(vault_b, CustodyAction.WITNESS_COSIGNED)
    assert [(e.subject_id, e.details["tree_size"], e.details["old_size"]) for e in recorded] == [
        (ORIGIN, first_size, 0), (ORIGIN, size, first_size)]
    with vault_b.sessions() as session:
        assert verify_log(session=session, public_key_raw=vault_b.signer.public_raw).ok
        held = session.get(WitnessedLog, ORIGIN)
        assert held is not None and held.tree_size == size
        assert SignedNote.parse(held.checkpoint).verified_by(witness.key) is not None


@pytest.fixture
def held(log_a: LogA, witness: Witness, http: httpx.Client) -> int:
    """Have B cosign A's current checkpoint; return its size."""
    size = len(log_a.leaves())
    submit_checkpoint(witness, note=log_a.checkpoint(size), old_size=0, proof=[], client=http)
    log_a.grow(2)
    return size


def test_a_wrong_consistency_proof_gets_422_and_is_kept_as_evidence(
    log_a: LogA, witness: Witness, http: httpx.Client, held: int, vault_b: VaultContext
) -> None:
    # tlog-witness: a proof that does not verify is a 422; the signed submission may be proof of misbehaviour.
    size = len(log_a.leaves())
    proof = log_a.proof(held, size)
    proof[0] = bytes(32)
    with pytest.raises(WitnessRefused, match="rejected the consistency proof") as refused:
        submit_checkpoint(witness, note=log_a.checkpoint(size), old_size=held, proof=proof, client=http)
    assert refused.value.http_status == 422
    [evidence] = events(vault_b, CustodyAction.WITNESS_REFUSED)
    assert evidence.details["tree_size"] == size and evidence.details["held_size"] == held
    assert evidence.details["checkpoint"] == log_a.checkpoint(size).encode()
    with vault_b.sessions() as session:
        assert session.get(WitnessedLog, ORIGIN).tree_size == held  # type: ignore[union-attr]


def test_a_stale_old_size_gets_409_with_the_size_and_the_caller_retries_from_it(
    log_a: LogA, witness: Witness, http: httpx.Client, held: int
) -> None:
    size = len(log_a.leaves())
    stale = submit_checkpoint(witness, note=log_a.checkpoint(size), old_size=0, proof=[], client=http)
    assert stale.conflict_size == held and not stale.cosigned
    # The caller (the anchoring job) proves consistency from the size the witness reported, and submits again.
    again = submit_checkpoint(witness, note=log_a.checkpoint(size), old_size=stale.conflict_size,
                              proof=log_a.proof(held, size), client=http)
    assert again.cosigned


def test_the_409_body_and_media_type_are_the_protocols(
    log_a: LogA, vault_b_url: str, http: httpx.Client, held: int
) -> None:
    body = "old 0\n\n" + log_a.checkpoint(held + 1).encode()
    response = http.post(f"{vault_b_url}/api/witness/add-checkpoint", content=body)
    assert response.status_code == 409
    assert response.headers["content-type"] == "text/x.tlog.size" and response.text == f"{held}\n"


def test_an_unknown_origin_gets_404(log_a: LogA, witness: Witness, http: httpx.Client) -> None:
    other = log_a.checkpoint(len(log_a.leaves()), origin="vault-c.example/custody")
    with pytest.raises(WitnessRefused, match="does not know this log") as refused:
        submit_checkpoint(witness, note=other, old_size=0, proof=[], client=http)
    assert refused.value.http_status == 404


def test_a_checkpoint_not_signed_by_the_trusted_key_gets_403(
    log_a: LogA, witness: Witness, http: httpx.Client, vault_b: VaultContext
) -> None:
    forged = log_a.checkpoint(len(log_a.leaves()), signer=Signer(Ed25519PrivateKey.generate()))
    with pytest.raises(WitnessRefused, match="does not trust the log's signature") as refused:
        submit_checkpoint(witness, note=forged, old_size=0, proof=[], client=http)
    assert refused.value.http_status == 403
    assert events(vault_b, CustodyAction.WITNESS_REFUSED) == []  # anyone can send junk: only signed ones are evidence


def test_a_rollback_to_a_smaller_tree_is_refused(log_a: LogA, witness: Witness, http: httpx.Client) -> None:
    log_a.grow(2)
    size = len(log_a.leaves())
    first = submit_checkpoint(witness, note=log_a.checkpoint(size), old_size=0, proof=[], client=http)
    assert first.cosigned
    smaller = log_a.checkpoint(size - 2)
    with pytest.raises(WitnessRefused) as refused:  # old size above the checkpoint's: 400
        submit_checkpoint(witness, note=smaller, old_size=size, proof=[], client=http)
    assert refused.value.http_status == 400
    behind = submit_checkpoint(witness, note=smaller, old_size=size - 2, proof=[], client=http)
    assert behind.conflict_size == size and not behind.cosigned


def test_the_same_size_with_another_root_is_a_409_kept_as_evidence(
    log_a: LogA, witness: Witness, http: httpx.Client, held: int, vault_b: VaultContext
) -> None:
    fork = signed_checkpoint(CheckpointText(ORIGIN, held, bytes(32)), signer=log_a.context.signer)
    with pytest.raises(WitnessRefused, match=f"another root hash at size {held}: the log forked") as refused:
        submit_checkpoint(witness, note=fork, old_size=held, proof=[], client=http)  # no retry loop for the caller
    assert refused.value.http_status == 409
    assert [e.details["tree_size"] for e in events(vault_b, CustodyAction.WITNESS_REFUSED)] == [held]
    # The very checkpoint it cosigned is cosigned again (a fresh timestamp), not refused.
    assert submit_checkpoint(witness, note=log_a.checkpoint(held), old_size=held, proof=[], client=http).cosigned


def test_concurrent_submissions_cosign_once_and_never_roll_back(
    log_a: LogA, witness: Witness, http: httpx.Client, vault_b: VaultContext
) -> None:
    # tlog-witness: checking the old size and storing the new checkpoint are one atomic step.
    size = len(log_a.leaves())
    note = log_a.checkpoint(size)
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda _: submit_checkpoint(witness, note=note, old_size=0, proof=[], client=http),
                                range(4)))
    assert sorted(r.cosigned for r in replies) == [False, False, False, True]
    assert {r.conflict_size for r in replies if not r.cosigned} == {size}
    assert len(events(vault_b, CustodyAction.WITNESS_COSIGNED)) == 1


def test_a_witness_answering_with_another_key_is_not_trusted(
    log_a: LogA, witness: Witness, http: httpx.Client
) -> None:
    # Cosignatures are verified with the witness's configured key; lines of unknown keys are ignored.
    impostor_key = NoteKey(name=witness.name, public_raw=Signer(Ed25519PrivateKey.generate()).public_raw,
                           kind=witness.key.kind)
    impostor = Witness(name=witness.name, key=impostor_key, url=witness.url)
    with pytest.raises(WitnessRefused, match="without a valid cosignature"):
        submit_checkpoint(impostor, note=log_a.checkpoint(len(log_a.leaves())), old_size=0, proof=[], client=http)


def test_a_witness_that_is_down_is_a_clear_error(log_a: LogA, http: httpx.Client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = Witness.parse(f"{NoteKey(WITNESS_NAME, bytes(32), kind=4).vkey()} http://127.0.0.1:{port}/api/witness")
    with pytest.raises(WitnessRefused, match="unreachable"):
        submit_checkpoint(down, note=log_a.checkpoint(1), old_size=0, proof=[], client=http)


@pytest.mark.parametrize("body", [b"", b"old 01\n\n", b"old x\n\nnot a note\n", b"old 0\n\xff\xfe\n\n",
                                  b"old 0\nAAAA\n\n" + ORIGIN.encode() + b"\n1\n" + b"A" * 44 + b"\n\n"])
def test_malformed_submissions_get_400(vault_b_url: str, http: httpx.Client, body: bytes) -> None:
    response = http.post(f"{vault_b_url}/api/witness/add-checkpoint", content=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_submission"


def test_witnessing_is_off_without_a_name(client: TestClient) -> None:
    # Vault A has no EVAULT_WITNESS_NAME: both witness endpoints answer 404, without a session either way.
    assert client.get("/api/witness/vkey").status_code == 404
    response = client.post("/api/witness/add-checkpoint", content=b"old 0\n\n")
    assert response.status_code == 404 and response.json()["error"]["code"] == "witness_off"


def test_witness_settings_parse_and_bad_ones_refuse_to_load(monkeypatch: pytest.MonkeyPatch) -> None:
    key = NoteKey(WITNESS_NAME, bytes(range(32)), kind=4)
    monkeypatch.setenv("EVAULT_WITNESSES", f'["{key.vkey()} https://vault-b.example/api/witness/"]')
    [parsed] = parse_witnesses(Settings().witnesses)
    assert (parsed.name, parsed.key, parsed.url) == (WITNESS_NAME, key, "https://vault-b.example/api/witness")
    log_vkey = NoteKey(ORIGIN, bytes(range(32))).vkey()
    for bad in ([f"{key.vkey()}"], [f"{log_vkey} https://vault-b.example"], [f"{key.vkey()} ftp://x"]):
        with pytest.raises(WitnessConfigError):
            parse_witnesses(bad)
    with pytest.raises(ValueError, match="cosignature/v1"):
        Settings(witnesses=[f"{log_vkey} https://vault-b.example"])
    with pytest.raises(ValueError, match="Ed25519 note key"):
        Settings(witness_trusted_logs=[key.vkey()])
    with pytest.raises(ValueError, match="witness name"):
        Settings(witness_name="has space")
