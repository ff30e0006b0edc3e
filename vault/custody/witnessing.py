"""Send anchored checkpoints to witnesses and a time-stamping authority, and anchor what they return.

A witness's cosigned note and a TSA's token are anchored beside the checkpoint they vouch for, write-once:
`custody/witnessed/<witness>/<inverted size>-<size>` and `custody/timestamps/<inverted time>-<size>`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import structlog
from sqlalchemy.orm import Session

from vault.custody.anchoring import AnchoredCheckpoint, CheckpointAnchors, anchor_name
from vault.custody.merkle import MerkleTree
from vault.custody.service import stream_leaf_hashes
from vault.custody.witness import Witness, submit_checkpoint
from vault.errors import VaultError
from vault.timestamping import request_timestamp

log = structlog.get_logger(__name__)

WITNESSED_PREFIX = "custody/witnessed/"
TIMESTAMP_PREFIX = "custody/timestamps/"
TIMESTAMP_EVERY = timedelta(days=1)
_TIME_DIGITS = 12


def _witness_folder(witness: Witness) -> str:
    return WITNESSED_PREFIX + re.sub(r"[^A-Za-z0-9._-]", "_", witness.name) + "/"


def witnessed_name(witness: Witness, tree_size: int) -> str:
    """Return where a witness's cosigned checkpoint is anchored: newest first, like the checkpoints."""
    return _witness_folder(witness) + anchor_name(tree_size).rsplit("/", 1)[1]


def _size_of(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


def last_witnessed_size(anchors: CheckpointAnchors, witness: Witness) -> int:
    """Return the largest tree size this witness has cosigned for us (0 if none)."""
    newest = next(iter(anchors.store.list_anchors(_witness_folder(witness), limit=1)), None)
    return _size_of(newest.name) if newest is not None else 0


@dataclass
class _Tree:
    """The log's Merkle tree, read from the catalog only if some witness needs a consistency proof."""

    session: Session
    size: int
    tree: MerkleTree | None = field(default=None)

    def proof(self, old_size: int) -> list[bytes]:
        if old_size == 0:
            return []
        if self.tree is None:
            self.tree = MerkleTree()
            for leaf in stream_leaf_hashes(self.session, self.size):
                self.tree.append(leaf)
        return self.tree.consistency_proof(old_size, self.size)


def witness_checkpoint(
    *, session: Session, anchors: CheckpointAnchors, anchored: AnchoredCheckpoint, witnesses: Sequence[Witness],
    client: httpx.Client,
) -> dict[str, str]:
    """Ask each witness to cosign the anchored checkpoint (c2sp.org/tlog-witness) and anchor each cosigned note."""
    tree, outcome = _Tree(session, anchored.tree_size), {}
    for witness in witnesses:
        try:
            outcome[witness.name] = _cosign(anchors, anchored, witness, tree, client)
        except VaultError as exc:
            log.error("custody.witness_failed", witness=witness.name, error=exc.message)
            outcome[witness.name] = f"failed: {exc.message}"
    return outcome


def _cosign(anchors: CheckpointAnchors, anchored: AnchoredCheckpoint, witness: Witness, tree: _Tree,
            client: httpx.Client) -> str:
    old = last_witnessed_size(anchors, witness)
    for _ in range(2):  # a witness that knows another size says which (409); one retry with that size
        if old >= anchored.tree_size:
            return f"already cosigned size {old}"
        reply = submit_checkpoint(witness, note=anchored.note, old_size=old, proof=tree.proof(old), client=client)
        if reply.conflict_size is None:
            cosigned = anchored.note.with_signatures(*reply.cosignatures)
            stored = anchors.anchor_bytes(witnessed_name(witness, anchored.tree_size), cosigned.encode().encode())
            log.info("custody.witnessed", witness=witness.name, tree_size=anchored.tree_size, location=stored)
            return f"cosigned size {anchored.tree_size}, anchored at {stored}"
        old = reply.conflict_size
    return f"the witness holds size {old}; retried once"


def timestamp_due(anchors: CheckpointAnchors, now: datetime) -> bool:
    """Return True when no checkpoint was time-stamped in the last day."""
    newest = next(iter(anchors.store.list_anchors(TIMESTAMP_PREFIX, limit=1)), None)
    if newest is None:
        return True
    stamped_at = 10**_TIME_DIGITS - 1 - int(newest.name.removeprefix(TIMESTAMP_PREFIX).split("-", 1)[0])
    return bool(now.timestamp() - stamped_at >= TIMESTAMP_EVERY.total_seconds())


def timestamp_checkpoint(
    *, anchors: CheckpointAnchors, anchored: AnchoredCheckpoint, url: str, ca_pem: bytes | None, client: httpx.Client
) -> str:
    """Get an RFC 3161 time-stamp over the anchored checkpoint note and anchor the token beside it."""
    stamp = request_timestamp(url=url, data=anchored.note.encode().encode(), ca_pem=ca_pem, client=client)
    inverted = 10**_TIME_DIGITS - 1 - int(stamp.gen_time.timestamp())
    name = f"{TIMESTAMP_PREFIX}{inverted:0{_TIME_DIGITS}d}-{anchored.tree_size}"
    stored = anchors.anchor_bytes(name, stamp.token)
    log.info("custody.timestamped", tree_size=anchored.tree_size, gen_time=stamp.gen_time.isoformat(),
             location=stored)
    return f"size {anchored.tree_size} time-stamped at {stamp.gen_time.isoformat()}, anchored at {stored}"
