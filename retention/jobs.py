"""The retention package's scheduled jobs; each opens its own sessions and returns a JSON-ready summary."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from retention.fixity import fixity_audit
from retention.reconciliation import lock_reconciliation
from retention.recovery import destroy_due
from retention.report import archiving_deadline_report
from retention.sweep import retention_sweep
from vault.context import VaultContext


def run_retention_sweep(context: VaultContext, *, now: datetime | None = None) -> dict[str, Any]:
    """Refresh retention from recent events, queue due records, send reminders."""
    return retention_sweep(context, now=now).as_dict()


def run_fixity_audit(context: VaultContext, *, now: datetime | None = None, limit: int | None = None) -> dict[str, Any]:
    """Re-hash today's share of stored originals."""
    return fixity_audit(context, now=now, limit=limit).as_dict()


def run_lock_reconciliation(context: VaultContext, *, now: datetime | None = None) -> dict[str, Any]:
    """Bring every store lock and hold up to the computed retention."""
    return lock_reconciliation(context, now=now).as_dict()


def run_archiving_deadline_report(context: VaultContext, *, now: datetime | None = None) -> dict[str, Any]:
    """Report cases overdue for archiving (归档)."""
    return archiving_deadline_report(context, now=now).as_dict()


def run_disposal_destruction(context: VaultContext, *, now: datetime | None = None) -> dict[str, Any]:
    """Destroy and certify approved disposals whose recovery window has passed."""
    return destroy_due(context, now=now).as_dict()


JobFunction = Callable[[VaultContext], dict[str, Any]]

RETENTION_JOBS: dict[str, JobFunction] = {
    "retention_sweep": run_retention_sweep,
    "fixity_audit": run_fixity_audit,
    "lock_reconciliation": run_lock_reconciliation,
    "archiving_deadline_report": run_archiving_deadline_report,
    "disposal_destruction": run_disposal_destruction,
}
