"""Access requests, approvals and grants: no viewing without approval (未经批准，不得查阅)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, lazyload

from vault.access.models import (
    PURPOSE_LABELS,
    AccessGrant,
    AccessGrantRecord,
    AccessMode,
    AccessPurpose,
    AccessRequest,
    AccessRequestRecord,
    RequestStatus,
)
from vault.access.playback import close_playback_for_grant
from vault.cases.service import lookup_case
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import Conflict, InvalidInput, NotFound, PermissionDenied, VaultError
from vault.evidence.models import Confidentiality, Evidence, EvidenceStatus
from vault.evidence.service import can_see_metadata
from vault.identities.actor import Actor
from vault.identities.authz import Permission, has_permission, require
from vault.identities.models import User


def _refuse(error: PermissionDenied | NotFound, **event: Any) -> PermissionDenied | NotFound:
    """Record the refusal in the custody log and mark the error so the caller commits that record."""
    record_event(**event)
    error.record_kept = True
    return error


def refuse_records(
    *, session: Session, actor: Actor, records: Sequence[tuple[uuid.UUID, uuid.UUID | None]], error: VaultError,
    now: datetime, details: dict[str, Any],
) -> VaultError:
    """Log an access refusal for each record (at most 100) and mark the error so the caller commits them."""
    for evidence_id, case_id in records[:100]:
        record_event(session=session, actor=actor, action=CustodyAction.EVIDENCE_ACCESS_REFUSED,
                     subject_type="evidence", subject_id=evidence_id, case_id=case_id, now=now, details=details)
    error.record_kept = True
    return error


def _visible_records(session: Session, actor: Actor, evidence_ids: Sequence[uuid.UUID]) -> list[Evidence]:
    records: list[Evidence] = []
    for evidence_id in dict.fromkeys(evidence_ids):
        evidence = session.get(Evidence, evidence_id)
        if evidence is None or not can_see_metadata(actor, evidence):
            raise NotFound(f"no evidence record {evidence_id}", details={"evidence_id": str(evidence_id)})
        if evidence.status == EvidenceStatus.DISPOSED:
            raise InvalidInput(f"evidence record {evidence_id} was disposed (销毁); nothing is left to view")
        records.append(evidence)
    return records


def confidential_records(records: Sequence[Evidence]) -> list[Evidence]:
    """Return the records with a confidentiality level, which a party may never copy (000 第九条)."""
    return [e for e in records if e.confidentiality != Confidentiality.NONE]


def name_records(ids: Sequence[uuid.UUID], *, limit: int = 10) -> str:
    """Return the record IDs for a message, the first `limit` of them and how many more."""
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def confidential_reason(records: Sequence[Evidence]) -> str:
    """Explain, naming the records, why a party copy may not include them (000 第九条)."""
    levels = sorted({e.confidentiality.value for e in records})
    return (
        f"a party copy application (当事人申请复制) may not include confidential records (涉密/商业秘密/个人隐私): "
        f"{len(records)} requested record(s) are classified {', '.join(levels)}: "
        f"{name_records([e.id for e in records])}"
    )


def _whole_case(
    session: Session, actor: Actor, case_number: str, purpose: AccessPurpose
) -> tuple[list[Evidence], uuid.UUID, list[Evidence]]:
    case = lookup_case(session=session, actor=actor, case_number=case_number)
    query = select(Evidence).where(Evidence.case_id == case.id, Evidence.status == EvidenceStatus.STORED)
    records = list(session.scalars(query.order_by(Evidence.uploaded_at)))
    # A whole-case party copy covers what may be copied and names the rest (000 第九条); naming one is refused.
    withheld = confidential_records(records) if purpose == AccessPurpose.PARTY_COPY else []
    records = [e for e in records if e not in withheld]
    if withheld and not records:
        raise InvalidInput(
            f"case (案号) {case.case_number} holds only confidential records, which a party copy may not include "
            f"(000 第九条): {name_records([e.id for e in withheld])}",
            details={"withheld": [str(e.id) for e in withheld], "rule": "000 第九条"},
        )
    if not records:
        raise InvalidInput(f"case (案号) {case.case_number} holds no stored records to view")
    return records, case.id, withheld


def _resolve_scope(
    session: Session, actor: Actor, evidence_ids: Sequence[uuid.UUID] | None, case_number: str | None,
    purpose: AccessPurpose,
) -> tuple[list[Evidence], uuid.UUID | None, list[Evidence]]:
    if bool(evidence_ids) == bool(case_number):
        raise InvalidInput("name either the records (evidence_ids) or a whole case (case_number), not both")
    if case_number:
        return _whole_case(session, actor, case_number, purpose)
    records = _visible_records(session, actor, evidence_ids or [])
    cases = {e.case_id for e in records}
    return records, cases.pop() if len(cases) == 1 else None, []


def request_access(
    *,
    session: Session,
    actor: Actor,
    purpose: AccessPurpose,
    mode: AccessMode,
    duration_hours: int,
    reason: str,
    now: datetime,
    max_hours: int,
    evidence_ids: Sequence[uuid.UUID] | None = None,
    case_number: str | None = None,
) -> AccessRequest:
    """File an access request for records or a whole case; a party copy of confidential records is refused.

    A whole-case party copy leaves the case's confidential records out and lists them (withheld_ids).
    """
    require(actor, Permission.REQUEST_ACCESS)
    if actor.id is None:
        raise InvalidInput("only a signed-in person can request access")
    if not reason.strip():
        raise InvalidInput("give a reason for the request (申请理由)")
    if not 1 <= duration_hours <= max_hours:
        raise InvalidInput(f"duration_hours must be between 1 and {max_hours}", details={"max_hours": max_hours})
    records, case_id, withheld = _resolve_scope(session, actor, evidence_ids, case_number, purpose)
    request = AccessRequest(
        requester_id=actor.id,
        case_id=case_id,
        whole_case=bool(case_number),
        purpose=purpose,
        mode=mode,
        duration_hours=duration_hours,
        reason=reason.strip(),
        created_at=now,
        items=[AccessRequestRecord(evidence_id=e.id) for e in records],
        withheld_ids=[str(e.id) for e in withheld],
    )
    session.add(request)
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.ACCESS_REQUESTED,
        subject_type="access_request",
        subject_id=request.id,
        case_id=case_id,
        now=now,
        details={
            "purpose": purpose.value,
            "mode": mode.value,
            "duration_hours": duration_hours,
            "reason": request.reason,
            "whole_case": request.whole_case,
            "records": [str(e.id) for e in records],
            "withheld": request.withheld_ids,
        },
    )
    if purpose == AccessPurpose.PARTY_COPY and (secret := confidential_records(records)):
        _refuse_by_rule(session, actor, request, secret, now)
    return request


def _refuse_by_rule(
    session: Session, actor: Actor, request: AccessRequest, secret: Sequence[Evidence], now: datetime
) -> None:
    message = confidential_reason(secret)
    request.status = RequestStatus.REFUSED_BY_RULE
    request.decided_at = now
    request.decision_reason = message
    session.flush()
    raise _refuse(
        PermissionDenied(message, details={"request_id": str(request.id), "rule": "000 第九条"}),
        session=session,
        actor=actor,
        action=CustodyAction.ACCESS_DENIED,
        subject_type="access_request",
        subject_id=request.id,
        case_id=request.case_id,
        now=now,
        details={"by_rule": True, "reason": message, "confidential_records": [str(e.id) for e in secret]},
    )


def _may_see_request(actor: Actor, request: AccessRequest) -> bool:
    return (
        request.requester_id == actor.id
        or has_permission(actor, Permission.DECIDE_ACCESS)
        or has_permission(actor, Permission.READ_AUDIT_LOG)
    )


def get_request(*, session: Session, actor: Actor, request_id: uuid.UUID) -> AccessRequest:
    """Return a request to its requester, approvers and auditors; to anyone else it does not exist."""
    request = session.get(AccessRequest, request_id)
    if request is None or not _may_see_request(actor, request):
        raise NotFound(f"no access request {request_id}")
    return request


def list_requests(
    *, session: Session, actor: Actor, status: RequestStatus | None = None, limit: int = 200, mine: bool = False
) -> list[AccessRequest]:
    """List requests, newest first: approvers and auditors see all (unless `mine`), everyone else their own."""
    query = select(AccessRequest).order_by(AccessRequest.created_at.desc()).limit(min(limit, 1000))
    if mine or not (
        has_permission(actor, Permission.DECIDE_ACCESS) or has_permission(actor, Permission.READ_AUDIT_LOG)
    ):
        query = query.where(AccessRequest.requester_id == actor.id)
    if status is not None:
        query = query.where(AccessRequest.status == status)
    return list(session.scalars(query))


def _pending_for_decision(session: Session, actor: Actor, request_id: uuid.UUID, now: datetime) -> AccessRequest:
    require(actor, Permission.DECIDE_ACCESS)
    request = get_request(session=session, actor=actor, request_id=request_id)
    if request.requester_id == actor.id:
        raise _refuse(
            PermissionDenied(
                "an approver may never decide their own access request; another approver (审批人) must decide it",
                details={"request_id": str(request.id)},
            ),
            session=session,
            actor=actor,
            action=CustodyAction.ACCESS_DECISION_REFUSED,
            subject_type="access_request",
            subject_id=request.id,
            case_id=request.case_id,
            now=now,
            details={"reason": "own request"},
        )
    if request.status != RequestStatus.PENDING:
        raise Conflict(f"access request {request.id} was already decided: {request.status.value}")
    return request


def _narrowed(
    request: AccessRequest,
    evidence_ids: Sequence[uuid.UUID] | None,
    mode: AccessMode | None,
    duration_hours: int | None,
) -> tuple[list[uuid.UUID], AccessMode, int]:
    requested = request.record_ids
    ids = list(dict.fromkeys(evidence_ids)) if evidence_ids else requested
    if not ids or not set(ids) <= set(requested):
        raise InvalidInput("an approval may only narrow the requested records, never add to them")
    if mode == AccessMode.VIEW_DOWNLOAD and request.mode == AccessMode.VIEW:
        raise InvalidInput("an approval may not widen a view-only request to view and download")
    hours = duration_hours or request.duration_hours
    if not 1 <= hours <= request.duration_hours:
        raise InvalidInput(f"duration_hours must be between 1 and the requested {request.duration_hours}")
    return ids, mode or request.mode, hours


def approve_request(
    *,
    session: Session,
    actor: Actor,
    request_id: uuid.UUID,
    now: datetime,
    evidence_ids: Sequence[uuid.UUID] | None = None,
    mode: AccessMode | None = None,
    duration_hours: int | None = None,
    note: str = "",
) -> AccessGrant:
    """Approve a pending request (possibly narrowing records, mode or duration) and issue its grant."""
    request = _pending_for_decision(session, actor, request_id, now)
    ids, final_mode, hours = _narrowed(request, evidence_ids, mode, duration_hours)
    if request.purpose == AccessPurpose.PARTY_COPY:
        records = [e for e in (session.get(Evidence, i) for i in ids) if e is not None]
        if secret := confidential_records(records):
            _refuse_by_rule(session, actor, request, secret, now)
    assert actor.id is not None  # DECIDE_ACCESS is a role permission; the system actor never approves
    grant = AccessGrant(
        request_id=request.id,
        grantee_id=request.requester_id,
        approver_id=actor.id,
        purpose=request.purpose,
        mode=final_mode,
        case_id=request.case_id,
        starts_at=now,
        expires_at=now + timedelta(hours=hours),
        items=[AccessGrantRecord(evidence_id=i) for i in ids],
    )
    _record_decision(session, request, RequestStatus.APPROVED, actor, now)
    request.decision_reason = note.strip()
    session.add(grant)
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.ACCESS_APPROVED,
        subject_type="access_request",
        subject_id=request.id,
        case_id=request.case_id,
        now=now,
        details={
            "grant_id": str(grant.id),
            "grantee_id": str(grant.grantee_id),
            "mode": final_mode.value,
            "expires_at": grant.expires_at.isoformat(),
            "records": [str(i) for i in ids],
            "narrowed": ids != request.record_ids or final_mode != request.mode or hours != request.duration_hours,
            "note": request.decision_reason,
        },
    )
    return grant


def _record_decision(session: Session, request: AccessRequest, status: RequestStatus, actor: Actor,
                     now: datetime) -> None:
    # Set the relationship, not only its id: the request was loaded with decided_by joined (None), and the answer
    # reads the relationship, which setting the id alone leaves stale until the next load.
    request.status, request.decided_at = status, now
    request.decided_by = session.get(User, actor.id)


def deny_request(*, session: Session, actor: Actor, request_id: uuid.UUID, reason: str, now: datetime) -> AccessRequest:
    """Deny a pending request with a reason."""
    if not reason.strip():
        raise InvalidInput("a denial needs a reason (不予批准理由)")
    request = _pending_for_decision(session, actor, request_id, now)
    _record_decision(session, request, RequestStatus.DENIED, actor, now)
    request.decision_reason = reason.strip()
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.ACCESS_DENIED,
        subject_type="access_request",
        subject_id=request.id,
        case_id=request.case_id,
        now=now,
        details={"by_rule": False, "reason": request.decision_reason},
    )
    return request


def get_grant(*, session: Session, actor: Actor, grant_id: uuid.UUID) -> AccessGrant:
    """Return a grant to its holder, approvers and auditors."""
    grant = session.get(AccessGrant, grant_id)
    if grant is None or not _may_see_request(actor, grant.request):
        raise NotFound(f"no access grant {grant_id}")
    return grant


def revoke_grant(
    *, session: Session, actor: Actor, grant_id: uuid.UUID, reason: str, now: datetime
) -> AccessGrant:
    """Revoke a grant before it expires; later content reads under it are refused."""
    require(actor, Permission.DECIDE_ACCESS)
    if not reason.strip():
        raise InvalidInput("a revocation needs a reason")
    grant = get_grant(session=session, actor=actor, grant_id=grant_id)
    if grant.revoked_at is not None:
        raise Conflict(f"grant {grant.id} was already revoked at {grant.revoked_at.isoformat()}")
    if now >= grant.expires_at:
        raise Conflict(f"grant {grant.id} already expired at {grant.expires_at.isoformat()}")
    grant.revoked_at, grant.revoked_by_id, grant.revoke_reason = now, actor.id, reason.strip()
    close_playback_for_grant(session=session, grant_id=grant.id, now=now)
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.ACCESS_REVOKED,
        subject_type="access_request",
        subject_id=grant.request_id,
        case_id=grant.case_id,
        now=now,
        details={"grant_id": str(grant.id), "reason": grant.revoke_reason},
    )
    return grant


def list_grants(
    *, session: Session, actor: Actor, now: datetime, active_only: bool = True, mine: bool = False
) -> list[AccessGrant]:
    """List grants, newest first: approvers and auditors see all (unless `mine`), everyone else their own."""
    query = select(AccessGrant).order_by(AccessGrant.starts_at.desc()).limit(1000)
    if mine or not (
        has_permission(actor, Permission.DECIDE_ACCESS) or has_permission(actor, Permission.READ_AUDIT_LOG)
    ):
        query = query.where(AccessGrant.grantee_id == actor.id)
    if active_only:
        query = query.where(
            AccessGrant.revoked_at.is_(None), AccessGrant.starts_at <= now, AccessGrant.expires_at > now
        )
    return list(session.scalars(query))


def grants_covering(session: Session, user_id: uuid.UUID, evidence_id: uuid.UUID) -> list[AccessGrant]:
    """Return every grant (active or not) the user holds that names this record, newest first."""
    return list(session.scalars(_covering(user_id, evidence_id)))


def _covering(user_id: uuid.UUID, evidence_id: uuid.UUID) -> Select[AccessGrant]:
    return (
        select(AccessGrant)
        .join(AccessGrantRecord, AccessGrantRecord.grant_id == AccessGrant.id)
        .where(AccessGrant.grantee_id == user_id, AccessGrantRecord.evidence_id == evidence_id)
        .order_by(AccessGrant.expires_at.desc())
    )


def active_grant(
    session: Session, actor: Actor, evidence_id: uuid.UUID, *, download: bool, now: datetime
) -> AccessGrant | None:
    """Return the actor's grant in force now for this record (with download rights if asked), if any."""
    if actor.id is None:
        return None
    # Asked on every playback range: the grant's own row is enough (its people and request load if touched).
    for grant in session.scalars(_covering(actor.id, evidence_id).options(lazyload("*"))):
        if grant.active_at(now) and (grant.mode == AccessMode.VIEW_DOWNLOAD or not download):
            return grant
    return None


