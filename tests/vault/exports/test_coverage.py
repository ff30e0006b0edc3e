"""Coverage before building: which approval covers each record, and what is missing, without writing anything."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select

from tests.vault.exports.conftest import CASE_NUMBER, World, approve
from vault.access.models import AccessMode, AccessPurpose
from vault.access.service import approve_request, request_access, revoke_grant
from vault.context import VaultContext
from vault.custody.models import CustodyEvent
from vault.evidence.models import Evidence, EvidenceStatus
from vault.exports.coverage import Gap, export_coverage
from vault.exports.models import ExportPurpose


def _coverage(context: VaultContext, world: World, purpose: ExportPurpose, now: datetime,
              ids: list[uuid.UUID] | None = None, case_number: str = CASE_NUMBER,
              ) -> tuple[dict[uuid.UUID, Gap | None], bool, int]:
    with context.sessions() as session:
        before = session.scalar(select(func.count()).select_from(CustodyEvent)) or 0
        found = export_coverage(session=session, actor=world.manager.actor, case_number=case_number,
                                purpose=purpose, evidence_ids=ids, now=now)
        gaps = {r.evidence.id: r.gap for r in found.records}
        written = (session.scalar(select(func.count()).select_from(CustodyEvent)) or 0) - before
        return gaps, found.ready, written + len(session.new) + len(session.dirty)


def test_each_gap_is_named_and_nothing_is_written(context: VaultContext, world: World, now: datetime) -> None:
    gaps, ready, written = _coverage(context, world, ExportPurpose.COURT, now)
    assert set(gaps.values()) == {Gap.NO_GRANT} and not ready and written == 0
    approve(context, world, world.records, now, purpose=AccessPurpose.RECONSIDERATION)
    gaps, _, _ = _coverage(context, world, ExportPurpose.COURT, now, world.records)
    assert set(gaps.values()) == {Gap.OTHER_PURPOSE}
    approve(context, world, world.records, now - timedelta(days=2))  # a 24 h grant for this purpose, expired
    gaps, _, _ = _coverage(context, world, ExportPurpose.COURT, now, world.records)
    assert set(gaps.values()) == {Gap.EXPIRED}
    gaps, ready, _ = _coverage(context, world, ExportPurpose.RECONSIDERATION, now, world.records)
    assert set(gaps.values()) == {None} and ready


def test_view_only_revoked_and_split_approvals(context: VaultContext, world: World, now: datetime) -> None:
    with context.sessions() as session:
        filed = request_access(session=session, actor=world.manager.actor, purpose=AccessPurpose.LITIGATION,
                               mode=AccessMode.VIEW, duration_hours=24, reason="核对", now=now, max_hours=720,
                               evidence_ids=world.records[:1])
        approve_request(session=session, actor=world.approver.actor, request_id=filed.id, now=now)
        session.commit()
    gaps, _, _ = _coverage(context, world, ExportPurpose.COURT, now, world.records[:1])
    assert gaps[world.records[0]] == Gap.VIEW_ONLY
    approve(context, world, world.records[:1], now)
    second = approve(context, world, world.records[1:], now)
    gaps, ready, _ = _coverage(context, world, ExportPurpose.COURT, now, world.records)
    assert set(gaps.values()) == {None} and not ready  # one export runs under one approval
    with context.sessions() as session:
        revoke_grant(session=session, actor=world.approver.actor, grant_id=second, reason="误批", now=now)
        session.commit()
    gaps, _, _ = _coverage(context, world, ExportPurpose.COURT, now + timedelta(minutes=1), world.records[1:])
    assert gaps[world.records[1]] == Gap.REVOKED


def test_confidential_party_copy_disposed_and_records_without_a_case(
    context: VaultContext, world: World, now: datetime
) -> None:
    gaps, _, _ = _coverage(context, world, ExportPurpose.PARTY_COPY, now, [world.secret])
    assert gaps == {world.secret: Gap.CONFIDENTIAL}
    with context.sessions() as session:
        evidence = session.get(Evidence, world.records[1])
        assert evidence is not None
        evidence.status = EvidenceStatus.DISPOSED  # set directly: disposal itself is retention's subject
        session.commit()
    gaps, _, _ = _coverage(context, world, ExportPurpose.COURT, now, world.records, case_number="")
    assert gaps[world.records[1]] == Gap.DISPOSED and gaps[world.records[0]] == Gap.NO_GRANT
