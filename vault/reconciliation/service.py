"""Reconcile the store with the catalog after a crash: lock what is committed, remove what nothing refers to.

Every write follows one order: finish (unlocked), commit the row that names the object, lock. A crash leaves
one of three states, each finished or undone here: a committed row whose object is unlocked (locked now), an
unlocked object no row names (removed once older than the grace, which covers writes still on their way to
the catalog), or an unfinished write (aborted). A locked object no row names cannot be removed by anyone: it
is reported, and the write order above is what keeps their count at zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from vault.errors import NotFound, ObjectLocked
from vault.evidence.models import Derivative, Evidence
from vault.exports.models import ExportCopy
from vault.storage.base import BlobStore, StoredVersion

log = structlog.get_logger(__name__)
BATCH = 500


@dataclass
class StoreReconciliation:
    """What one pass found and did."""

    checked: int = 0
    locked: int = 0
    removed: int = 0
    aborted: int = 0
    locked_orphans: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """Return the pass as a job summary."""
        return {"checked": self.checked, "locked": self.locked, "removed": self.removed, "aborted": self.aborted,
                "locked_orphans": len(self.locked_orphans), "locked_orphan_keys": self.locked_orphans[:20]}


def _retention_of(session: Session, versions: list[StoredVersion], export_days: int) -> dict[tuple[str, str], datetime]:
    """Return, for each listed version a catalog row names, the retention its row asks for."""
    keys = [(v.key, v.version_id) for v in versions]
    found: dict[tuple[str, str], datetime] = {}
    rows = session.execute(select(Evidence.storage_key, Evidence.version_id, Evidence.store_retain_until)
                           .where(tuple_(Evidence.storage_key, Evidence.version_id).in_(keys)))
    found.update({(key, version): until for key, version, until in rows})
    # A derived file asks for its own short lock; one made before it had one, for its original's.
    derived = session.execute(select(Derivative.storage_key, Derivative.version_id, Derivative.retain_until,
                                     Evidence.store_retain_until)
                              .join(Evidence, Evidence.id == Derivative.evidence_id)
                              .where(tuple_(Derivative.storage_key, Derivative.version_id).in_(keys)))
    found.update({(key, version): own or original for key, version, own, original in derived})
    rows = session.execute(select(ExportCopy.retained_key, ExportCopy.retained_version_id, ExportCopy.completed_at)
                           .where(tuple_(ExportCopy.retained_key, ExportCopy.retained_version_id).in_(keys)))
    found.update({(key, version): done + timedelta(days=export_days) for key, version, done in rows})
    return found


def _is_locked(store: BlobStore, version: StoredVersion) -> bool:
    try:
        stat = store.stat(version.key, version.version_id)
    except NotFound:  # a finished local write not yet moved into its place
        return False
    return stat.retain_until is not None or stat.legal_hold


def version_batches(versions: Iterable[StoredVersion]) -> Iterable[list[StoredVersion]]:
    """Group stored versions in lists of BATCH, so each list is looked up in the catalog with one query."""
    batch: list[StoredVersion] = []
    for version in versions:
        batch.append(version)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def reconcile_store(
    *, session: Session, store: BlobStore, now: datetime, grace: timedelta, lookback: timedelta | None,
    export_copy_days: int,
) -> StoreReconciliation:
    """Lock committed objects still unlocked, abort unfinished writes and remove unlocked objects no row names.

    Only objects written within `lookback` are checked (None: all). Reads the catalog; changes only the store.
    """
    report = StoreReconciliation()
    since = now - lookback if lookback is not None else None
    unreferenced: list[StoredVersion] = []
    for batch in version_batches(store.list_versions(since=since)):
        wanted = _retention_of(session, batch, export_copy_days)
        for version in batch:
            report.checked += 1
            locked = _is_locked(store, version)
            until = wanted.get((version.key, version.version_id))
            if until is not None and not locked:
                store.lock(version.key, version.version_id, max(until, now + timedelta(minutes=1)))
                report.locked += 1
                log.warning("reconcile.locked_committed", key=version.key, version_id=version.version_id)
            elif until is None and locked:
                report.locked_orphans.append(version.key)
                log.error("reconcile.locked_orphan", key=version.key, version_id=version.version_id)
            elif until is None and version.modified < now - grace:
                unreferenced.append(version)
    report.aborted = store.abort_incomplete(older_than=now - grace)
    for version in unreferenced:
        try:
            store.delete(version.key, version.version_id)
        except (NotFound, ObjectLocked):  # gone with the aborted writes, or locked meanwhile by its writer
            continue
        report.removed += 1
        log.warning("reconcile.removed_unreferenced", key=version.key, version_id=version.version_id)
    return report
