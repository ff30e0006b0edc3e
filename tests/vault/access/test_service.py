"""Requests, decisions, grants and the export check, at the service layer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.vault.access.conftest import GrantFor, Media, People, StoreEvidence
from vault.access.models import AccessMode, AccessPurpose, AccessRequest, RequestStatus
from vault.access.service import (
    approve_request,
    deny_request,
    list_requests,
    request_access,
    require_export_grant,
    revoke_grant,
)
from vault.cases.models import Case
from vault.custody.models import CustodyEvent
from vault.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from vault.evidence.models import Confidentiality


def _actions(session: Session, subject_id: object) -> list[str]:
    query = select(CustodyEvent.action).where(CustodyEvent.subject_id == str(subject_id))
    return list(session.scalars(query.order_by(CustodyEvent.log_index)))


def _request(session: Session, people: People, ids: list[uuid.UUID], now: datetime, **kw: object) -> AccessRequest:
    args: dict[str, object] = {"purpose": AccessPurpose.LEGAL_REVIEW, "mode": AccessMode.VIEW_DOWNLOAD,
                               "duration_hours": 8, "reason": "法制审核", "max_hours": 720, **kw}
    return request_access(session=session, actor=people.reviewer.actor, evidence_ids=ids, now=now, **args)  # type: ignore[arg-type]


def test_request_then_narrowed_approval_issues_a_grant_and_logs_both(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence, now: datetime
) -> None:
    first = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    second = store_evidence(media.jpeg, uploader=people.officer, media_type="image/jpeg")
    request = _request(session, people, [first, second], now)
    grant = approve_request(session=session, actor=people.approver.actor, request_id=request.id, now=now,
                            evidence_ids=[first], mode=AccessMode.VIEW, duration_hours=2, note="only the clip")
    session.commit()
    assert grant.record_ids == [first] and grant.mode == AccessMode.VIEW
    assert grant.expires_at - grant.starts_at == timedelta(hours=2)
    assert request.status == RequestStatus.APPROVED and request.decided_by_id == people.approver.user.id
    assert _actions(session, request.id) == ["access:requested", "access:approved"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": AccessMode.VIEW_DOWNLOAD}, "widen"),
        ({"duration_hours": 9}, "between 1 and the requested 8"),
        ({"evidence_ids": [uuid.uuid4()]}, "only narrow"),
    ],
)
def test_an_approval_can_only_narrow(session: Session, people: People, media: Media, store_evidence: StoreEvidence,
                                     now: datetime, change: dict[str, object], message: str) -> None:
    record = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    request = _request(session, people, [record], now, mode=AccessMode.VIEW)
    with pytest.raises(InvalidInput, match=message):
        approve_request(session=session, actor=people.approver.actor, request_id=request.id, now=now, **change)  # type: ignore[arg-type]


def test_an_approver_never_decides_their_own_request_and_the_attempt_is_logged(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence, now: datetime
) -> None:
    record = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    request = request_access(session=session, actor=people.approver.actor, evidence_ids=[record],
                             purpose=AccessPurpose.INVESTIGATION, mode=AccessMode.VIEW, duration_hours=1,
                             reason="核查", now=now, max_hours=720)
    with pytest.raises(PermissionDenied, match="never decide their own") as caught:
        approve_request(session=session, actor=people.approver.actor, request_id=request.id, now=now)
    assert caught.value.record_kept
    with pytest.raises(PermissionDenied, match="never decide their own"):
        deny_request(session=session, actor=people.approver.actor, request_id=request.id, reason="x", now=now)
    assert _actions(session, request.id)[-2:] == ["access:decision_refused", "access:decision_refused"]
    grant = approve_request(session=session, actor=people.second_approver.actor, request_id=request.id, now=now)
    assert grant.grantee_id == people.approver.user.id


def test_deny_needs_a_reason_and_a_decided_request_cannot_be_decided_again(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence, now: datetime
) -> None:
    record = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    request = _request(session, people, [record], now)
    with pytest.raises(InvalidInput, match="reason"):
        deny_request(session=session, actor=people.approver.actor, request_id=request.id, reason=" ", now=now)
    denied = deny_request(session=session, actor=people.approver.actor, request_id=request.id,
                          reason="not related to the case", now=now)
    assert denied.status == RequestStatus.DENIED and denied.decision_reason == "not related to the case"
    with pytest.raises(Conflict, match="already decided"):
        approve_request(session=session, actor=people.approver.actor, request_id=request.id, now=now)
    assert "access:denied" in _actions(session, request.id)


def test_party_copy_of_a_confidential_record_is_refused_by_rule(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence, now: datetime
) -> None:
    open_record = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    secret = store_evidence(media.jpeg, uploader=people.officer, media_type="image/jpeg",
                            confidentiality=Confidentiality.TRADE_SECRET)
    with pytest.raises(PermissionDenied, match="trade_secret") as caught:
        _request(session, people, [open_record, secret], now, purpose=AccessPurpose.PARTY_COPY)
    assert caught.value.record_kept and "当事人申请复制" in caught.value.message
    session.commit()
    refused = session.scalars(select(AccessRequest)).one()
    assert refused.status == RequestStatus.REFUSED_BY_RULE
    assert _actions(session, refused.id) == ["access:requested", "access:denied"]
    # The same records for legal review are fine; a party copy of the open record alone is fine too.
    assert _request(session, people, [open_record, secret], now).status == RequestStatus.PENDING
    assert _request(session, people, [open_record], now, purpose=AccessPurpose.PARTY_COPY).status == "pending"


def test_whole_case_request_covers_the_cases_records(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence,
    make_case: Callable[[str], Case], now: datetime
) -> None:
    case = make_case("阜应急罚字〔2023〕40号")
    in_case = [store_evidence(p, uploader=people.officer, media_type="video/mp4", case=case)
               for p in (media.mp4, media.proxy)]
    store_evidence(media.jpeg, uploader=people.officer, media_type="image/jpeg")
    request = request_access(session=session, actor=people.reviewer.actor, case_number=case.case_number,
                             purpose=AccessPurpose.RECONSIDERATION, mode=AccessMode.VIEW, duration_hours=24,
                             reason="行政复议答复", now=now, max_hours=720)
    assert request.whole_case and sorted(request.record_ids) == sorted(in_case) and request.case_id == case.id
    with pytest.raises(InvalidInput, match="either the records"):
        request_access(session=session, actor=people.reviewer.actor, case_number=case.case_number,
                       evidence_ids=in_case, purpose=AccessPurpose.RECONSIDERATION, mode=AccessMode.VIEW,
                       duration_hours=1, reason="x", now=now, max_hours=720)


def test_whole_case_party_copy_request_leaves_out_confidential_records_and_names_them(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence,
    make_case: Callable[[str], Case], now: datetime
) -> None:
    # Confidential records may not be copied (`000` 第九条): a whole-case party copy omits them, listed, not refused.
    case = make_case("阜应急罚字〔2023〕40号")
    open_record = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4", case=case)
    secret = store_evidence(media.jpeg, uploader=people.officer, media_type="image/jpeg", case=case,
                            confidentiality=Confidentiality.PERSONAL_PRIVACY)
    args: dict[str, object] = {"purpose": AccessPurpose.PARTY_COPY, "mode": AccessMode.VIEW_DOWNLOAD,
                               "duration_hours": 8, "reason": "当事人申请复制", "max_hours": 720}
    request = request_access(session=session, actor=people.reviewer.actor, case_number=case.case_number, now=now,
                             **args)  # type: ignore[arg-type]
    assert request.status == RequestStatus.PENDING and request.record_ids == [open_record]
    assert request.withheld_ids == [str(secret)]
    requested = session.scalars(select(CustodyEvent).where(CustodyEvent.subject_id == str(request.id))).one()
    assert requested.details["withheld"] == [str(secret)]
    grant = approve_request(session=session, actor=people.approver.actor, request_id=request.id, now=now)
    assert grant.record_ids == [open_record]
    session.commit()
    only_secret = make_case("阜应急罚字〔2023〕41号")
    hidden = store_evidence(media.proxy, uploader=people.officer, media_type="video/mp4", case=only_secret,
                            confidentiality=Confidentiality.STATE_SECRET)
    with pytest.raises(InvalidInput, match="only confidential records") as refused:
        request_access(session=session, actor=people.reviewer.actor, case_number=only_secret.case_number, now=now,
                       **args)  # type: ignore[arg-type]
    assert str(hidden) in refused.value.message


def test_export_grant_is_the_one_for_the_purpose(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence, grant_for: GrantFor, now: datetime
) -> None:
    # The export picks the grant whose purpose matches (issue 12 item 3), not the one that expires last.
    record = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    party = grant_for(people.records_manager, [record], mode=AccessMode.VIEW_DOWNLOAD, at=now,
                      purpose=AccessPurpose.PARTY_COPY)
    litigation = grant_for(people.records_manager, [record], mode=AccessMode.VIEW_DOWNLOAD, at=now + timedelta(hours=1),
                           purpose=AccessPurpose.LITIGATION)
    later = now + timedelta(hours=2)
    for purpose, expected in ((AccessPurpose.PARTY_COPY, party), (AccessPurpose.LITIGATION, litigation)):
        used = require_export_grant(session=session, actor=people.records_manager.actor, evidence_ids=[record],
                                    purpose=purpose, now=later)
        assert used.id == expected.id
    with pytest.raises(PermissionDenied, match="another purpose") as refused:
        require_export_grant(session=session, actor=people.records_manager.actor, evidence_ids=[record],
                             purpose=AccessPurpose.RECONSIDERATION, now=later)
    assert str(record) in refused.value.message and refused.value.details["needed_purpose"] == "reconsideration"


def test_requests_for_unknown_or_unseen_records_do_not_leak(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence, now: datetime
) -> None:
    record = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    for actor, ids in ((people.reviewer.actor, [uuid.uuid4()]), (people.other_officer.actor, [record])):
        with pytest.raises(NotFound, match="no evidence record"):
            request_access(session=session, actor=actor, evidence_ids=ids, purpose=AccessPurpose.INVESTIGATION,
                           mode=AccessMode.VIEW, duration_hours=1, reason="x", now=now, max_hours=720)
    with pytest.raises(PermissionDenied):
        request_access(session=session, actor=people.auditor.actor, evidence_ids=[record],
                       purpose=AccessPurpose.INVESTIGATION, mode=AccessMode.VIEW, duration_hours=1, reason="x",
                       now=now, max_hours=720)
    with pytest.raises(InvalidInput, match="between 1 and 720"):
        _request(session, people, [record], now, duration_hours=721)


def test_listing_requests_follows_role(session: Session, people: People, media: Media,
                                       store_evidence: StoreEvidence, now: datetime) -> None:
    record = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    _request(session, people, [record], now)
    request_access(session=session, actor=people.officer.actor, evidence_ids=[record], now=now,
                   purpose=AccessPurpose.INVESTIGATION, mode=AccessMode.VIEW, duration_hours=1, reason="x",
                   max_hours=720)
    assert len(list_requests(session=session, actor=people.approver.actor)) == 2
    assert len(list_requests(session=session, actor=people.auditor.actor)) == 2
    assert [r.requester_id for r in list_requests(session=session, actor=people.officer.actor)] == [
        people.officer.user.id]
    assert list_requests(session=session, actor=people.records_manager.actor) == []


def test_revoke_needs_an_approver_and_happens_once(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence, grant_for: GrantFor, now: datetime
) -> None:
    record = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    grant = grant_for(people.reviewer, [record], at=now)
    with pytest.raises(PermissionDenied):
        revoke_grant(session=session, actor=people.reviewer.actor, grant_id=grant.id, reason="x", now=now)
    revoked = revoke_grant(session=session, actor=people.approver.actor, grant_id=grant.id, reason="case closed",
                           now=now + timedelta(minutes=5))
    assert not revoked.active_at(now + timedelta(minutes=6))
    with pytest.raises(Conflict, match="already revoked"):
        revoke_grant(session=session, actor=people.approver.actor, grant_id=grant.id, reason="x", now=now)
    assert "access:revoked" in _actions(session, grant.request_id)


def test_export_grant_must_be_view_download_active_and_cover_every_record(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence, grant_for: GrantFor, now: datetime
) -> None:
    first = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    second = store_evidence(media.jpeg, uploader=people.officer, media_type="image/jpeg")
    viewing = grant_for(people.records_manager, [first, second], at=now)
    with pytest.raises(PermissionDenied, match="covers 2 of the 2") as caught:
        require_export_grant(session=session, actor=people.records_manager.actor, evidence_ids=[first, second],
                             purpose=AccessPurpose.LEGAL_REVIEW, now=now)
    assert caught.value.record_kept and viewing.mode == AccessMode.VIEW
    session.commit()  # the API's session dependency commits a kept refusal
    grant = grant_for(people.records_manager, [first], mode=AccessMode.VIEW_DOWNLOAD, at=now)
    with pytest.raises(PermissionDenied, match="covers 1 of the 2"):
        require_export_grant(session=session, actor=people.records_manager.actor, evidence_ids=[first, second],
                             purpose=AccessPurpose.LEGAL_REVIEW, now=now)
    used = require_export_grant(session=session, actor=people.records_manager.actor, evidence_ids=[first],
                                  purpose=AccessPurpose.LEGAL_REVIEW, now=now)
    assert used.id == grant.id
    with pytest.raises(PermissionDenied):
        require_export_grant(session=session, actor=people.records_manager.actor, evidence_ids=[first],
                             purpose=AccessPurpose.LEGAL_REVIEW, now=grant.expires_at)
    assert "evidence:access_refused" in _actions(session, second)
