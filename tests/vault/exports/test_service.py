"""Exporting: approvals, refusals, custody events, party copies and the write-once retained copy (复制留存)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from evault_client.verify_bundle import verify_bundle
from tests.vault.exports.conftest import CASE_NUMBER, OTHER_ID_NUMBER, OTHER_PHONE, World, approve, build
from vault.access.models import AccessMode, AccessPurpose
from vault.access.service import approve_request, request_access
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.errors import InvalidInput, NotFound, PermissionDenied
from vault.evidence.models import Evidence, EvidenceStatus
from vault.exports.bundle import PayloadMismatch
from vault.exports.models import ExportCopy, ExportPurpose
from vault.exports.service import (
    ConfidentialRecord,
    ExportRequest,
    RecordDisposed,
    prepare_export,
)
from vault.exports.stream import ExportRun


def _events(context: VaultContext, action: CustodyAction) -> list[CustodyEvent]:
    with context.sessions() as session:
        return list(session.scalars(select(CustodyEvent).where(CustodyEvent.action == action.value)))


def _prepare(context: VaultContext, world: World, now: datetime, **fields: Any) -> None:
    request = replace(ExportRequest(CASE_NUMBER, ExportPurpose.COURT, "法院", world.records), **fields)
    with context.sessions() as session:
        try:
            prepare_export(session=session, actor=world.manager.actor, context=context, request=request, now=now)
        except PermissionDenied as exc:
            if exc.record_kept:
                session.commit()
            raise


def test_export_logs_events_and_keeps_a_write_once_retained_copy(
    context: VaultContext, world: World, tmp_path: Path, now: datetime
) -> None:
    approve(context, world, world.records, now)
    out = tmp_path / "b.zip"
    plan, run = build(context, world, out, now, records=world.records)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert run.result is not None and run.result.bundle_sha256 == digest
    exported = _events(context, CustodyAction.EVIDENCE_EXPORTED)
    assert sorted(e.subject_id for e in exported) == sorted(str(i) for i in world.records)
    (created,) = _events(context, CustodyAction.EXPORT_CREATED)
    assert created.subject_id == str(plan.export_id) and created.details["bundle_sha256"] == digest
    with context.sessions() as session:
        copy = session.get(ExportCopy, plan.export_id)
        assert copy is not None and copy.bundle_sha256 == digest and copy.bundle_size == out.stat().st_size
        assert "manifest-sha256.txt" in copy.manifests and "执法音像记录制作说明" in copy.explanation_text
        kept = json.loads(b"".join(context.store.open_range(copy.retained_key, copy.retained_version_id)))
        assert kept["bundle_sha256"] == digest and kept["signature_base64"] == copy.signature
        assert kept["files"]["tagmanifest-sha256.txt"] == copy.manifests["tagmanifest-sha256.txt"]
        copy.recipient = "someone else"
        with pytest.raises(RuntimeError, match="write-once"):
            session.flush()
        session.rollback()
        with pytest.raises(DatabaseError):
            session.execute(text("UPDATE export_copies SET recipient = 'x'"))
        session.rollback()
        with pytest.raises(DatabaseError):
            session.execute(text("DELETE FROM export_copies"))
        session.rollback()


def test_unknown_case_is_not_found(context: VaultContext, world: World, now: datetime) -> None:
    with pytest.raises(NotFound, match="案号"):
        _prepare(context, world, now, case_number="阜应急罚字〔2099〕1号")


def test_records_without_approval_are_refused_and_the_refusal_is_logged(
    context: VaultContext, world: World, now: datetime
) -> None:
    with pytest.raises(PermissionDenied) as refused:
        _prepare(context, world, now)
    assert refused.value.status == 403
    assert _events(context, CustodyAction.EVIDENCE_ACCESS_REFUSED)
    assert not _events(context, CustodyAction.EVIDENCE_EXPORTED)


def test_approval_for_another_purpose_is_refused(context: VaultContext, world: World, now: datetime) -> None:
    approve(context, world, world.records, now, purpose=AccessPurpose.INVESTIGATION)
    with pytest.raises(PermissionDenied, match="investigation") as refused:
        _prepare(context, world, now)
    assert refused.value.details["needed_purpose"] == "litigation"


def test_disposed_record_is_a_conflict(context: VaultContext, world: World, now: datetime) -> None:
    with context.sessions() as session:
        evidence = session.get(Evidence, world.records[0])
        assert evidence is not None
        evidence.status = EvidenceStatus.DISPOSED
        session.commit()
    with pytest.raises(RecordDisposed) as refused:
        _prepare(context, world, now)
    assert refused.value.status == 409


def test_record_of_another_case_and_empty_exports_are_invalid(
    context: VaultContext, world: World, now: datetime
) -> None:
    with pytest.raises(InvalidInput, match="does not belong"):
        _prepare(context, world, now, evidence_ids=[world.other_case_record])
    with pytest.raises(InvalidInput, match="recipient"):
        _prepare(context, world, now, recipient="  ")


def test_party_copy_leaves_out_confidential_records_and_masks_personal_data(
    context: VaultContext, world: World, tmp_path: Path, now: datetime
) -> None:
    approve(context, world, world.records, now, purpose=AccessPurpose.PARTY_COPY)
    with pytest.raises(ConfidentialRecord):
        _prepare(context, world, now, purpose=ExportPurpose.PARTY_COPY, evidence_ids=[*world.records, world.secret])
    out = tmp_path / "party.zip"
    plan, _ = build(context, world, out, now, purpose=ExportPurpose.PARTY_COPY)
    assert {r.evidence_id for r in plan.records} == set(world.records) and plan.withheld == [world.secret]
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        tags = b"".join(archive.read(n) for n in names if "/data/" not in n).decode("utf-8", "replace")
    assert not any(str(world.secret) in n for n in names)
    assert OTHER_ID_NUMBER not in tags and OTHER_PHONE not in tags
    assert "341***********1234" in tags and "139****5678" in tags
    assert "Records-Withheld: 1" in tags and f"Record-Withheld-Id: {world.secret}" in tags
    assert verify_bundle(out).ok


def test_original_that_no_longer_matches_aborts_the_bundle(
    context: VaultContext, world: World, tmp_path: Path, now: datetime
) -> None:
    approve(context, world, world.records, now)
    with context.sessions() as session:
        evidence = session.get(Evidence, world.records[1])
        assert evidence is not None
        evidence.sha256 = "0" * 64
        session.commit()
    with pytest.raises(PayloadMismatch, match="no longer matches"):
        build(context, world, tmp_path / "bad.zip", now, records=world.records)
    assert _events(context, CustodyAction.EVIDENCE_FIXITY_FAILED)
    assert not _events(context, CustodyAction.EXPORT_CREATED)
    with context.sessions() as session:
        assert session.scalar(select(ExportCopy)) is None


def test_abandoned_stream_keeps_no_retained_copy(context: VaultContext, world: World, now: datetime) -> None:
    approve(context, world, world.records, now)
    request = ExportRequest(CASE_NUMBER, ExportPurpose.COURT, "法院", world.records)
    with context.sessions() as session:
        plan = prepare_export(session=session, actor=world.manager.actor, context=context, request=request, now=now)
        session.commit()
    chunks = iter(ExportRun(context=context, actor=world.manager.actor, plan=plan))
    next(chunks)
    chunks.close()  # type: ignore[attr-defined]
    assert _events(context, CustodyAction.EVIDENCE_EXPORTED)
    assert not _events(context, CustodyAction.EXPORT_CREATED)


def test_party_copy_uses_the_party_copy_grant_when_a_litigation_grant_expires_later(
    context: VaultContext, world: World, tmp_path: Path, now: datetime
) -> None:
    # The export picks the grant whose purpose matches (issue 12 item 3; `000` 第九条: copies only after approval).
    party = approve(context, world, world.records, now, purpose=AccessPurpose.PARTY_COPY)
    court = approve(context, world, world.records, now + timedelta(hours=1))
    later = now + timedelta(hours=2)
    plan, _ = build(context, world, tmp_path / "party.zip", later, purpose=ExportPurpose.PARTY_COPY,
                    records=world.records)
    assert plan.grant_id == party and str(party) in plan.approval
    plan, _ = build(context, world, tmp_path / "court.zip", later, records=world.records)
    assert plan.grant_id == court


def test_whole_case_party_copy_leaves_out_confidential_records_and_lists_them(
    context: VaultContext, world: World, tmp_path: Path, now: datetime
) -> None:
    # Confidential records may not be copied (`000` 第九条): a whole-case party copy leaves them out and says which.
    with context.sessions() as session:
        request = request_access(session=session, actor=world.manager.actor, purpose=AccessPurpose.PARTY_COPY,
                                 mode=AccessMode.VIEW_DOWNLOAD, duration_hours=24, reason="当事人申请复制", now=now,
                                 max_hours=720, case_number=CASE_NUMBER)
        assert set(request.record_ids) == set(world.records) and request.withheld_ids == [str(world.secret)]
        approve_request(session=session, actor=world.approver.actor, request_id=request.id, now=now)
        session.commit()
    out = tmp_path / "party.zip"
    plan, run = build(context, world, out, now, purpose=ExportPurpose.PARTY_COPY)
    assert plan.withheld == [world.secret] and run.result is not None
    explanation = run.result.files["explanation/explanation.txt"]
    assert f"1: {world.secret}" in explanation and "000 第九条" in explanation
    with context.sessions() as session:
        copy = session.get(ExportCopy, plan.export_id)
        assert copy is not None and copy.withheld_ids == [str(world.secret)] and copy.withheld_count == 1
    (created,) = _events(context, CustodyAction.EXPORT_CREATED)
    assert created.details["withheld"] == [str(world.secret)]
    assert verify_bundle(out).ok


def test_refusals_name_the_records(context: VaultContext, world: World, now: datetime) -> None:
    # Refusals name the records (issue 12 item 3), and each refusal is in the custody log.
    with pytest.raises(PermissionDenied) as unapproved:
        _prepare(context, world, now)
    assert all(str(i) in unapproved.value.message for i in world.records)
    grant = approve(context, world, world.records, now)
    with pytest.raises(PermissionDenied) as wrong_purpose:
        _prepare(context, world, now, purpose=ExportPurpose.PARTY_COPY)
    message = wrong_purpose.value.message
    assert str(grant) in message and "litigation" in message and all(str(i) in message for i in world.records)
    approve(context, world, world.records, now, purpose=AccessPurpose.PARTY_COPY)
    with pytest.raises(ConfidentialRecord) as secret:
        _prepare(context, world, now, purpose=ExportPurpose.PARTY_COPY, evidence_ids=[*world.records, world.secret])
    assert str(world.secret) in secret.value.message and str(world.records[0]) not in secret.value.message
    refused = _events(context, CustodyAction.EVIDENCE_ACCESS_REFUSED)
    assert str(world.secret) in {e.subject_id for e in refused}
    assert not _events(context, CustodyAction.EVIDENCE_EXPORTED)
