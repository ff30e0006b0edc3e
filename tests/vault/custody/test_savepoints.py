"""Savepoints inside a transaction (a batched job's per-record rollback) sign and anchor nothing themselves: the
outermost commit signs one checkpoint over everything, and a transaction rolled back after a released savepoint
leaves no anchor naming entries that do not exist."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vault.context import VaultContext
from vault.custody.anchoring import CHECKPOINT_PREFIX
from vault.custody.models import Checkpoint, CustodyAction
from vault.custody.service import record_event
from vault.custody.verification import verify_anchored_log
from vault.identities.actor import SYSTEM


def _anchored_sizes(context: VaultContext) -> list[int]:
    return sorted(int(a.name.rsplit("-", 1)[1]) for a in context.store.list_anchors(CHECKPOINT_PREFIX))


def _checkpoints(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Checkpoint)) or 0


def _append_in_savepoint(session: Session, subject: str) -> None:
    with session.begin_nested():
        record_event(session=session, actor=SYSTEM, action=CustodyAction.POLICY_CHANGED, subject_type="policy",
                     subject_id=subject, details={"note": "保存期限 调整"})


def test_released_savepoints_sign_nothing_until_the_outer_commit_signs_one_checkpoint(context: VaultContext) -> None:
    with context.sessions() as session:
        before = _checkpoints(session)
        _append_in_savepoint(session, "p1")
        _append_in_savepoint(session, "p2")
        assert _checkpoints(session) == before
        assert _anchored_sizes(context) == []
        session.commit()
        assert _checkpoints(session) == before + 1
    assert _anchored_sizes(context) == [2]
    with context.sessions() as session:
        verdict = verify_anchored_log(session=session, anchors=context.anchors)
    assert verdict.ok, verdict.problems
    assert (verdict.entries, verdict.checkpoints) == (2, 1)


def test_a_transaction_rolled_back_after_a_released_savepoint_leaves_no_anchor(context: VaultContext) -> None:
    with context.sessions() as session:
        _append_in_savepoint(session, "p1")
        session.rollback()
    assert _anchored_sizes(context) == []
    with context.sessions() as session:
        _append_in_savepoint(session, "p2")
        session.commit()
        verdict = verify_anchored_log(session=session, anchors=context.anchors)
    assert verdict.ok, verdict.problems
    assert _anchored_sizes(context) == [1]
