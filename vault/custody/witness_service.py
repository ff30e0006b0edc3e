"""This vault as a witness of other logs: check a submitted checkpoint and cosign it (c2sp.org/tlog-witness).

The check of the old size against the latest cosigned checkpoint and the update of it are one atomic step:
on PostgreSQL under an advisory lock per origin (a first submission has no row to lock yet), on SQLite under
the write lock every transaction takes when it begins.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import text
from sqlalchemy.orm import Session

from vault.custody.merkle import EMPTY_ROOT, verify_consistency
from vault.custody.models import CustodyAction
from vault.custody.note import (
    COSIGNATURE_V1,
    CheckpointText,
    Ed25519Signing,
    NoteError,
    NoteKey,
    NoteSignature,
    cosign_note,
)
from vault.custody.service import record_event
from vault.custody.witness import AddCheckpoint
from vault.custody.witness_models import WitnessedLog
from vault.errors import Conflict, NotFound, PermissionDenied, VaultError
from vault.identities.actor import Actor

log = structlog.get_logger(__name__)


class WitnessOff(NotFound):
    """No witness name is configured: this vault witnesses nobody."""

    code = "witness_off"


class MalformedSubmission(VaultError):
    """The add-checkpoint body does not parse, or its old size is larger than the checkpoint."""

    code = "invalid_submission"
    status = 400


class UnknownLog(NotFound):
    """The checkpoint's origin is not a log this witness trusts."""

    code = "unknown_log"


class UntrustedSignature(PermissionDenied):
    """None of the checkpoint's signatures verifies with a key trusted for its origin."""

    code = "untrusted_signature"


class SizeConflict(Conflict):
    """The old size is not the size last cosigned (or the same size came with another root)."""

    code = "size_conflict"

    def __init__(self, message: str, *, size: int) -> None:
        super().__init__(message, details={"size": size})
        self.size = size


class InconsistentCheckpoint(VaultError):
    """The consistency proof does not verify: the log may have rewritten history."""

    code = "inconsistent_checkpoint"
    status = 422


@dataclass(frozen=True)
class WitnessIdentity:
    """Who this witness is: its name and the Ed25519 key it cosigns with."""

    name: str
    signer: Ed25519Signing

    @property
    def key(self) -> NoteKey:
        """Return the cosignature/v1 verifier key others configure for this witness."""
        return NoteKey(name=self.name, public_raw=self.signer.public_raw, kind=COSIGNATURE_V1)


def witness_identity(*, name: str, signer: Ed25519Signing) -> WitnessIdentity:
    """Return this vault's witness identity, or raise WitnessOff when no witness name is configured."""
    if not name:
        raise WitnessOff("this vault does not act as a witness (EVAULT_WITNESS_NAME is empty)")
    return WitnessIdentity(name=name, signer=signer)


def _lock_origin(session: Session, origin: str) -> None:
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(b"witness\n" + origin.encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _parse(body: bytes, trusted: Sequence[NoteKey]) -> tuple[AddCheckpoint, CheckpointText]:
    try:
        submission = AddCheckpoint.parse(body)
        checkpoint = CheckpointText.parse(submission.note.text)
    except NoteError as exc:
        raise MalformedSubmission(exc.message) from exc
    keys, origin_text = [key for key in trusted if key.name == checkpoint.origin], checkpoint.origin[:128]
    if not keys:
        raise UnknownLog(f"this witness does not know the log {origin_text!r}")
    if not any(submission.note.verified_by(key) for key in keys):
        raise UntrustedSignature(f"no signature on the checkpoint verifies with a key trusted for {origin_text!r}")
    if submission.old_size > checkpoint.tree_size:
        raise MalformedSubmission(
            f"old size {submission.old_size} is larger than the checkpoint's size {checkpoint.tree_size}"
        )
    return submission, checkpoint


def cosign_checkpoint(
    *, session: Session, body: bytes, identity: WitnessIdentity, trusted: Sequence[NoteKey], now: datetime
) -> NoteSignature:
    """Check an add-checkpoint submission against the latest cosigned checkpoint of its log and cosign it."""
    submission, checkpoint = _parse(body, trusted)
    origin = checkpoint.origin
    _lock_origin(session, origin)
    held = session.get(WitnessedLog, origin, populate_existing=True)
    held_size, held_root = (held.tree_size, bytes.fromhex(held.root_hash)) if held else (0, EMPTY_ROOT)
    facts = {"tree_size": checkpoint.tree_size, "root_hash": checkpoint.root.hex(), "old_size": submission.old_size,
             "held_size": held_size, "checkpoint": submission.note.encode()}
    if submission.old_size != held_size:
        raise SizeConflict(f"this witness holds size {held_size} of {origin!r}", size=held_size)
    consistent = verify_consistency(old_size=held_size, new_size=checkpoint.tree_size, old_root=held_root,
                                    new_root=checkpoint.root, proof=submission.proof)
    if not consistent:
        # Signed by the log yet not an extension of what we cosigned: evidence of a forked or rewritten log.
        _record(session, CustodyAction.WITNESS_REFUSED, origin, facts, now)
        same_size = checkpoint.tree_size == held_size and not submission.proof
        error: VaultError = (
            SizeConflict(f"size {held_size} of {origin!r} was cosigned with another root hash", size=held_size)
            if same_size
            else InconsistentCheckpoint(f"the consistency proof from size {held_size} of {origin!r} does not verify")
        )
        error.record_kept = True
        log.warning("witness.refused", origin=origin, tree_size=checkpoint.tree_size, held_size=held_size)
        raise error
    signature = cosign_note(submission.note.text, name=identity.name, signer=identity.signer,
                            timestamp=int(now.timestamp()))
    _remember(session, held, origin, checkpoint, submission.note.with_signatures(signature).encode(), now)
    _record(session, CustodyAction.WITNESS_COSIGNED, origin, facts, now)
    log.info("witness.cosigned", origin=origin, tree_size=checkpoint.tree_size, old_size=held_size)
    return signature


def _remember(
    session: Session, held: WitnessedLog | None, origin: str, checkpoint: CheckpointText, note: str, now: datetime
) -> None:
    row = held or WitnessedLog(origin=origin)
    row.tree_size, row.root_hash, row.checkpoint, row.cosigned_at = (
        checkpoint.tree_size, checkpoint.root.hex(), note, now)
    session.add(row)
    session.flush()


def _record(session: Session, action: CustodyAction, origin: str, facts: dict[str, object], now: datetime) -> None:
    # The submitting log is the actor: its signature, not a session, authenticated the request.
    record_event(session=session, actor=Actor(id=None, name=origin, role=None), action=action,
                 subject_type="witnessed_log", subject_id=origin, details=facts, now=now)

