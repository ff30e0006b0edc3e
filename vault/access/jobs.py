"""Writing the playback ranges a server holds: every EVAULT_PLAYBACK_FLUSH_SECONDS while it runs, and at shutdown."""

from __future__ import annotations

import asyncio

import structlog
from anyio import to_thread

from vault.access.playback_buffer import write_pending
from vault.context import VaultContext
from vault.db import transaction, utcnow

log = structlog.get_logger(__name__)


def flush_playback(context: VaultContext) -> int:
    """Write the ranges this process holds into their playback sessions; return how many sessions changed."""
    pending = context.playback.take(utcnow(), context.settings.playback_idle_seconds)
    if not pending:
        return 0
    try:
        with transaction(context.sessions) as session:
            written = write_pending(session=session, pending=pending)
    except BaseException:
        context.playback.put_back(pending)  # a catalog outage: try again with the next flush
        raise
    log.debug("playback.flushed", sessions=written)
    return written


async def flush_playback_every(context: VaultContext) -> None:
    """Flush the held playback ranges every EVAULT_PLAYBACK_FLUSH_SECONDS until cancelled."""
    while True:
        await asyncio.sleep(context.settings.playback_flush_seconds)
        try:
            await to_thread.run_sync(flush_playback, context)
        except Exception as exc:  # the ranges were put back; the loop must outlive an outage of the catalog
            log.error("playback.flush_failed", error=type(exc).__name__)
