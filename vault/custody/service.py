"""Append custody events, checkpoint them, prove inclusion and verify the whole log."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Generator
from contextlib import closing
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any, Protocol

import structlog
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from vault.custody.anchoring import AnchoredCheckpoint, CheckpointAnchors
from vault.custody.encoding import checkpoint_statement
from vault.custody.merkle import Frontier, consistency_proof, inclusion_proof, leaf_hash
from vault.custody.models import Checkpoint, CustodyAction, CustodyEvent
from vault.custody.note import SignedNote
from vault.db import utcnow
from vault.errors import NotFound, VaultError
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.keys import canonical_json

log = structlog.get_logger(__name__)

# session.info key: (tree size, root) of the lost branch's newest anchored checkpoint, set only by `evault restore`.
RESTORED_OVER = "custody_restored_over"
_ADVISORY_LOCK_KEY = 0x65766C74  # "evlt": serializes appends on PostgreSQL; SQLite writers are serialized already
_SIGNER_LEASE_KEY = 0x6576736E  # "evsn": one checkpoint signer at a time across every process (PostgreSQL)
_string: Callable[[str], str] = encode_basestring  # a JSON string literal, non-ASCII kept: what canonical_json writes


class EntryFields(Protocol):
    """The columns a leaf hash covers: a CustodyEvent, or a plain row of them read without the ORM."""

    @property
    def log_index(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def actor_id(self) -> uuid.UUID | None: ...
    @property
    def actor_name(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def subject_type(self) -> str: ...
    @property
    def subject_id(self) -> str: ...
    @property
    def case_id(self) -> uuid.UUID | None: ...
    @property
    def details(self) -> dict[str, Any]: ...


def canonical_entry(entry: EntryFields) -> bytes:
    """Return the canonical bytes a log entry's leaf hash covers (sorted-key compact UTF-8 JSON)."""
    # canonical_json of the entry as a dict, written out in its sorted key order: the verifier encodes every entry
    # of the log, and building and sorting a dict per entry was most of its time. A test pins the two equal.
    actor_id = f'"{entry.actor_id}"' if entry.actor_id else "null"
    case_id = f'"{entry.case_id}"' if entry.case_id else "null"
    return (
        f'{{"action":{_string(entry.action)},"actor":{_string(entry.actor_name)},"actor_id":{actor_id},'
        f'"at":"{entry.at.isoformat(timespec="microseconds")}","case_id":{case_id},'
        f'"details":{_canonical_details(entry.details)},"index":{int(entry.log_index)},'
        f'"subject_id":{_string(entry.subject_id)},"subject_type":{_string(entry.subject_type)}}}'
    ).encode()


def _canonical_details(details: dict[str, Any]) -> str:
    return "{}" if isinstance(details, dict) and not details else canonical_json(details).decode()


def checkpoint_message(tree_size: int, root: bytes, signed_at: datetime) -> bytes:
    """Return the bytes the signature of a checkpoint signed before anchoring (no note) covers."""
    return checkpoint_statement(tree_size, root, signed_at.isoformat(timespec="microseconds"))


def next_log_index(session: Session) -> int:
    """Return the index the next event takes, holding the log's append lock until the transaction ends."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    last = session.scalar(select(func.max(CustodyEvent.log_index)))
    return 0 if last is None else last + 1


def take_signer_lease(session: Session, *, wait: bool) -> bool:
    """Hold the signing lease until the transaction ends; without `wait`, return False if another holds it."""
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return True  # SQLite: every writing transaction holds the database's single write lock already
    if wait:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SIGNER_LEASE_KEY})
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _SIGNER_LEASE_KEY}))


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
    """Append one event in the caller's transaction; its commit (or the signing window after it) signs a checkpoint."""
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


def write_checkpoint(
    *, session: Session, anchors: CheckpointAnchors, now: datetime | None = None
) -> Checkpoint | None:
    """Sign a checkpoint note over every event appended since the last one; the commit then anchors it.

    Raises CustodyLogInconsistent, signing nothing, if the log disagrees with the newest anchored checkpoint.
    """
    take_signer_lease(session, wait=True)  # the window's signer may be signing the same entries in its own commit
    last = latest_checkpoint(session)
    anchored = anchors.latest()
    if anchored is not None and session.info.get(RESTORED_OVER) == (anchored.tree_size, anchored.root):
        anchored = None  # a restore the operator acknowledged continues the log past this lost checkpoint
    frontier = Frontier.from_json(last.frontier) if last else Frontier.empty()
    if last is not None and frontier.root().hex() != last.root_hash:
        raise anchors.refuse(f"the catalog's checkpoint {last.tree_size} does not match its own frontier")
    if anchored is not None and frontier.size >= anchored.tree_size:
        _confirm_anchored_prefix(session, anchored, anchors)
    new_leaves = session.scalars(
        select(CustodyEvent.leaf_hash).where(CustodyEvent.log_index >= frontier.size).order_by(CustodyEvent.log_index)
    )
    for leaf in new_leaves:
        frontier = frontier.append(bytes.fromhex(leaf))
        if anchored is not None and frontier.size == anchored.tree_size and frontier.root() != anchored.root:
            raise anchors.refuse(_disagreement(anchored, frontier.size - 1))
    if anchored is not None and frontier.size < anchored.tree_size:
        raise anchors.refuse(_shortfall(anchored, frontier.size))
    if last is not None and frontier.size == last.tree_size:
        return None
    root = frontier.root()
    note = anchors.sign(frontier.size, root)
    checkpoint = Checkpoint(
        tree_size=frontier.size,
        root_hash=root.hex(),
        frontier=frontier.to_json(),
        signed_at=now or utcnow(),
        key_id=anchors.signer.key_id,
        signature=base64.b64encode(note.signatures[0].signature).decode(),
        note=note.encode(),
    )
    session.add(checkpoint)
    session.flush()
    session.info.setdefault("custody_unanchored", []).append(note)
    return checkpoint


