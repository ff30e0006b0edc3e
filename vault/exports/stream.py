"""Stream one bundle to its recipient and complete it: the retained copy commits before the archive's last bytes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import structlog

from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.db import transaction, utcnow
from vault.exports.bundle import BundleResult, BundleWriter, ExportPlan, PayloadMismatch
from vault.exports.delivery import sources
from vault.exports.marking import Marker
from vault.exports.service import finalize_export
from vault.exports.signing import TimestampClient
from vault.identities.actor import Actor

log = structlog.get_logger(__name__)

# Under the vault's home: bundles built for the web, and the watermarked copies made while a bundle is built.
SPOOL_FOLDER = "export-spool"


def open_sources(context: VaultContext, plan: ExportPlan) -> None:
    """Read the first byte of every file the bundle streams, so a store outage answers 503 before it starts."""
    for record in plan.records:
        for source in sources(record):
            if source.size > 0:
                chunks = context.store.open_range(source.storage_key, source.version_id, start=0, end=0)
                getattr(chunks, "close", lambda: None)()


def bundle_writer(context: VaultContext, plan: ExportPlan) -> BundleWriter:
    """Return a writer for the plan configured from settings (TSA, SM3 policy)."""
    settings = context.settings
    certs = settings.tsa_certificates_file.read_bytes() if settings.tsa_certificates_file else None
    stamper = TimestampClient(settings.tsa_url, settings.tsa_timeout_seconds, certs) if settings.tsa_url else None
    marker = Marker(plan.watermark, settings.export_watermark_font, settings.home / SPOOL_FOLDER / "marking") \
        if plan.watermark else None
    return BundleWriter(
        plan,
        store=context.store,
        signer=context.signer,
        timestamper=stamper,
        tsa_certificates=certs,
        compute_sm3=settings.export_compute_sm3,
        marker=marker,
    )


@dataclass
class ExportRun:
    """Iterate to stream a bundle; the retained copy commits before the archive's last bytes: no copy, no bundle."""

    context: VaultContext
    actor: Actor
    plan: ExportPlan
    clock: Callable[[], datetime] = utcnow
    result: BundleResult | None = None

    def __iter__(self) -> Iterator[bytes]:
        writer = bundle_writer(self.context, self.plan)
        try:
            yield from writer.chunks()
        except PayloadMismatch as exc:
            self._record_mismatch(exc)
            raise
        except GeneratorExit:
            log.warning("export.abandoned", export_id=str(self.plan.export_id))
            raise
        assert writer.result is not None and writer.tail is not None
        # Jobs own their session: the request's session has already committed the export events.
        with transaction(self.context.sessions) as session:
            _copy, lock = finalize_export(
                session=session,
                actor=self.actor,
                context=self.context,
                plan=self.plan,
                result=writer.result,
                now=self.clock(),
            )
        lock.apply()
        self.result = writer.result
        log.info("export.completed", export_id=str(self.plan.export_id), sha256=writer.result.bundle_sha256)
        yield writer.tail

    def _record_mismatch(self, exc: PayloadMismatch) -> None:
        with transaction(self.context.sessions) as session:
            record_event(
                session=session,
                actor=self.actor,
                action=CustodyAction.EVIDENCE_FIXITY_FAILED,
                subject_type="evidence",
                subject_id=exc.details["evidence_id"],
                case_id=self.plan.case_id,
                details={"export_id": str(self.plan.export_id), "problems": exc.details["problems"]},
            )
