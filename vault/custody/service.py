"""Append custody events, checkpoint them, prove inclusion and verify the whole log."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from vault.custody.encoding import checkpoint_statement
from vault.custody.merkle import Frontier, consistency_proof, inclusion_proof, leaf_hash
from vault.custody.models import Checkpoint, CustodyAction, CustodyEvent
from vault.db import utcnow
from vault.errors import NotFound
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.keys import Signer, canonical_json, verify_signature

log = structlog.get_logger(__name__)

_ADVISORY_LOCK_KEY = 0x65766C74  # "evlt": serializes appends on PostgreSQL; SQLite writers are serialized already


def canonical_entry(entry: CustodyEvent) -> bytes:
    """Return the canonical bytes a log entry's leaf hash covers (sorted-key compact UTF-8 JSON)."""
    body = {
        "index": entry.log_index,
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor_id": str(entry.actor_id) if entry.actor_id else None,
        "actor": entry.actor_name,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "case_id": str(entry.case_id) if entry.case_id else None,
        "details": entry.details,
    }
    return canonical_json(body)


def checkpoint_message(tree_size: int, root: bytes, signed_at: datetime) -> bytes:
    """Return the bytes a checkpoint signature covers."""
    return checkpoint_statement(tree_size, root, signed_at.isoformat(timespec="microseconds"))


def next_log_index(session: Session) -> int:
    """Return the index the next event takes, holding the log's append lock until the transaction ends."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    last = session.scalar(select(func.max(CustodyEvent.log_index)))
    return 0 if last is None else last + 1


def record_event(
    *,
    session: Session,
    actor: Actor,
    action: CustodyAction,
    subject_type: str,
    subject_id: str | uuid.UUID,
    case_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> CustodyEvent:
    """Append one event in the caller's transaction; the commit signs a checkpoint over it."""
    entry = CustodyEvent(
        log_index=next_log_index(session),
        at=now or utcnow(),
        actor_id=actor.id,
        actor_name=actor.name,
        action=str(action),
        subject_type=subject_type,
        subject_id=str(subject_id),
        case_id=case_id,
        details=json.loads(json.dumps(details or {}, default=str)),
    )
    entry.leaf_hash = leaf_hash(canonical_entry(entry)).hex()
    session.add(entry)
    session.flush()
    session.info["custody_dirty"] = True
    log.info("custody.event", index=entry.log_index, action=entry.action, subject_id=entry.subject_id)
    return entry


def latest_checkpoint(session: Session) -> Checkpoint | None:
    """Return the newest signed checkpoint, if any."""
    return session.scalars(select(Checkpoint).order_by(Checkpoint.tree_size.desc()).limit(1)).first()


