"""Checkpoints anchored outside the catalog: a tamperer who edits the database can no longer rewrite the log.

Issue 12: each signed checkpoint is a C2SP tlog-checkpoint note, locked in the write-once store; `audit verify`
checks the log against every anchor and names each altered entry or range; the vault refuses to sign a checkpoint
inconsistent with the newest anchor, and says so in its exit status, `/ready` and the log.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from structlog.testing import capture_logs

from evault.app import create_app
from evault.scheduler import default_jobs
from evault_client.cli import root
from tests.conftest import Person, days
from tests.outage import closed_port
from tests.vault.custody.test_service import _append, _disable_guards, _recompute_entry
from vault.context import VaultContext, build_context
from vault.custody.anchoring import CHECKPOINT_PREFIX, CheckpointAnchors, CustodyLogInconsistent, anchor_name
from vault.custody.merkle import leaf_hash
from vault.custody.models import Checkpoint, CustodyEvent
from vault.custody.note import CheckpointText, NoteKey, SignedNote, signed_checkpoint
from vault.custody.service import (
    anchor_latest_checkpoint,
    canonical_entry,
    write_checkpoint,
)
from vault.custody.verification import verify_anchored_log
from vault.db import utcnow
from vault.identities.models import Role
from vault.keys import Signer
from vault.storage.local import LocalBlobStore
from vault.storage.s3 import S3BlobStore


@contextmanager
def another_process(context: VaultContext) -> Iterator[VaultContext]:
    """Open the same vault afresh, as the next command or a restarted server would."""
    fresh = build_context(context.settings, store=context.store)
    try:
        yield fresh
    finally:
        fresh.close()


def _anchored_sizes(context: VaultContext) -> list[int]:
    return sorted(int(a.name.rsplit("-", 1)[1]) for a in context.store.list_anchors(CHECKPOINT_PREFIX))


def _delete_checkpoints_from(context: VaultContext, size: int) -> None:
    with context.sessions() as session:
        _disable_guards(session)
        session.execute(text("DELETE FROM custody_checkpoints WHERE tree_size >= :s"), {"s": size})
        session.commit()


def test_every_commit_anchors_a_standard_checkpoint_note_locked_in_the_store(context: VaultContext) -> None:
    _append(context, 3)
    _append(context, 2)
    assert _anchored_sizes(context) == [3, 5]
    newest = next(context.store.list_anchors(CHECKPOINT_PREFIX, limit=1))
    assert newest.name == anchor_name(5)
    note = SignedNote.parse(newest.data.decode())
    body = CheckpointText.parse(note.text)
    # Any C2SP tool configured with the vault's vkey (published at /api/custody/public-key) accepts it.
    assert note.verified_by(NoteKey.from_vkey(context.anchors.key.vkey())) is not None
    with context.sessions() as session:
        checkpoint = session.get(Checkpoint, 5)
        assert checkpoint is not None and checkpoint.note == newest.data.decode()
        assert body.root.hex() == checkpoint.root_hash and body.origin == context.anchors.origin
    if isinstance(context.store, LocalBlobStore):
        assert "retain_until" in (context.settings.objects_dir / "anchors" / (newest.name + ".lock.json")).read_text()
    else:
        assert isinstance(context.store, S3BlobStore)
        client = context.store._client  # the test asks the bucket itself what it enforces
        stat = client.stat_object(context.store.bucket, newest.name, version_id=newest.version_id)
        assert (stat.metadata or {}).get("x-amz-object-lock-mode") in ("COMPLIANCE", "GOVERNANCE")


def test_an_untouched_log_verifies_against_every_anchor_saying_where_each_was_found(context: VaultContext) -> None:
    for count in (2, 1, 4):
        _append(context, count)
    with context.sessions() as session:
        verdict = verify_anchored_log(session=session, anchors=context.anchors)
    assert verdict.ok, verdict.problems
    assert len(verdict.anchored) == 3 and verdict.unanchored == 0
    assert verdict.anchored[-1].startswith("checkpoint 7: anchored at ") and anchor_name(7) in verdict.anchored[-1]


def test_recomputed_entry_with_its_checkpoints_deleted_is_refused_and_named(context: VaultContext) -> None:
    # The first tampering of issue 12: alter an entry, recompute its leaf, delete the checkpoints above it,
    # run any vault command. The command must fail loudly instead of signing over the altered log.
    for _ in range(4):
        _append(context, 3)  # checkpoints 3, 6, 9, 12
    _recompute_entry(context, 7)
    _delete_checkpoints_from(context, 7)
    with another_process(context) as fresh:
        with pytest.raises(CustodyLogInconsistent, match="checkpoint 12 anchored at"):
            _append(fresh, 1)
        with fresh.sessions() as session:
            assert session.scalar(select(Checkpoint.tree_size).order_by(Checkpoint.tree_size.desc())) == 6
            verdict = verify_anchored_log(session=session, anchors=fresh.anchors)
    assert _anchored_sizes(context) == [3, 6, 9, 12]  # nothing new was anchored
    assert verdict.problems[0] == (f"entries 6..8 do not match checkpoint 9 anchored at "
                                   f"{_location(context, 9)}: at least one of them was altered, removed or reordered")
    assert "1 later anchored checkpoints fail with it" in verdict.problems
    assert any(p.startswith("checkpoint 9 is anchored at") and p.endswith("missing from the catalog")
               for p in verdict.problems)


def test_a_vault_that_re_signed_the_altered_log_is_still_caught_by_the_anchors(context: VaultContext) -> None:
    # A tamperer holding the signing key re-signs catalog checkpoints over the altered log; the anchors stay.
    for _ in range(3):
        _append(context, 2)
    _recompute_entry(context, 3)
    _delete_checkpoints_from(context, 3)
    unaware = CheckpointAnchors(store=LocalBlobStore(context.settings.home / "elsewhere"), signer=context.signer,
                                origin=context.anchors.origin)
    with context.sessions() as session:
        assert write_checkpoint(session=session, anchors=unaware) is not None
        session.commit()
        verdict = verify_anchored_log(session=session, anchors=context.anchors)
    assert verdict.problems[0].startswith("entries 2..3 do not match checkpoint 4 anchored at")


def test_a_deleted_tail_is_refused_and_named_even_with_its_checkpoints_gone(context: VaultContext) -> None:
    # The second tampering of issue 12: delete the last 3 events and their checkpoints.
    _append(context, 4)
    _append(context, 3)
    with context.sessions() as session:
        _disable_guards(session)
        session.execute(text("DELETE FROM custody_events WHERE log_index >= 4"))
        session.commit()
    _delete_checkpoints_from(context, 5)
    with another_process(context) as fresh:
        with pytest.raises(CustodyLogInconsistent, match=r"checkpoint 7 anchored at .* covers 7: entries are missing"):
            _append(fresh, 1)  # new events must not continue from the lower index
        with fresh.sessions() as session:
            verdict = verify_anchored_log(session=session, anchors=fresh.anchors)
    assert f"entries 4..6 are missing: checkpoint 7 is anchored at {_location(context, 7)} but the catalog " \
           "holds 4 entries" in verdict.problems


def test_reordered_entries_with_recomputed_leaves_are_named_by_range(context: VaultContext) -> None:
    _append(context, 3)
    _append(context, 3)
    with context.sessions() as session:
        _disable_guards(session)
        first, second = session.get(CustodyEvent, 3), session.get(CustodyEvent, 4)
        assert first is not None and second is not None
        first.subject_id, second.subject_id = second.subject_id, first.subject_id
        first.details, second.details = second.details, first.details
        for entry in (first, second):
            entry.leaf_hash = leaf_hash(canonical_entry(entry)).hex()
        session.commit()
        verdict = verify_anchored_log(session=session, anchors=context.anchors)
    assert any(p.startswith("entries 3..5 do not match checkpoint 6 anchored at") for p in verdict.problems)


def test_an_altered_entry_without_a_recomputed_leaf_is_named_exactly(context: VaultContext) -> None:
    _append(context, 5)
    with context.sessions() as session:
        _disable_guards(session)
        session.execute(text("UPDATE custody_events SET actor_name = 'mallory' WHERE log_index = 2"))
        session.commit()
        verdict = verify_anchored_log(session=session, anchors=context.anchors)
    assert verdict.problems == ["entry 2 was altered: its content does not match its leaf hash"]


def test_ready_and_the_command_line_say_so_loudly(context: VaultContext) -> None:
    _append(context, 3)
    _append(context, 3)
    _recompute_entry(context, 4)
    _delete_checkpoints_from(context, 4)
    with another_process(context) as fresh, TestClient(create_app(context=fresh)) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "checkpoint 6 anchored at" in ready.json()["error"]["details"]["custody_log"]


def test_a_checkpoint_the_store_could_not_take_is_anchored_by_the_catch_up(context: VaultContext) -> None:
    _append(context, 2)
    down = S3BlobStore(endpoint=f"127.0.0.1:{closed_port()}", access_key="k", secret_key="s", bucket="down",
                       timeout_seconds=1)
    outage = build_context(context.settings, store=down)
    try:
        _append(outage, 3)  # the change commits; only its anchor is missing
    finally:
        outage.close()
    assert _anchored_sizes(context) == [2]
    with context.sessions() as session:
        anchored = anchor_latest_checkpoint(session=session, anchors=context.anchors)
    assert anchored is not None and anchored.tree_size == 5
    assert _anchored_sizes(context) == [2, 5]


def _location(context: VaultContext, size: int) -> str:
    return next(a.location for a in context.store.list_anchors(anchor_name(size)))


def test_the_minute_job_anchors_what_the_commit_left(context: VaultContext) -> None:
    down = S3BlobStore(endpoint=f"127.0.0.1:{closed_port()}", access_key="k", secret_key="s", bucket="down",
                       timeout_seconds=1)
    outage = build_context(context.settings, store=down)
    try:
        _append(outage, 2)
    finally:
        outage.close()
    specs = {spec.name: spec for spec in default_jobs()}
    assert specs["custody_anchor"].period == timedelta(minutes=1)  # at least one anchor a minute
    assert specs["custody_anchor"].run(context) == {"anchored_tree_size": 2}
    assert _anchored_sizes(context) == [2]


def test_a_refused_change_answers_503_over_http_and_exit_status_75_on_the_hosts_command_line(
        context: VaultContext, make_person: Callable[..., Person]) -> None:
    manager = make_person(Role.RECORDS_MANAGER, name="archive")
    make_person(Role.ADMIN, name="boss")
    _append(context, 3)
    _recompute_entry(context, 1)
    _delete_checkpoints_from(context, 1)
    with another_process(context) as fresh, TestClient(create_app(context=fresh)) as client:
        refused = client.post("/api/cases", headers=manager.headers,
                              json={"case_number": "阜应急罚字〔2026〕7号", "case_type": "licensing"})
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "custody_log_inconsistent"
    env = {"EVAULT_HOME": str(context.settings.home), "EVAULT_DATABASE_URL": context.settings.resolved_database_url,
           "EVAULT_LOG_JSON": "false"}
    if isinstance(context.store, S3BlobStore):
        env |= {"EVAULT_STORE": "s3", "EVAULT_S3_ENDPOINT": os.environ["EVAULT_TEST_S3_ENDPOINT"],
                "EVAULT_S3_ACCESS_KEY": os.environ.get("EVAULT_TEST_S3_ACCESS_KEY", "evaultci"),
                "EVAULT_S3_SECRET_KEY": os.environ.get("EVAULT_TEST_S3_SECRET_KEY", "evaultci-secret-key"),
                "EVAULT_S3_BUCKET": context.store.bucket, "EVAULT_S3_LOCK_MODE": "GOVERNANCE"}
    made = CliRunner().invoke(root, ["admin-password", "boss"], input="a-long-new-password\n", env=env)
    assert made.exit_code == 75 and "custody_log_inconsistent" in made.stderr
    verified = CliRunner().invoke(root, ["verify-log"], env=env)
    assert verified.exit_code == 1 and "entries 0..1 do not match checkpoint 2 anchored at" in verified.output


def test_an_anchor_planted_by_someone_else_is_named_and_not_relied_on(context: VaultContext) -> None:
    _append(context, 3)
    stranger = Signer(Ed25519PrivateKey.generate())
    forged = signed_checkpoint(CheckpointText(context.anchors.origin, 9, bytes(32)), signer=stranger)
    planted = context.store.write_anchor(anchor_name(9), forged.encode().encode(), retain_until=utcnow() + days(1))
    with context.sessions() as session:
        verdict = verify_anchored_log(session=session, anchors=context.anchors)
    assert verdict.problems == [f"anchor at {planted.location} is not signed by this vault's key"]
    assert [line.split(":")[0] for line in verdict.anchored] == ["checkpoint 3"]


def test_during_a_store_outage_commits_do_not_each_wait_for_the_store(context: VaultContext) -> None:
    # A store that times out would otherwise hold every request for its timeout; the job anchors once it is back.
    down = S3BlobStore(endpoint=f"127.0.0.1:{closed_port()}", access_key="k", secret_key="s", bucket="down",
                       timeout_seconds=1)
    outage = build_context(context.settings, store=down)
    try:
        with capture_logs() as logs:
            for _ in range(3):
                _append(outage, 1)
    finally:
        outage.close()
    events = [entry["event"] for entry in logs]
    assert events.count("custody.anchor_unreadable") == 1  # the store was asked once, not once per commit
    assert events.count("custody.anchor_deferred") == 3
    with context.sessions() as session:
        assert anchor_latest_checkpoint(session=session, anchors=context.anchors).tree_size == 3  # type: ignore[union-attr]
