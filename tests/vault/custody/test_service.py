"""The custody log: appended with the change it records, signed, provable, and tamper-evident."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.conftest import Person
from vault.cases.models import CaseType
from vault.cases.service import add_case
from vault.context import VaultContext
from vault.custody.merkle import leaf_hash, verify_consistency, verify_inclusion
from vault.custody.models import Checkpoint, CustodyAction, CustodyEvent
from vault.custody.note import CheckpointText, SignedNote
from vault.custody.service import (
    canonical_entry,
    inclusion_bundle,
    latest_checkpoint,
    prove_consistency,
    record_event,
)
from vault.custody.verification import verify_log
from vault.errors import PermissionDenied
from vault.identities.actor import SYSTEM
from vault.identities.models import Role
from vault.keys import verify_signature


def _append(context: VaultContext, count: int) -> None:
    with context.sessions() as session:
        for i in range(count):
            record_event(session=session, actor=SYSTEM, action=CustodyAction.POLICY_CHANGED, subject_type="policy",
                         subject_id=f"p{i}", details={"i": i, "note": "保存期限 调整"})
        session.commit()


def _disable_guards(session: Session) -> None:
    """Switch off the append-only triggers, as an attacker with database access could."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(text("ALTER TABLE custody_events DISABLE TRIGGER USER"))
        session.execute(text("ALTER TABLE custody_checkpoints DISABLE TRIGGER USER"))
    else:
        for name in ("custody_events_no_update", "custody_events_no_delete",
                     "custody_checkpoints_no_update", "custody_checkpoints_no_delete"):
            session.execute(text(f"DROP TRIGGER IF EXISTS {name}"))


def test_event_commits_with_the_change_and_a_signed_checkpoint(context: VaultContext,
                                                               make_person: Callable[..., Person]) -> None:
    manager = make_person(Role.RECORDS_MANAGER)
    with context.sessions() as session:
        case = add_case(session=session, actor=manager.actor, case_number="阜应急罚字〔2023〕40号",
                        case_type=CaseType.GENERAL_PROCEDURE_PENALTY)
        session.commit()
        event = session.scalars(select(CustodyEvent).where(CustodyEvent.case_id == case.id)).one()
        assert event.action == "case:created"
        assert event.details["case_number"] == "阜应急罚字〔2023〕40号"
        checkpoint = latest_checkpoint(session)
        assert checkpoint is not None and checkpoint.tree_size == event.log_index + 1
        # The checkpoint is a C2SP tlog-checkpoint signed note, verifiable with the vault's key under its origin.
        assert checkpoint.note is not None
        note = SignedNote.parse(checkpoint.note)
        body = CheckpointText.parse(note.text)
        assert (body.tree_size, body.root.hex()) == (checkpoint.tree_size, checkpoint.root_hash)
        assert note.verified_by(context.anchors.key) is not None
        assert verify_signature(context.signer.public_raw, base64.b64decode(checkpoint.signature), note.text.encode())


def test_a_failed_change_leaves_no_event(context: VaultContext, make_person: Callable[..., Person]) -> None:
    officer = make_person(Role.OFFICER)
    with context.sessions() as session:
        before = session.scalar(select(func.count()).select_from(CustodyEvent))
        with pytest.raises(PermissionDenied):
            add_case(session=session, actor=officer.actor, case_number="X-1", case_type=CaseType.LICENSING)
        session.rollback()
        assert session.scalar(select(func.count()).select_from(CustodyEvent)) == before


def test_inclusion_proof_verifies_against_the_signed_root(context: VaultContext) -> None:
    _append(context, 13)
    with context.sessions() as session:
        bundle = inclusion_bundle(session=session, log_index=5)
        entry = session.get(CustodyEvent, 5)
        assert entry is not None
        assert verify_inclusion(leaf_hash=leaf_hash(canonical_entry(entry)), index=5, tree_size=bundle["tree_size"],
                                proof=[bytes.fromhex(p) for p in bundle["proof"]],
                                root=bytes.fromhex(bundle["root_hash"]))


def test_untouched_log_verifies(context: VaultContext) -> None:
    _append(context, 20)
    with context.sessions() as session:
        verdict = verify_log(session=session, public_key_raw=context.signer.public_raw)
    assert verdict.ok, verdict.problems
    assert verdict.entries == 20


def _recompute_entry(context: VaultContext, index: int, *, actor_name: str = "mallory") -> None:
    """Alter one entry and recompute its leaf hash, as a tamperer with database access would."""
    with context.sessions() as session:
        _disable_guards(session)
        entry = session.get(CustodyEvent, index)
        assert entry is not None
        entry.actor_name = actor_name
        entry.leaf_hash = leaf_hash(canonical_entry(entry)).hex()
        session.commit()