def write_checkpoint(*, session: Session, signer: Signer, now: datetime | None = None) -> Checkpoint | None:
    """Sign a checkpoint covering every event appended since the last one."""
    last = latest_checkpoint(session)
    frontier = Frontier.from_json(last.frontier) if last else Frontier.empty()
    new_leaves = session.scalars(
        select(CustodyEvent.leaf_hash).where(CustodyEvent.log_index >= frontier.size).order_by(CustodyEvent.log_index)
    )
    for leaf in new_leaves:
        frontier = frontier.append(bytes.fromhex(leaf))
    if last is not None and frontier.size == last.tree_size:
        return None
    signed_at = now or utcnow()
    root = frontier.root()
    checkpoint = Checkpoint(
        tree_size=frontier.size,
        root_hash=root.hex(),
        frontier=frontier.to_json(),
        signed_at=signed_at,
        key_id=signer.key_id,
        signature=base64.b64encode(signer.sign(checkpoint_message(frontier.size, root, signed_at))).decode(),
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint


def install_checkpointing(factory: sessionmaker[Session]) -> None:
    """Make every commit that appended events also sign a checkpoint, in the same transaction."""

    @event.listens_for(factory, "before_commit")
    def _checkpoint(session: Session) -> None:
        if session.info.pop("custody_dirty", False):
            signer = session.info.get("signer")
            if not isinstance(signer, Signer):
                raise RuntimeError("session has custody events but no signer; build it with make_session_factory")
            write_checkpoint(session=session, signer=signer)

    @event.listens_for(factory, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop("custody_dirty", None)


def _leaf_hashes(session: Session, tree_size: int) -> list[bytes]:
    rows = session.scalars(
        select(CustodyEvent.leaf_hash).where(CustodyEvent.log_index < tree_size).order_by(CustodyEvent.log_index)
    )
    return [bytes.fromhex(leaf) for leaf in rows]


def prove_inclusion(*, session: Session, actor: Actor, log_index: int) -> dict[str, Any]:
    """Return an RFC 9162 inclusion proof of one entry against the newest checkpoint (auditors)."""
    require(actor, Permission.READ_AUDIT_LOG)
    return inclusion_bundle(session=session, log_index=log_index)


def inclusion_bundle(*, session: Session, log_index: int, checkpoint: Checkpoint | None = None) -> dict[str, Any]:
    """Return an entry, its inclusion proof and the signed checkpoint it is proven against."""
    checkpoint = checkpoint or latest_checkpoint(session)
    entry = session.get(CustodyEvent, log_index)
    if entry is None or checkpoint is None or log_index >= checkpoint.tree_size:
        raise NotFound(f"custody entry {log_index} is not covered by a checkpoint")
    proof = inclusion_proof(_leaf_hashes(session, checkpoint.tree_size), log_index, checkpoint.tree_size)
    return {
        "log_index": log_index,
        "entry": json.loads(canonical_entry(entry)),
        "leaf_hash": entry.leaf_hash,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "checkpoint_signed_at": checkpoint.signed_at.isoformat(timespec="microseconds"),
        "checkpoint_signature": checkpoint.signature,
        "key_id": checkpoint.key_id,
        "proof": [node.hex() for node in proof],
    }


def prove_consistency(*, session: Session, actor: Actor, old_size: int, new_size: int | None = None) -> dict[str, Any]:
    """Return an RFC 9162 consistency proof between two signed checkpoints (auditors)."""
    require(actor, Permission.READ_AUDIT_LOG)
    new = session.get(Checkpoint, new_size) if new_size is not None else latest_checkpoint(session)
    old = session.get(Checkpoint, old_size)
    if old is None or new is None or old.tree_size > new.tree_size:
        raise NotFound(f"no signed checkpoints of sizes {old_size} and {new_size or 'latest'} in that order")
    proof = consistency_proof(_leaf_hashes(session, new.tree_size), old.tree_size, new.tree_size)
    return {
        "old": {"tree_size": old.tree_size, "root_hash": old.root_hash, "signature": old.signature},
        "new": {"tree_size": new.tree_size, "root_hash": new.root_hash, "signature": new.signature},
        "proof": [node.hex() for node in proof],
    }


@dataclass
class LogVerdict:
    """The outcome of re-checking the whole log."""

    entries: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when nothing was found wrong."""
        return not self.problems


def _stream_entries(session: Session) -> Generator[CustodyEvent, None, None]:
    # A server-side cursor on PostgreSQL: close it even when verification stops at the first bad entry.
    entries = session.scalars(select(CustodyEvent).order_by(CustodyEvent.log_index).execution_options(yield_per=1000))
    with closing(entries):
        yield from entries


def audit_log(*, session: Session, actor: Actor, public_key_raw: bytes) -> LogVerdict:
    """Verify the whole log on behalf of an auditor."""
    require(actor, Permission.READ_AUDIT_LOG)
    return verify_log(session=session, public_key_raw=public_key_raw)


def verify_log(*, session: Session, public_key_raw: bytes) -> LogVerdict:
    """Recompute every leaf and every signed checkpoint; report the first entry that breaks."""
    verdict = LogVerdict()
    pending = iter(list(session.scalars(select(Checkpoint).order_by(Checkpoint.tree_size))))
    next_checkpoint = next(pending, None)
    frontier = Frontier.empty()
    previous_size = 0
    with closing(_stream_entries(session)) as entries:
        for entry in entries:
            if entry.log_index != frontier.size:
                verdict.problems.append(f"entry {frontier.size} is missing (next entry found is {entry.log_index})")
                return verdict
            if leaf_hash(canonical_entry(entry)).hex() != entry.leaf_hash:
                verdict.problems.append(
                    f"entry {entry.log_index} was altered: its content does not match its leaf hash"
                )
                return verdict
            frontier = frontier.append(bytes.fromhex(entry.leaf_hash))
            verdict.entries += 1
            while next_checkpoint is not None and next_checkpoint.tree_size == frontier.size:
                problem = _check_checkpoint(next_checkpoint, frontier.root(), public_key_raw, previous_size)
                if problem:
                    verdict.problems.append(problem)
                    return verdict
                verdict.checkpoints += 1
                previous_size = next_checkpoint.tree_size
                next_checkpoint = next(pending, None)
    if next_checkpoint is not None:
        verdict.problems.append(
            f"entries {frontier.size}..{next_checkpoint.tree_size - 1} are missing: "
            f"checkpoint {next_checkpoint.tree_size} covers more entries than the log holds"
        )
    elif frontier.size > previous_size:
        verdict.problems.append(
            f"entries {previous_size}..{frontier.size - 1} are not covered by any signed checkpoint"
        )
    return verdict


def _check_checkpoint(checkpoint: Checkpoint, root: bytes, public_key_raw: bytes, previous_size: int) -> str | None:
    if root.hex() != checkpoint.root_hash:
        return (
            f"entries {previous_size}..{checkpoint.tree_size - 1} do not match signed checkpoint "
            f"{checkpoint.tree_size}: an entry there was altered, removed or reordered"
        )
    message = checkpoint_message(checkpoint.tree_size, root, checkpoint.signed_at)
    if not verify_signature(public_key_raw, base64.b64decode(checkpoint.signature), message):
        return f"checkpoint {checkpoint.tree_size} has an invalid signature"
    return None


def list_events(
    *,
    session: Session,
    actor: Actor,
    subject_id: str | None = None,
    case_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    limit: int = 500,
    after_index: int = -1,
) -> list[CustodyEvent]:
    """Return custody events in log order, filtered by subject, case or actor (auditors and records managers)."""
    require(actor, Permission.READ_AUDIT_LOG)
    query = select(CustodyEvent).where(CustodyEvent.log_index > after_index).order_by(CustodyEvent.log_index)
    if subject_id is not None:
        query = query.where(CustodyEvent.subject_id == subject_id)
    if case_id is not None:
        query = query.where(CustodyEvent.case_id == case_id)
    if actor_id is not None:
        query = query.where(CustodyEvent.actor_id == actor_id)
    return list(session.scalars(query.limit(min(limit, 5000))))
