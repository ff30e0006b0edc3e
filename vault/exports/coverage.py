"""Export coverage (证据包审批覆盖): before building, which approval covers each record and what is missing.

The checks are prepare_export's (select_records, require_export_grant), read without writing anything: a
coverage preview is not an attempt, so nothing is logged; the build itself logs its refusal or its export.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.access.models import AccessGrant, AccessMode
from vault.access.service import confidential_records, grants_covering
from vault.cases.models import Case
from vault.cases.service import find_case
from vault.errors import InvalidInput, NotFound
from vault.evidence.models import Confidentiality, Evidence, EvidenceStatus
from vault.exports.models import ExportCopy, ExportPurpose
from vault.exports.service import GRANT_PURPOSE, named_records
from vault.exports.versions import (
    NOT_PROVIDED,
    Selection,
    Withheld,
    applying_party,
    court_selection,
    party_copy_selection,
)
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require


class Gap(StrEnum):
    """Why a record cannot go into the bundle yet."""

    NO_GRANT = "no_grant"
    EXPIRED = "expired"
    REVOKED = "revoked"
    VIEW_ONLY = "view_only"
    OTHER_PURPOSE = "other_purpose"
    CONFIDENTIAL = "confidential"
    DISPOSED = "disposed"


@dataclass(frozen=True)
class RecordCoverage:
    """One record: the approval that covers it for this purpose, or the gap and the grant that came closest."""

    evidence: Evidence
    grant: AccessGrant | None = None
    gap: Gap | None = None
    nearest: AccessGrant | None = None


@dataclass(frozen=True)
class ExportCoverage:
    """What a bundle of these records for this purpose would hold, and whether it may be built now."""

    case: Case
    purpose: ExportPurpose
    records: list[RecordCoverage]
    withheld: list[Evidence] = field(default_factory=list)
    # Every record is covered, but by different approvals: an export runs under one approval.
    split: bool = False
    # What goes in per record (original, redacted version, or both), as the build will choose it.
    selection: Selection | None = None
    # Records a party copy leaves out by rule: others' footage with no approved redacted version.
    left_out: list[Withheld] = field(default_factory=list)
    # Why the party copy's applying party is not known yet (several parties and none named, or a wrong name).
    party_problem: str | None = None

    @property
    def missing(self) -> list[RecordCoverage]:
        """Return the records with a gap."""
        return [r for r in self.records if r.gap is not None]

    @property
    def ready(self) -> bool:
        """Return whether a bundle may be built now."""
        return bool(self.records) and not self.missing and not self.split and self.party_problem is None

    def carries(self, evidence_id: uuid.UUID) -> str:
        """Return what the bundle carries of a record: original, redacted, or original_and_redacted."""
        if self.selection is None or evidence_id not in self.selection.redacted:
            return "original"
        return "original_and_redacted" if evidence_id in self.selection.originals else "redacted"



def export_purposes(*, actor: Actor) -> list[ExportPurpose]:
    """Return the purposes a bundle may be made for, to those who may export."""
    require(actor, Permission.EXPORT_EVIDENCE)
    return list(ExportPurpose)


def _case_of(session: Session, evidence_ids: Sequence[uuid.UUID]) -> Case:
    """Return the one case the named records belong to (an export is of one case)."""
    if not evidence_ids:
        raise InvalidInput("name a case (案号) or the records to export")
    first = session.get(Evidence, evidence_ids[0])
    if first is None:
        raise NotFound(f"no evidence record {evidence_ids[0]}", details={"evidence_id": str(evidence_ids[0])})
    if first.case_id is None:
        raise InvalidInput(f"evidence record {first.id} is not tagged with a case (案号) yet; tag it before exporting")
    case = session.get(Case, first.case_id)
    assert case is not None
    return case


def case_records(*, session: Session, actor: Actor, case_number: str) -> tuple[Case, list[Evidence]]:
    """Return a case (any bracket variant of its number) and its records, to tick for an export."""
    require(actor, Permission.EXPORT_EVIDENCE)
    case = find_case(session=session, case_number=case_number)
    query = select(Evidence).where(Evidence.case_id == case.id)
    return case, list(session.scalars(query.order_by(Evidence.capture_start, Evidence.uploaded_at)))


def _record(
    session: Session, actor: Actor, evidence: Evidence, purpose: ExportPurpose, now: datetime
) -> RecordCoverage:
    if evidence.status == EvidenceStatus.DISPOSED:
        return RecordCoverage(evidence, gap=Gap.DISPOSED)
    if purpose == ExportPurpose.PARTY_COPY and evidence.confidentiality != Confidentiality.NONE:
        return RecordCoverage(evidence, gap=Gap.CONFIDENTIAL)
    grants = grants_covering(session, actor.id, evidence.id) if actor.id else []
    wanted = GRANT_PURPOSE[purpose]
    for grant in grants:
        if grant.active_at(now) and grant.mode == AccessMode.VIEW_DOWNLOAD and grant.purpose == wanted:
            return RecordCoverage(evidence, grant=grant)
    same = [g for g in grants if g.purpose == wanted]
    for gap, found in (
        (Gap.VIEW_ONLY, [g for g in same if g.active_at(now)]),
        (Gap.REVOKED, [g for g in same if g.revoked_at is not None]),
        (Gap.EXPIRED, [g for g in same if g.expires_at <= now]),
        (Gap.OTHER_PURPOSE, [g for g in grants if g.active_at(now)]),
    ):
        if found:
            return RecordCoverage(evidence, gap=gap, nearest=found[0])
    return RecordCoverage(evidence, gap=Gap.NO_GRANT)


def export_coverage(
    *, session: Session, actor: Actor, case_number: str, purpose: ExportPurpose,
    evidence_ids: Sequence[uuid.UUID] | None, now: datetime, party: str | None = None,
    include_redacted: bool = False,
) -> ExportCoverage:
    """Return, per record, the approval covering it for this purpose or what is missing; write nothing.

    Without a case number the case is the one the named records belong to. The versions each record goes in as
    are chosen by the build's own rule, so a party copy's preview shows what it will and will not carry.
    """
    require(actor, Permission.EXPORT_EVIDENCE)
    case = find_case(session=session, case_number=case_number) if case_number.strip() \
        else _case_of(session, evidence_ids or [])
    withheld: list[Evidence] = []
    if evidence_ids:
        records = named_records(session, case, evidence_ids, refuse_disposed=False)  # shown as missing
    else:
        query = select(Evidence).where(Evidence.case_id == case.id, Evidence.status == EvidenceStatus.STORED)
        records = list(session.scalars(query.order_by(Evidence.capture_start, Evidence.uploaded_at)))
        if purpose == ExportPurpose.PARTY_COPY:
            withheld = confidential_records(records)
            records = [e for e in records if e not in withheld]
    selection, left_out, party_problem = _versions(session, case, records, purpose, party, include_redacted)
    left_ids = {w.evidence_id for w in left_out}
    covered = [_record(session, actor, e, purpose, now) for e in records if e.id not in left_ids]
    split = False
    if covered and all(r.grant is not None for r in covered):
        # require_export_grant wants one approval naming every record; per-record cover is not enough.
        common = set.intersection(*({g.id for g in _suitable(session, actor, r.evidence, purpose, now)}
                                    for r in covered))
        split = not common
    return ExportCoverage(case=case, purpose=purpose, records=covered, withheld=withheld, split=split,
                          selection=selection, left_out=left_out, party_problem=party_problem)


def _versions(
    session: Session, case: Case, records: list[Evidence], purpose: ExportPurpose, party: str | None,
    include_redacted: bool,
) -> tuple[Selection | None, list[Withheld], str | None]:
    """Return the build's choice of versions, the records it leaves out by rule, or why the party is unknown."""
    # Disposed and confidential records already show as gaps; only the rest go through the rule.
    eligible = [e for e in records if e.status != EvidenceStatus.DISPOSED
                and (purpose != ExportPurpose.PARTY_COPY or e.confidentiality == Confidentiality.NONE)]
    if purpose != ExportPurpose.PARTY_COPY:
        return court_selection(session, eligible, include_redacted=include_redacted), [], None
    try:
        applying = applying_party(case, party)
    except InvalidInput as error:
        return None, [], error.message
    selection = party_copy_selection(session, eligible, applying)
    return selection, [w for w in selection.withheld if w.code in NOT_PROVIDED], None


def _suitable(
    session: Session, actor: Actor, evidence: Evidence, purpose: ExportPurpose, now: datetime
) -> list[AccessGrant]:
    wanted, grants = GRANT_PURPOSE[purpose], grants_covering(session, actor.id, evidence.id) if actor.id else []
    return [g for g in grants if g.active_at(now) and g.mode == AccessMode.VIEW_DOWNLOAD and g.purpose == wanted]


def case_numbers(*, session: Session, copies: Sequence[ExportCopy]) -> dict[uuid.UUID, str]:
    """Return the case number (案号) of each retained copy's case."""
    ids = {c.case_id for c in copies}
    if not ids:
        return {}
    return {case.id: case.case_number for case in session.scalars(select(Case).where(Case.id.in_(ids)))}