def test_database_refuses_update_and_delete_of_entries(context: VaultContext) -> None:
    _append(context, 2)
    for statement in ("UPDATE custody_events SET actor_name = 'mallory'", "DELETE FROM custody_events",
                      "DELETE FROM custody_checkpoints"):
        with context.sessions() as session, pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))


def test_altered_entry_is_named(context: VaultContext) -> None:
    _append(context, 10)
    with context.sessions() as session:
        _disable_guards(session)
        session.execute(text("UPDATE custody_events SET actor_name = 'mallory' WHERE log_index = 4"))
        session.commit()
        verdict = verify_log(session=session, public_key_raw=context.signer.public_raw)
    assert not verdict.ok
    assert verdict.problems[0].startswith("entry 4 was altered")


def test_altered_entry_with_recomputed_leaf_breaks_the_signed_checkpoint(context: VaultContext) -> None:
    _append(context, 3)
    _append(context, 3)
    _recompute_entry(context, 4)
    with context.sessions() as session:
        verdict = verify_log(session=session, public_key_raw=context.signer.public_raw)
    assert verdict.problems == [
        "entries 3..5 do not match signed checkpoint 6: an entry there was altered, removed or reordered"]


def test_removed_entry_is_named(context: VaultContext) -> None:
    _append(context, 8)
    with context.sessions() as session:
        _disable_guards(session)
        session.execute(text("DELETE FROM custody_events WHERE log_index = 6"))
        session.commit()
        verdict = verify_log(session=session, public_key_raw=context.signer.public_raw)
    assert verdict.problems[0] == "entry 6 is missing (the next entry found is 7)"


def test_reordered_entries_are_detected(context: VaultContext) -> None:
    _append(context, 6)
    with context.sessions() as session:
        _disable_guards(session)
        session.execute(text("UPDATE custody_events SET log_index = 100 WHERE log_index = 2"))
        session.execute(text("UPDATE custody_events SET log_index = 2 WHERE log_index = 3"))
        session.execute(text("UPDATE custody_events SET log_index = 3 WHERE log_index = 100"))
        session.commit()
        verdict = verify_log(session=session, public_key_raw=context.signer.public_raw)
    assert verdict.problems[0].startswith("entry 2 was altered")


def test_forged_checkpoint_signature_is_detected(context: VaultContext) -> None:
    _append(context, 4)
    with context.sessions() as session:
        _disable_guards(session)
        forged = base64.b64encode(b"\x00" * 64).decode()
        session.execute(text("UPDATE custody_checkpoints SET signature = :s"), {"s": forged})
        session.commit()
        verdict = verify_log(session=session, public_key_raw=context.signer.public_raw)
    assert verdict.problems == ["checkpoint 4 has an invalid signature"]


def test_truncated_tail_is_detected(context: VaultContext) -> None:
    _append(context, 5)
    with context.sessions() as session:
        _disable_guards(session)
        session.execute(text("DELETE FROM custody_events WHERE log_index >= 3"))
        session.commit()
        verdict = verify_log(session=session, public_key_raw=context.signer.public_raw)
    assert verdict.problems[0].startswith("entries 3..4 are missing")


def test_each_commit_gets_its_own_checkpoint(context: VaultContext) -> None:
    _append(context, 2)
    _append(context, 1)
    with context.sessions() as session:
        sizes = list(session.scalars(select(Checkpoint.tree_size).order_by(Checkpoint.tree_size)))
    assert sizes == [2, 3]


def test_consistency_proof_links_two_signed_checkpoints(context: VaultContext,
                                                       make_person: Callable[..., Person]) -> None:
    auditor, officer = make_person(Role.AUDITOR), make_person(Role.OFFICER)
    _append(context, 5)
    with context.sessions() as session:
        old_size = latest_checkpoint(session).tree_size  # type: ignore[union-attr]
    _append(context, 9)
    with context.sessions() as session:
        bundle = prove_consistency(session=session, actor=auditor.actor, old_size=old_size)
        with pytest.raises(PermissionDenied):
            prove_consistency(session=session, actor=officer.actor, old_size=old_size)
    assert verify_consistency(old_size=bundle["old"]["tree_size"], new_size=bundle["new"]["tree_size"],
                              old_root=bytes.fromhex(bundle["old"]["root_hash"]),
                              new_root=bytes.fromhex(bundle["new"]["root_hash"]),
                              proof=[bytes.fromhex(p) for p in bundle["proof"]])


@pytest.mark.parametrize("path", [
    "/api/custody/events?after_index=9223372036854775808",
    "/api/custody/events?limit=0",
    "/api/custody/proof/99999999999999999999",
    "/api/custody/consistency?old_size=-1",
    "/api/custody/consistency?old_size=1&new_size=9223372036854775808",
])
def test_log_positions_beyond_a_64_bit_index_are_a_422_not_a_500(
    client: TestClient, make_person: Callable[..., Person], path: str
) -> None:
    auditor = make_person(Role.AUDITOR)
    answer = client.get(path, headers=auditor.headers)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request"
