"""Background builds: the bundle lands in the spool, its retained copy in the catalog; a stalled build says so."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from datetime import datetime

from tests.vault.exports.conftest import CASE_NUMBER, World, approve
from vault.context import VaultContext
from vault.exports import spool
from vault.exports.models import ExportCopy, ExportPurpose
from vault.exports.service import ExportRequest, prepare_export


def test_a_background_build_is_ready_with_its_retained_copy_then_discarded(
    context: VaultContext, world: World, now: datetime
) -> None:
    approve(context, world, world.records, now)
    with context.sessions() as session:
        plan = prepare_export(session=session, actor=world.manager.actor, context=context, now=now,
                              request=ExportRequest(CASE_NUMBER, ExportPurpose.COURT, "某法院", world.records))
        session.commit()
    spool.start_build(context=context, actor=world.manager.actor, plan=plan).join(timeout=60)
    progress = spool.build_progress(context=context, actor=world.manager.actor, export_id=plan.export_id)
    assert progress.state == spool.BuildState.READY and progress.percent == 100
    assert progress.expected == plan.payload_bytes and progress.written > plan.payload_bytes
    path = spool.bundle_path(context, plan.export_id)
    assert path is not None
    with context.sessions() as session:
        copy = session.get(ExportCopy, plan.export_id)
        assert copy is not None and copy.bundle_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    spool.discard_bundle(context=context, export_id=plan.export_id)
    assert spool.bundle_path(context, plan.export_id) is None
    gone = spool.build_progress(context=context, actor=world.manager.actor, export_id=plan.export_id)
    assert gone.state == spool.BuildState.GONE


def test_a_build_that_stopped_writing_is_reported_failed(context: VaultContext, world: World) -> None:
    folder = spool.spool_dir(context)
    folder.mkdir(parents=True)
    export_id = "0b5f3c1e-0000-4000-8000-000000000001"
    (folder / f"{export_id}.json").write_text('{"expected": 1000, "error": null}')
    part = folder / f"{export_id}.part"
    part.write_bytes(b"x" * 400)
    progress = spool.build_progress(context=context, actor=world.manager.actor, export_id=uuid.UUID(export_id))
    assert progress.state == spool.BuildState.BUILDING and progress.percent == 40
    stale = time.time() - spool.STALL_SECONDS - 1
    os.utime(part, (stale, stale))  # as a build whose process ended would leave it
    stalled = spool.build_progress(context=context, actor=world.manager.actor, export_id=uuid.UUID(export_id))
    assert stalled.state == spool.BuildState.FAILED and "build the bundle again" in (stalled.error or "")
