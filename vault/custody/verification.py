"""Verify the whole custody log: every leaf, every catalog checkpoint, and every checkpoint anchored outside it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Generator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from vault.custody.anchoring import AnchoredCheckpoint, CheckpointAnchors, load_anchored
from vault.custody.merkle import MerkleTree, leaf_hash, verify_consistency
from vault.custody.models import Checkpoint, CustodyAction, CustodyEvent
from vault.custody.note import CheckpointText, NoteError, NoteKey, SignedNote
from vault.custody.service import canonical_entry, checkpoint_message
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.keys import verify_signature

RESTORED = str(CustodyAction.VAULT_RESTORED)


@dataclass
class LogVerdict:
    """The outcome of re-checking the whole log: what was checked, what each check relied on, what is wrong."""

    entries: int = 0
    checkpoints: int = 0
    anchored: list[str] = field(default_factory=list)
    unanchored: int = 0
    problems: list[str] = field(default_factory=list)
    # Anchored checkpoints of a branch lost before an acknowledged restore (`vault:restored`): reported, not checked.
    lost: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when nothing was found wrong."""
        return not self.problems


# Every column the leaf hash covers, and the stored hash; read as plain rows, not ORM objects (one per entry of
# a million-entry log made the ORM's bookkeeping most of a verification's time).
_ENTRY_COLUMNS = (CustodyEvent.log_index, CustodyEvent.at, CustodyEvent.actor_id, CustodyEvent.actor_name,
                  CustodyEvent.action, CustodyEvent.subject_type, CustodyEvent.subject_id, CustodyEvent.case_id,
                  CustodyEvent.details, CustodyEvent.leaf_hash)


def _stream_entries(session: Session) -> Generator[Row[Any], None, None]:
    # A server-side cursor on PostgreSQL: close it even when the caller stops early.
    rows = session.connection().execute(select(*_ENTRY_COLUMNS).order_by(CustodyEvent.log_index)
                                        .execution_options(yield_per=5000))
    with closing(rows):
        yield from rows


def audit_log(*, session: Session, actor: Actor, anchors: CheckpointAnchors) -> LogVerdict:
    """Verify the whole log against its catalog checkpoints and every anchored checkpoint (auditors)."""
    require(actor, Permission.READ_AUDIT_LOG)
    return verify_anchored_log(session=session, anchors=anchors)


def verify_anchored_log(*, session: Session, anchors: CheckpointAnchors) -> LogVerdict:
    """Read every anchor from the store, then verify the whole log against the catalog and those anchors."""
    anchored, problems = load_anchored(anchors.store, list(anchors.public_keys.values()))
    return verify_log(session=session, public_key_raw=anchors.signer.public_raw, anchored=anchored,
                      anchor_problems=problems, retired_keys=anchors.retired_keys)


@dataclass
class _Walk:
    """State while walking the log once: the tree so far and the checkpoints still ahead."""

    verdict: LogVerdict
    public_key_raw: bytes
    retired_keys: Mapping[str, bytes]
    catalog: list[Checkpoint]
    anchored: dict[int, AnchoredCheckpoint]
    tree: MerkleTree = field(default_factory=MerkleTree)
    signed_size: int = 0  # the last catalog checkpoint that verified
    catalog_size: int = 0  # the last catalog checkpoint reached, verified or not
    catalog_failed: bool = False
    anchored_size: int = 0  # the last anchored checkpoint that matched
    anchor_failed: AnchoredCheckpoint | None = None
    later_failures: int = 0
    broken: bool = False  # entries are missing: roots after the gap cannot be recomputed
    superseded: range = range(0)  # anchored sizes on the branch an acknowledged restore left behind