def _export_grants(
    session: Session, actor: Actor, wanted: Sequence[uuid.UUID], now: datetime
) -> tuple[list[AccessGrant], list[uuid.UUID]]:
    """Return the active download grants covering every record, and else the fewest records left uncovered."""
    covering: list[AccessGrant] = []
    uncovered = list(wanted)
    for grant in grants_covering(session, actor.id, wanted[0]) if actor.id else []:
        if not grant.active_at(now) or grant.mode != AccessMode.VIEW_DOWNLOAD:
            continue
        covered = set(grant.record_ids)
        missing = [i for i in wanted if i not in covered]
        if not missing:
            covering.append(grant)
        elif not covering and len(missing) < len(uncovered):
            uncovered = missing
    return covering, [] if covering else uncovered


def _export_refusal(
    session: Session, grants: Sequence[AccessGrant], uncovered: list[uuid.UUID], wanted: list[uuid.UUID],
    purpose: AccessPurpose,
) -> tuple[str, list[uuid.UUID], dict[str, Any]] | None:
    """Return why the export is refused (message, records named, details), or None when a grant fits."""
    if purpose == AccessPurpose.PARTY_COPY and (
        secret := confidential_records([e for e in (session.get(Evidence, i) for i in wanted) if e is not None])
    ):
        return confidential_reason(secret), [e.id for e in secret], {"rule": "000 第九条"}
    if any(g.purpose == purpose for g in grants):
        return None
    if grants:
        others = ", ".join(f"{g.id} ({g.purpose.value})" for g in grants)
        return (
            f"the approvals (批准) covering records {name_records(wanted)} were granted for another purpose: "
            f"{others}; this export needs an approval for {PURPOSE_LABELS[purpose]}",
            wanted, {"needed_purpose": purpose.value, "grants": {str(g.id): g.purpose.value for g in grants}},
        )
    return (
        "no single approved, unexpired, unrevoked view-and-download grant (查阅复制审批) covers "
        f"{len(uncovered)} of the {len(wanted)} records to export: {name_records(uncovered)}",
        uncovered, {"needed_purpose": purpose.value},
    )


def require_export_grant(
    *, session: Session, actor: Actor, evidence_ids: Sequence[uuid.UUID], purpose: AccessPurpose, now: datetime
) -> AccessGrant:
    """Return the actor's active view_download grant for this purpose covering every record, or raise.

    Among several such grants the one that expires last is used; a grant for another purpose never is.
    """
    wanted = list(dict.fromkeys(evidence_ids))
    if not wanted:
        raise InvalidInput("an export needs at least one record")
    grants, uncovered = _export_grants(session, actor, wanted, now)
    refusal = _export_refusal(session, grants, uncovered, wanted, purpose)
    if refusal is None:
        return max((g for g in grants if g.purpose == purpose), key=lambda g: g.expires_at)
    reason, named, extra = refusal
    error = PermissionDenied(reason, details={"uncovered": [str(i) for i in named], **extra})
    cases = {e.id: e.case_id for e in session.scalars(select(Evidence).where(Evidence.id.in_(named[:100])))}
    raise refuse_records(session=session, actor=actor, records=[(i, cases.get(i)) for i in named], error=error,
                         now=now, details={"operation": "export", "reason": reason, "records": len(wanted)})
