"""What happened after a backup, as the store tells it: checkpoints anchored past the backup's newest one (log
entries the restored catalog has lost) and originals no catalog row names (footage acknowledged after it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from vault.custody.anchoring import CHECKPOINT_PREFIX, AnchoredCheckpoint, CheckpointAnchors, anchor_name, read_anchor
from vault.custody.models import CustodyAction
from vault.custody.note import NoteError
from vault.custody.service import RESTORED_OVER, record_event
from vault.errors import Conflict
from vault.evidence.models import Evidence
from vault.exports.models import ExportCopy
from vault.identities.actor import Actor
from vault.reconciliation.service import version_batches
from vault.storage.base import DERIVATIVES_PREFIX, BlobStore, StoredVersion

ANCHOR_AREA = CHECKPOINT_PREFIX.split("/")[0] + "/"  # every anchor (checkpoints, cosignatures, time-stamps)


@dataclass(frozen=True)
class AnchorGap:
    """The backup's log size against the newest checkpoint anchored in the store."""

    catalog_size: int
    catalog_root: str | None
    newest: AnchoredCheckpoint | None

    @property
    def lost_entries(self) -> int:
        """Return how many log entries the anchors prove were appended after the backup."""
        return max(0, (self.newest.tree_size if self.newest else 0) - self.catalog_size)

    def describe(self) -> str:
        """Say, in one line, what the anchors show."""
        if self.newest is not None and self.newest.tree_size < self.catalog_size:
            return (f"the store's anchors end at checkpoint {self.newest.tree_size}, before the backup's "
                    f"{self.catalog_size} (anchoring was behind when the backup was made; the anchor job catches up): "
                    "no log entry is lost")
        if not self.lost_entries or self.newest is None:
            return f"the store's anchors end at the backup's checkpoint {self.catalog_size}: no log entry is lost"
        first, last = self.catalog_size, self.newest.tree_size - 1
        lost = f"entry {first} is" if first == last else f"entries {first}..{last} are"
        return (f"the custody log grew by {self.lost_entries} {'entry' if self.lost_entries == 1 else 'entries'} "
                f"after the backup: checkpoint {self.newest.tree_size} (root {self.newest.root.hex()[:16]}…) is "
                f"anchored at {self.newest.location}, the backup holds {self.catalog_size} entries; {lost} lost from "
                "the catalog (the first is this backup's own record, written after the copy)")


def _anchor_of_size(store: BlobStore, size: int, public_keys: list[bytes]) -> AnchoredCheckpoint | None:
    for stored in store.list_anchors(anchor_name(size)):
        try:
            return read_anchor(stored, public_keys)
        except NoteError as exc:
            raise Conflict(f"the store's anchor of checkpoint {size} is unreadable: {exc.message}") from exc
    return None


def find_anchor_gap(anchors: CheckpointAnchors, checkpoint: dict[str, Any] | None, entries: int) -> AnchorGap:
    """Compare the backup's newest checkpoint with the store's anchors; refuse a backup of another log."""
    size = checkpoint["tree_size"] if checkpoint else 0
    root = checkpoint["root_hash"] if checkpoint else None
    if entries != size:
        raise Conflict(f"the backup's catalog holds {entries} log entries but its newest checkpoint covers {size}")
    newest = anchors.latest()
    if newest is None and size:
        raise Conflict(f"the store holds no anchored checkpoint, but the backup's log holds {size} entries: this is "
                       "not the store the backup's vault wrote to")
    same = _anchor_of_size(anchors.store, size, list(anchors.public_keys.values())) if size else None
    if same is not None and same.root.hex() != root:
        raise Conflict(f"checkpoint {size} anchored at {same.location} disagrees with the backup's: the backup is not "
                       "of the log this store anchors")
    return AnchorGap(catalog_size=size, catalog_root=root, newest=newest)


def unknown_originals(*, session: Session, store: BlobStore) -> list[StoredVersion]:
    """Return the stored originals (and retained export copies) that no catalog row names, oldest first."""
    originals = (v for v in store.list_versions()
                 if not v.key.startswith(DERIVATIVES_PREFIX) and not v.key.startswith(ANCHOR_AREA))
    unknown: list[StoredVersion] = []
    for batch in version_batches(originals):
        keys = [(v.key, v.version_id) for v in batch]
        rows = [*session.execute(select(Evidence.storage_key, Evidence.version_id)
                                 .where(tuple_(Evidence.storage_key, Evidence.version_id).in_(keys))),
                *session.execute(select(ExportCopy.retained_key, ExportCopy.retained_version_id)
                                 .where(tuple_(ExportCopy.retained_key, ExportCopy.retained_version_id).in_(keys)))]
        named = {(key, version) for key, version in rows}
        unknown += [v for v in batch if (v.key, v.version_id) not in named]
    return sorted(unknown, key=lambda v: v.modified)


def continue_log(*, session: Session, actor: Actor, gap: AnchorGap, backup_digest: str, backup_created_at: str,
                 unknown: list[StoredVersion], now: datetime) -> None:
    """Record the restore, then mark each lost entry, so the next checkpoint lies past every lost anchored one."""
    newest = gap.newest
    lost = gap.lost_entries
    details: dict[str, Any] = {
        "backup_manifest_sha256": backup_digest, "backup_created_at": backup_created_at,
        "restored_entries": gap.catalog_size, "lost_entries": lost,
        "unknown_originals": len(unknown), "unknown_original_keys": [v.key for v in unknown[:50]]}
    if newest is not None and lost:
        session.info[RESTORED_OVER] = (newest.tree_size, newest.root)
        details |= {"lost_checkpoints": [gap.catalog_size + 1, newest.tree_size],
                    "lost_anchor": {"tree_size": newest.tree_size, "root_hash": newest.root.hex(),
                                    "location": newest.location}}
    record_event(session=session, actor=actor, action=CustodyAction.VAULT_RESTORED, subject_type="vault",
                 subject_id=backup_digest, details=details, now=now)
    for index in range(gap.catalog_size, gap.catalog_size + lost):
        record_event(session=session, actor=actor, action=CustodyAction.VAULT_LOG_ENTRY_LOST, subject_type="vault",
                     subject_id=backup_digest, details={"lost_index": index}, now=now)