def verify_log(
    *, session: Session, public_key_raw: bytes, anchored: Sequence[AnchoredCheckpoint] = (),
    anchor_problems: Sequence[str] = (), retired_keys: Mapping[str, bytes] | None = None,
) -> LogVerdict:
    """Recompute every leaf and root; check them against catalog checkpoints and every anchored checkpoint."""
    walk = _Walk(verdict=LogVerdict(problems=list(anchor_problems)), public_key_raw=public_key_raw,
                 retired_keys=retired_keys or {},
                 catalog=list(session.scalars(select(Checkpoint).order_by(Checkpoint.tree_size))),
                 anchored={a.tree_size: a for a in anchored})
    catalog_sizes = {c.tree_size for c in walk.catalog}
    pending = iter(walk.catalog)
    next_checkpoint = next(pending, None)
    with closing(_stream_entries(session)) as entries:
        for entry in entries:
            _check_entry(walk, entry)
            while next_checkpoint is not None and next_checkpoint.tree_size <= walk.tree.size:
                _check_catalog_checkpoint(walk, next_checkpoint)
                next_checkpoint = next(pending, None)
            if walk.tree.size in walk.anchored:
                _check_anchor(walk, walk.anchored[walk.tree.size])
    _finish(walk, next_checkpoint, catalog_sizes)
    return walk.verdict


def _check_entry(walk: _Walk, entry: Row[Any]) -> None:
    verdict, size = walk.verdict, walk.tree.size
    if entry.log_index != size and not walk.broken:
        missing = _span(size, entry.log_index - 1)
        verdict.problems.append(f"{missing} missing (the next entry found is {entry.log_index})")
        walk.broken = True
    stored = bytes.fromhex(entry.leaf_hash)
    if leaf_hash(canonical_entry(entry)) != stored:
        verdict.problems.append(f"entry {entry.log_index} was altered: its content does not match its leaf hash")
    walk.tree.append(stored)
    verdict.entries += 1
    if entry.action == RESTORED and isinstance(entry.details, dict):
        lost = entry.details.get("lost_checkpoints")
        if isinstance(lost, list) and len(lost) == 2 and all(isinstance(size, int) for size in lost):
            walk.superseded = range(lost[0], lost[1] + 1)


def _span(first: int, last: int) -> str:
    return f"entry {first} is" if first == last else f"entries {first}..{last} are"


def _check_catalog_checkpoint(walk: _Walk, checkpoint: Checkpoint) -> None:
    walk.catalog_size = max(walk.catalog_size, checkpoint.tree_size)
    if walk.broken or checkpoint.tree_size != walk.tree.size:
        return
    root = walk.tree.root()
    if walk.catalog_failed and root.hex() != checkpoint.root_hash:
        return  # every root after the first mismatch differs too; the first one names the range
    problem = _check_checkpoint(checkpoint, root, signing_key_of(checkpoint, walk.public_key_raw, walk.retired_keys),
                                walk.signed_size)
    if problem:
        walk.catalog_failed = walk.catalog_failed or root.hex() != checkpoint.root_hash
        walk.verdict.problems.append(problem)
        return
    walk.verdict.checkpoints += 1
    walk.signed_size = checkpoint.tree_size


def _check_anchor(walk: _Walk, anchored: AnchoredCheckpoint) -> None:
    verdict, size = walk.verdict, anchored.tree_size
    if walk.broken:
        return
    if size in walk.superseded:
        verdict.lost.append(f"checkpoint {size}: anchored at {anchored.location}, on the branch lost before the "
                            f"restore at entry {walk.superseded.start - 1} (acknowledged)")
        return
    if walk.tree.root() != anchored.root:
        if walk.anchor_failed is None:
            walk.anchor_failed = anchored
            verdict.problems.append(
                f"entries {walk.anchored_size}..{size - 1} do not match checkpoint {size} anchored at "
                f"{anchored.location}: at least one of them was altered, removed or reordered")
        else:
            walk.later_failures += 1
        return
    if walk.anchor_failed is None and walk.anchored_size:
        previous = walk.anchored[walk.anchored_size]
        proof = walk.tree.consistency_proof(walk.anchored_size, size)
        if not verify_consistency(old_size=walk.anchored_size, new_size=size, old_root=previous.root,
                                  new_root=anchored.root, proof=proof):
            verdict.problems.append(f"anchored checkpoints {walk.anchored_size} and {size} are not consistent")
    verdict.anchored.append(f"checkpoint {size}: anchored at {anchored.location}")
    walk.anchored_size = size


