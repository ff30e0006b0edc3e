"""The signing window: commits only append; the process's signer covers them, signed and anchored, within it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

from sqlalchemy import select

from tests.vault.custody.test_service import _append
from vault.config import Settings
from vault.context import VaultContext, build_context
from vault.custody.anchoring import CHECKPOINT_PREFIX
from vault.custody.models import Checkpoint
from vault.custody.service import canonical_entry
from vault.custody.signing import CheckpointSigner
from vault.custody.verification import verify_anchored_log
from vault.keys import canonical_json
from vault.storage.base import BlobStore


class _Clock:
    """The monotonic clock the signer reads, moved by the test instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _newest_signed(context: VaultContext) -> int:
    with context.sessions() as session:
        return session.scalar(select(Checkpoint.tree_size).order_by(Checkpoint.tree_size.desc())) or 0


def _anchored(context: VaultContext) -> list[int]:
    return sorted(int(a.name.rsplit("-", 1)[1]) for a in context.store.list_anchors(CHECKPOINT_PREFIX))


def test_commits_wait_for_no_signature_and_the_window_covers_them_signed_and_anchored(
        settings: Settings, store: BlobStore) -> None:
    context = build_context(settings.model_copy(update={"custody_sign_window_ms": 60_000}), store=store)
    try:
        _append(context, 3)
        _append(context, 2)
        assert _newest_signed(context) == 0 and _anchored(context) == []  # the commits signed nothing
    finally:
        context.close()  # a clean shutdown signs what the window holds
    assert _anchored(context) == [5]
    fresh = build_context(settings, store=store)
    try:
        with fresh.sessions() as session:
            verdict = verify_anchored_log(session=session, anchors=fresh.anchors)
        assert verdict.ok, verdict.problems
        assert verdict.entries == 5 and verdict.unanchored == 0
    finally:
        fresh.close()


def test_the_signer_signs_once_the_window_has_passed_on_its_clock(settings: Settings, store: BlobStore) -> None:
    context = build_context(settings, store=store)  # commits append only because the signer below is told
    clock = _Clock()
    signer = CheckpointSigner(context.sessions, context.anchors, 0.25, clock=clock)
    try:
        _append(context, 1)  # signed in its commit (window 0): the window's signer starts after it
        signer.committed()
        clock.now = 1000.125
        assert not signer.due() and signer.sign_due() is None
        clock.now = 1000.25
        assert signer.due()
        assert signer.sign_due() is None  # nothing new was committed since the commit signed: nothing to sign
        assert not signer.due()
    finally:
        context.close()


def test_a_process_killed_inside_its_window_loses_no_entry(settings: Settings, store: BlobStore) -> None:
    windowed = settings.model_copy(update={"custody_sign_window_ms": 60_000})
    killed = build_context(windowed, store=store)
    _append(killed, 4)
    killed.engine.dispose()  # killed: no close(), so the signer never signed the four entries
    assert _anchored(killed) == []
    restarted = build_context(windowed, store=store)
    try:
        assert restarted.checkpoint_signer is not None
        restarted.checkpoint_signer.sign_now()  # what the anchor job does each minute, or the first window
        assert _anchored(restarted) == [4]
        with restarted.sessions() as session:
            verdict = verify_anchored_log(session=session, anchors=restarted.anchors)
        assert verdict.ok and verdict.entries == 4, verdict.problems
    finally:
        restarted.close()


def test_the_written_out_encoding_is_canonical_json_of_the_entry() -> None:
    entry = SimpleNamespace(log_index=12, at=datetime(2026, 12, 7, 8, 0, 1, 5, tzinfo=UTC), actor_id=uuid.UUID(int=7),
                            actor_name='周"监督"\\ \n\u2028', action="evidence:viewed", subject_type="evidence",
                            subject_id="阜应急罚字〔2023〕40号", case_id=None,
                            details={"z": [1, 2.5, None], "a": {"b": "保存"}, "e": ""})
    body = {"index": 12, "at": entry.at.isoformat(timespec="microseconds"), "actor_id": str(entry.actor_id),
            "actor": entry.actor_name, "action": entry.action, "subject_type": entry.subject_type,
            "subject_id": entry.subject_id, "case_id": None, "details": entry.details}
    assert canonical_entry(entry) == canonical_json(body)
    entry.details = {}
    assert canonical_entry(entry) == canonical_json({**body, "details": {}})
    entry.details = []  # a tampered column must not encode like the empty dict
    assert canonical_entry(entry) == canonical_json({**body, "details": []})
