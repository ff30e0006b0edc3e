"""Bring a backup up on a fresh host against the same store: every check first, then keys, catalog, migrations,
the acknowledged continuation of the custody log, and the home's record. A refusal leaves nothing installed."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import structlog
from sqlalchemy.orm import Session, sessionmaker

from evault.backup.archive import SETTINGS_PART, Backup, restore_settings, unpack_backup
from evault.backup.catalog import load_catalog
from evault.backup.gap import AnchorGap, continue_log, find_anchor_gap, unknown_originals
from evault.homes import has_vault, record_home
from evault.migrate import current_revisions, upgrade_database
from vault.config import Settings
from vault.context import build_context
from vault.custody.anchoring import CheckpointAnchors, default_origin
from vault.custody.note import SignedNote
from vault.custody.service import latest_checkpoint
from vault.db import transaction
from vault.errors import Conflict, StorageError
from vault.identities.actor import Actor
from vault.keys import load_retired_keys, load_signer, recorded_origin
from vault.storage.base import BlobStore, StoredVersion
from vault.storage.factory import make_blob_store

log = structlog.get_logger(__name__)


class GapNotAcknowledged(Conflict):
    """The anchors prove log entries were lost after the backup, and the operator has not acknowledged how many."""

    code = "restore_gap_not_acknowledged"


@dataclass
class RestoreReport:
    """What a restore did and what it found missing."""

    backup: Backup
    gap: AnchorGap
    revisions_before: list[str]
    revisions_after: list[str]
    unknown: list[StoredVersion] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)  # settings unlike the backed-up vault's (not refused)


def _check_same_store(backup: Backup, settings: Settings) -> list[str]:
    """Refuse another store or log origin; return the other settings that differ, for the operator to check."""
    was = json.loads(backup.part(SETTINGS_PART).read_text(encoding="utf-8"))
    now = restore_settings(settings)
    for name in ("store", "s3_bucket") if was["store"] == "s3" else ("store",):
        if was[name] != now[name]:
            raise Conflict(f"the backup's vault used {name}={was[name]!r} but this host is configured with "
                           f"{now[name]!r}: restore against the same store", details={"setting": name})
    if was["log_origin"] != now["log_origin"]:
        raise Conflict(f"the backup's custody log origin is {was['log_origin']!r}; set EVAULT_LOG_ORIGIN to it")
    names = ("agency_name", "timezone") + (("s3_endpoint", "s3_secure", "s3_lock_mode") if was["store"] == "s3" else ())
    return [f"EVAULT_{name.upper()} was {was[name]!r}, is {now[name]!r}" for name in names if was[name] != now[name]]


def _install_keys(backup: Backup, keys_dir: Path) -> None:
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(keys_dir, 0o700)
    for name in sorted(n for n in backup.manifest["parts"] if n.startswith("keys/")):
        target = keys_dir / Path(name).relative_to("keys")
        target.parent.mkdir(exist_ok=True, mode=0o700)
        os.chmod(backup.part(name), 0o600)
        os.replace(backup.part(name), target)


def _check_before_installing(settings: Settings, backup: Backup, store: BlobStore,
                             accept_lost: int | None) -> tuple[AnchorGap, list[str]]:
    differing = _check_same_store(backup, settings)
    signer = load_signer(backup.part("keys"))
    origin = settings.log_origin or recorded_origin(backup.part("keys")) or default_origin(signer)
    anchors = CheckpointAnchors(store=store, signer=signer, origin=origin,
                                retired_keys=load_retired_keys(backup.part("keys")))
    catalog = backup.manifest["catalog"]
    gap = find_anchor_gap(anchors, catalog["checkpoint"], catalog["custody_entries"])
    if gap.lost_entries and accept_lost != gap.lost_entries:
        given = "none" if accept_lost is None else str(accept_lost)
        raise GapNotAcknowledged(f"{gap.describe()}. Nothing was restored. To restore without them, acknowledge "
                                 f"the loss: --accept-lost-entries {gap.lost_entries} (given: {given})",
                                 details={"lost_entries": gap.lost_entries})
    return gap, differing


class RestoreNotAnchored(StorageError):
    """The continued log's first checkpoint could not be anchored: the vault would refuse to sign after it."""

    code = "restore_not_anchored"


def _anchor_continuation(sessions: sessionmaker[Session], anchors: CheckpointAnchors) -> None:
    """Anchor the continued log's checkpoint now if its commit could not (the anchor job would refuse to)."""
    with sessions() as session:
        newest = latest_checkpoint(session)
    anchored = anchors.latest()
    if newest is None or newest.note is None or (anchored is not None and anchored.tree_size >= newest.tree_size):
        return
    try:
        anchors.anchor(SignedNote.parse(newest.note))
    except StorageError as exc:
        raise RestoreNotAnchored(f"the restored log's checkpoint {newest.tree_size} could not be anchored "
                                 f"({exc.message}); the catalog and keys are in place but the vault will not sign "
                                 "after the lost branch: empty the home and the database and restore again once "
                                 "the store answers") from exc


def restore_vault(settings: Settings, source: BinaryIO, *, passphrase: bytes, accept_lost: int | None,
                  actor: Actor, now: datetime) -> RestoreReport:
    """Restore a backup into this host's empty home and catalog, against the configured store; report the gap."""
    if has_vault(settings):
        raise Conflict(f"{settings.home} already holds a vault (its signing key); restore only onto a fresh home")
    settings.home.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".restore-", dir=settings.home))
    try:
        backup = unpack_backup(source, passphrase=passphrase, folder=folder)
        store = make_blob_store(settings)
        store.check()
        gap, differing = _check_before_installing(settings, backup, store, accept_lost)
        catalog = backup.manifest["catalog"]
        load_catalog(settings.resolved_database_url, backup.part(catalog["part"]), catalog["kind"])
        _install_keys(backup, settings.keys_dir)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    settings.objects_dir.mkdir(parents=True, exist_ok=True)
    context = build_context(settings, store=store)
    try:
        before = current_revisions(context.engine)
        upgrade_database(context.engine)
        report = RestoreReport(backup=backup, gap=gap, revisions_before=before,
                               revisions_after=current_revisions(context.engine), differing=differing)
        with transaction(context.sessions) as session:
            report.unknown = unknown_originals(session=session, store=store)
            continue_log(session=session, actor=actor, gap=gap, backup_digest=backup.digest,
                         backup_created_at=str(backup.manifest["created_at"]), unknown=report.unknown, now=now)
        _anchor_continuation(context.sessions, context.anchors)
        context.check_custody_log()
    finally:
        context.close()
    record_home(settings, now=now)
    log.info("backup.restored", manifest_sha256=backup.digest, lost_entries=gap.lost_entries,
                unknown_originals=len(report.unknown))
    return report