def _finish(walk: _Walk, next_checkpoint: Checkpoint | None, catalog_sizes: set[int]) -> None:
    verdict, size = walk.verdict, walk.tree.size
    if walk.later_failures:
        verdict.problems.append(f"{walk.later_failures} later anchored checkpoints fail with it")
    beyond = [a for s, a in sorted(walk.anchored.items()) if s > size]
    if beyond:
        newest = beyond[-1]
        verdict.problems.append(f"entries {size}..{newest.tree_size - 1} are missing: checkpoint {newest.tree_size} "
                                f"is anchored at {newest.location} but the catalog holds {size} entries")
    for anchored in sorted(walk.anchored.values(), key=lambda a: a.tree_size):
        if anchored.tree_size not in catalog_sizes and anchored.tree_size not in walk.superseded:
            verdict.problems.append(f"checkpoint {anchored.tree_size} is anchored at {anchored.location} "
                                    "but missing from the catalog")
    if next_checkpoint is not None and not beyond:
        verdict.problems.append(
            f"entries {size}..{next_checkpoint.tree_size - 1} are missing: "
            f"checkpoint {next_checkpoint.tree_size} covers more entries than the log holds"
        )
    elif not walk.broken and size > walk.catalog_size and next_checkpoint is None:
        verdict.problems.append(f"{_span(walk.catalog_size, size - 1)} not covered by any signed checkpoint")
    if walk.superseded and walk.anchored_size < walk.superseded.stop:
        # Only the restoring vault, holding the key, can sign past a lost branch; a restore record no anchored
        # checkpoint of ours covers may have been written into the catalog by someone else.
        verdict.problems.append(f"the restore recorded at entry {walk.superseded.start - 1} is not covered by any "
                                f"anchored checkpoint past the lost branch (which ends at {walk.superseded.stop - 1})")
    newest_anchor = max(walk.anchored, default=0)
    verdict.unanchored = sum(1 for s in catalog_sizes if s > newest_anchor)


def _check_checkpoint(checkpoint: Checkpoint, root: bytes, public_key_raw: bytes, previous_size: int) -> str | None:
    if root.hex() != checkpoint.root_hash:
        return (
            f"entries {previous_size}..{checkpoint.tree_size - 1} do not match signed checkpoint "
            f"{checkpoint.tree_size}: an entry there was altered, removed or reordered"
        )
    if not _checkpoint_signed(checkpoint, root, public_key_raw):
        return f"checkpoint {checkpoint.tree_size} has an invalid signature"
    return None


def signing_key_of(checkpoint: Checkpoint, public_key_raw: bytes, retired_keys: Mapping[str, bytes]) -> bytes:
    """Return the key a checkpoint names as its signer: a retired key by its id, else the current key."""
    return retired_keys.get(checkpoint.key_id, public_key_raw)


def checkpoint_signed(checkpoint: Checkpoint, public_key_raw: bytes) -> bool:
    """Return whether the vault's key signed this checkpoint over its own size and root."""
    return _checkpoint_signed(checkpoint, bytes.fromhex(checkpoint.root_hash), public_key_raw)


def _checkpoint_signed(checkpoint: Checkpoint, root: bytes, public_key_raw: bytes) -> bool:
    if checkpoint.note is None:  # signed before anchoring existed
        message = checkpoint_message(checkpoint.tree_size, root, checkpoint.signed_at)
        return verify_signature(public_key_raw, base64.b64decode(checkpoint.signature), message)
    try:
        note = SignedNote.parse(checkpoint.note)
        body = CheckpointText.parse(note.text)
        key = NoteKey(name=body.origin, public_raw=public_key_raw)
    except NoteError:
        return False
    try:
        column = verify_signature(public_key_raw, base64.b64decode(checkpoint.signature), note.text.encode())
    except binascii.Error:
        return False
    return column and body.tree_size == checkpoint.tree_size and body.root == root and note.verified_by(key) is not None
