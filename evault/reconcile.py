"""The reconciler: after a crash or an outage, bring uploads, staging and the store back in line with the catalog.

It runs when `evault serve` or `evault worker` starts, every 15 minutes as a scheduled job, and on demand
(`evault reconcile`). Every step is idempotent, so several instances may run it at once.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import structlog

from ingest.uploads.recovery import recover_uploads
from vault.context import VaultContext
from vault.db import utcnow
from vault.reconciliation.service import reconcile_store

log = structlog.get_logger(__name__)


def reconcile(context: VaultContext, *, full: bool = False) -> dict[str, Any]:
    """Finish stranded uploads, then lock, abort and remove in the store; return what was done."""
    settings = context.settings
    now = utcnow()
    grace = timedelta(seconds=settings.reconcile_grace_seconds)
    uploads = recover_uploads(context, now=now, grace=grace, idle=timedelta(hours=settings.upload_expiry_hours))
    with context.sessions() as session:
        store = reconcile_store(session=session, store=context.store, now=now, grace=grace,
                                lookback=None if full else timedelta(days=settings.reconcile_lookback_days),
                                export_copy_days=settings.export_copy_retention_days)
    summary: dict[str, Any] = {
        "uploads_finished": uploads.finished, "uploads_expired": uploads.expired, "uploads_refused": uploads.refused,
        "uploads_failed": uploads.failed,
        "staging_files_removed": uploads.swept, **{f"store_{k}": v for k, v in store.summary().items()},
    }
    log.info("reconcile.finished", full=full, **summary)
    return summary


def reconcile_in_background(context: VaultContext) -> threading.Thread:
    """Run one pass on a thread of its own (at start-up, so serving does not wait for it)."""

    def run() -> None:
        try:
            reconcile(context)
        except Exception as exc:  # the scheduled pass tries again; the failure is in the log
            log.error("reconcile.failed", error=type(exc).__name__, message=str(exc)[:500])

    thread = threading.Thread(target=run, name="reconcile-at-start", daemon=True)
    thread.start()
    return thread