def _disagreement(anchored: AnchoredCheckpoint, last_index: int) -> str:
    return (f"entries 0..{last_index} no longer match checkpoint {anchored.tree_size} anchored at "
            f"{anchored.location}; an entry was altered, removed or reordered")


def _shortfall(anchored: AnchoredCheckpoint, size: int) -> str:
    return (f"the log holds {size} entries but checkpoint {anchored.tree_size} anchored at {anchored.location} "
            f"covers {anchored.tree_size}: entries are missing from the log (a catalog restored from a backup is "
            "brought back with `evault restore`, which reports the gap and has the operator acknowledge it)")


def _confirm_anchored_prefix(session: Session, anchored: AnchoredCheckpoint, anchors: CheckpointAnchors) -> None:
    """Check the catalog holds the anchored checkpoint, recomputing it from the entries if its row is gone."""
    row = session.get(Checkpoint, anchored.tree_size)
    if row is not None:
        if row.root_hash != anchored.root.hex():
            raise anchors.refuse(_disagreement(anchored, anchored.tree_size - 1))
        return
    frontier = Frontier.empty()
    for leaf in stream_leaf_hashes(session, anchored.tree_size):
        frontier = frontier.append(leaf)
    if frontier.size < anchored.tree_size:
        raise anchors.refuse(_shortfall(anchored, frontier.size))
    if frontier.root() != anchored.root:
        raise anchors.refuse(_disagreement(anchored, anchored.tree_size - 1))


def confirm_log_matches_anchors(*, session: Session, anchors: CheckpointAnchors) -> None:
    """Raise CustodyLogInconsistent if the catalog has lost or changed the newest anchored checkpoint (/ready)."""
    anchored = anchors.latest()
    if anchored is not None:
        _confirm_anchored_prefix(session, anchored, anchors)


def anchor_committed(session: Session, anchors: CheckpointAnchors) -> None:
    """Anchor the checkpoints a just-committed transaction signed; a store failure leaves them to the anchor job."""
    for note in session.info.pop("custody_unanchored", []):
        if anchors.store_failing():  # a store that just timed out would hold every request for its timeout
            log.warning("custody.anchor_deferred", checkpoint=note.text.split("\n")[1])
            continue
        try:
            anchors.anchor(note)
        except VaultError as exc:
            log.error("custody.anchor_failed", error=exc.message, checkpoint=note.text.split("\n")[1])


def anchor_latest_checkpoint(*, session: Session, anchors: CheckpointAnchors) -> AnchoredCheckpoint | None:
    """Anchor the newest catalog checkpoint if no anchor covers it yet (the catch-up after a failed anchoring)."""
    last = latest_checkpoint(session)
    anchored = anchors.latest()
    if last is None or last.note is None or (anchored is not None and anchored.tree_size >= last.tree_size):
        return anchored
    if anchored is not None:
        _confirm_anchored_prefix(session, anchored, anchors)
    return anchors.anchor(SignedNote.parse(last.note))


def install_checkpointing(factory: sessionmaker[Session], *, signed_later: Callable[[], None] | None = None) -> None:
    """Make every commit that appended events sign a checkpoint in the same transaction, and anchor it after.

    With `signed_later` (the signing window's `CheckpointSigner.committed`) such a commit signs nothing: it tells
    the signer, which signs and anchors a checkpoint over it within the window.
    """

    # SQLAlchemy fires both commit events when a savepoint is released too: only the outermost commit may sign
    # and anchor, or an anchor (locked for years) could name entries that the outer transaction then rolls back.
    @event.listens_for(factory, "before_commit")
    def _checkpoint(session: Session) -> None:
        if session.in_nested_transaction():
            return
        if session.info.pop("custody_dirty", False):
            anchors = session.info.get("anchors")
            if not isinstance(anchors, CheckpointAnchors):
                raise RuntimeError("session has custody events but no anchors; build it with build_context")
            if signed_later is not None:
                session.info["custody_sign_later"] = True
                return
            write_checkpoint(session=session, anchors=anchors)

    @event.listens_for(factory, "after_commit")
    def _anchor(session: Session) -> None:
        anchors = session.info.get("anchors")
        if isinstance(anchors, CheckpointAnchors) and not session.in_nested_transaction():
            anchor_committed(session, anchors)
            if session.info.pop("custody_sign_later", False) and signed_later is not None:
                signed_later()

    @event.listens_for(factory, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop("custody_dirty", None)
        session.info.pop("custody_unanchored", None)
        session.info.pop("custody_sign_later", None)


def stream_leaf_hashes(session: Session, tree_size: int) -> Generator[bytes, None, None]:
    """Yield the leaf hashes of the first tree_size entries, in log order, from a server-side cursor."""
    rows = session.scalars(
        select(CustodyEvent.leaf_hash).where(CustodyEvent.log_index < tree_size).order_by(CustodyEvent.log_index)
        .execution_options(yield_per=5000)
    )
    with closing(rows):
        for leaf in rows:
            yield bytes.fromhex(leaf)


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
    proof = inclusion_proof(list(stream_leaf_hashes(session, checkpoint.tree_size)), log_index, checkpoint.tree_size)
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
    proof = consistency_proof(list(stream_leaf_hashes(session, new.tree_size)), old.tree_size, new.tree_size)
    return {
        "old": {"tree_size": old.tree_size, "root_hash": old.root_hash, "signature": old.signature},
        "new": {"tree_size": new.tree_size, "root_hash": new.root_hash, "signature": new.signature},
        "proof": [node.hex() for node in proof],
    }


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
