"""The auditor's view of the custody log: entries with their inclusion checked, and the last full verification."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vault.access.trail import TrailEntry, name_events
from vault.custody.anchoring import CheckpointAnchors
from vault.custody.merkle import MerkleTree, leaf_hash, verify_inclusion
from vault.custody.models import Checkpoint, CustodyEvent
from vault.custody.service import canonical_entry, latest_checkpoint, stream_leaf_hashes
from vault.custody.verification import LogVerdict, checkpoint_signed, verify_anchored_log
from vault.custody.verification_models import LogVerification
from vault.errors import InvalidInput
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require

MAX_LOG_PAGE = 500
MAX_INDEX = 2**62  # beyond a 64-bit SQL integer the driver would fail with a 500


@dataclass(frozen=True)
class EntryCheck:
    """One log entry, named, and whether its inclusion proof holds against the latest signed checkpoint."""

    entry: TrailEntry
    included: bool | None  # None: appended after the latest checkpoint, so nothing to prove against yet


@dataclass(frozen=True)
class LogPage:
    """A page of the log, newest first, the checkpoint its proofs were checked against and the last verification."""

    checks: list[EntryCheck]
    size: int  # entries in the log
    checkpoint: Checkpoint | None
    checkpoint_signed: bool
    older: int | None  # pass as `before` for the next page; None on the last page
    last_verification: LogVerification | None


def _tree(session: Session, size: int) -> MerkleTree:
    tree = MerkleTree()
    for leaf in stream_leaf_hashes(session, size):
        tree.append(leaf)
    return tree


def _included(tree: MerkleTree, checkpoint: Checkpoint, entry: CustodyEvent) -> bool | None:
    size = checkpoint.tree_size
    if entry.log_index >= size:
        return None
    if tree.size < size:  # entries are missing from the log: the stored leaves cannot rebuild the signed tree
        return False
    # The leaf is recomputed from the entry's content: an entry altered in place fails even if its leaf_hash was not.
    return verify_inclusion(leaf_hash=leaf_hash(canonical_entry(entry)), index=entry.log_index, tree_size=size,
                            proof=tree.inclusion_proof(entry.log_index, size), root=bytes.fromhex(checkpoint.root_hash))


def browse_log(
    *, session: Session, actor: Actor, public_keys: Mapping[str, bytes], before: int | None = None, limit: int = 50
) -> LogPage:
    """Return a page of log entries, newest first, each checked for inclusion in the latest checkpoint (auditors)."""
    require(actor, Permission.READ_AUDIT_LOG)
    if not 1 <= limit <= MAX_LOG_PAGE or (before is not None and not 0 <= before <= MAX_INDEX):
        raise InvalidInput(f"limit must be between 1 and {MAX_LOG_PAGE}, before between 0 and {MAX_INDEX}")
    query = select(CustodyEvent).order_by(CustodyEvent.log_index.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(CustodyEvent.log_index < before)
    events = list(session.scalars(query))
    older = events[limit - 1].log_index if len(events) > limit else None
    events = events[:limit]
    checkpoint = latest_checkpoint(session)
    tree = _tree(session, checkpoint.tree_size) if checkpoint and events else MerkleTree()
    checks = [EntryCheck(entry=named, included=_included(tree, checkpoint, named.event) if checkpoint else None)
              for named in name_events(session, events)]
    return LogPage(
        checks=checks, size=log_size(session),
        checkpoint=checkpoint, checkpoint_signed=bool(checkpoint and checkpoint.key_id in public_keys
                                  and checkpoint_signed(checkpoint, public_keys[checkpoint.key_id])),
        older=older, last_verification=_last(session),
    )


def _last(session: Session) -> LogVerification | None:
    return session.scalars(select(LogVerification).order_by(LogVerification.at.desc()).limit(1)).first()


def last_verification(*, session: Session, actor: Actor) -> LogVerification | None:
    """Return the newest full verification of the log, whoever ran it (auditors)."""
    require(actor, Permission.READ_AUDIT_LOG)
    return _last(session)


def record_verification(
    *, session: Session, verdict: LogVerdict, ran_by: Actor, via: str, at: datetime, seconds: float
) -> LogVerification:
    """Keep what one full verification found, so auditors see the state of the last one."""
    run = LogVerification(
        at=at, seconds=round(seconds, 3), ran_by_id=ran_by.id, ran_by=ran_by.name, via=via, entries=verdict.entries,
        checkpoints=verdict.checkpoints, anchored=len(verdict.anchored), ok=verdict.ok, problems=verdict.problems,
    )
    session.add(run)
    session.flush()
    return run


def log_size(session: Session) -> int:
    """Return how many entries the log holds."""
    return session.scalar(select(func.count()).select_from(CustodyEvent)) or 0


def verify_now(
    *, session: Session, actor: Actor, anchors: CheckpointAnchors, via: str, now: datetime,
    max_entries: int | None = None,
) -> tuple[LogVerdict, LogVerification]:
    """Verify the whole log against the catalog and every anchor, and keep the verdict (auditors).

    With max_entries, a larger log is refused: a verification reads every entry, too long for a page to wait on."""
    require(actor, Permission.READ_AUDIT_LOG)
    if max_entries is not None and (size := log_size(session)) > max_entries:
        raise InvalidInput(f"the log holds {size} entries, more than {max_entries} to verify from a page; "
                           "run `evault audit verify` on the server (在服务器上运行)",
                           details={"entries": size, "max_entries": max_entries})
    started = time.monotonic()
    verdict = verify_anchored_log(session=session, anchors=anchors)
    run = record_verification(session=session, verdict=verdict, ran_by=actor, via=via, at=now,
                              seconds=time.monotonic() - started)
    return verdict, run
