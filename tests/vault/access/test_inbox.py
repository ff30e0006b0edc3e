"""The approver's inbox: pending requests with age, purpose, requester and a metadata preview, never content."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.vault.access.conftest import Media, People, StoreEvidence
from vault.access.inbox import approver_inbox
from vault.access.models import REQUEST_PURPOSES, AccessMode, AccessPurpose
from vault.access.service import approve_request, deny_request, list_grants, list_requests, request_access
from vault.cases.models import Case
from vault.errors import PermissionDenied


def test_pending_requests_oldest_first_with_age_and_a_metadata_preview(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence,
    make_case: Callable[[str], Case], now: datetime
) -> None:
    case = make_case("阜应急罚字〔2025〕12号")
    clip = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4", case=case,
                          media_info={"duration": 6.0})
    older = request_access(session=session, actor=people.reviewer.actor, evidence_ids=[clip],
                           purpose=AccessPurpose.RECONSIDERATION, mode=AccessMode.VIEW_DOWNLOAD, duration_hours=8,
                           reason="行政复议答复", now=now - timedelta(hours=5), max_hours=720)
    newer = request_access(session=session, actor=people.records_manager.actor, case_number=case.case_number,
                           purpose=AccessPurpose.FILING_REVIEW, mode=AccessMode.VIEW, duration_hours=2,
                           reason="备案审查", now=now - timedelta(minutes=10), max_hours=720)
    decided = request_access(session=session, actor=people.reviewer.actor, evidence_ids=[clip],
                             purpose=AccessPurpose.LITIGATION, mode=AccessMode.VIEW, duration_hours=2,
                             reason="x", now=now, max_hours=720)
    deny_request(session=session, actor=people.approver.actor, request_id=decided.id, reason="重复申请", now=now)
    items = approver_inbox(session=session, actor=people.approver.actor, now=now)
    assert [i.request_id for i in items] == [older.id, newer.id]  # decided requests leave the inbox
    first = items[0]
    assert (first.requester, first.purpose, first.age) == ("reviewer-wang", AccessPurpose.RECONSIDERATION,
                                                           timedelta(hours=5))
    (preview,) = first.records
    assert preview.name == "执法记录-clip.mp4" and preview.case_number == "阜应急罚字〔2025〕12号"
    assert preview.duration_seconds == 6.0 and preview.size == media.mp4.stat().st_size
    assert items[1].whole_case and items[1].case_number == case.case_number and not items[1].own


def test_an_approvers_own_request_is_marked_so_no_decision_is_offered(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence, now: datetime
) -> None:
    # issue 13: never their own request (the button is absent, and the service refuses it)
    clip = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    request_access(session=session, actor=people.approver.actor, evidence_ids=[clip],
                   purpose=AccessPurpose.LEGAL_REVIEW, mode=AccessMode.VIEW, duration_hours=1, reason="核查",
                   now=now, max_hours=720)
    (mine,) = approver_inbox(session=session, actor=people.approver.actor, now=now)
    (theirs,) = approver_inbox(session=session, actor=people.second_approver.actor, now=now)
    assert mine.own and not theirs.own


@pytest.mark.parametrize("role", ["officer", "reviewer", "records_manager", "auditor", "admin"])
def test_only_approvers_have_an_inbox(session: Session, people: People, now: datetime, role: str) -> None:
    with pytest.raises(PermissionDenied):
        approver_inbox(session=session, actor=getattr(people, role).actor, now=now)


def test_the_inbox_over_http_shows_metadata_and_no_content_links(
    client: TestClient, people: People, media: Media, store_evidence: StoreEvidence
) -> None:
    clip = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4", thumbnail=media.jpeg)
    filed = client.post("/api/access/requests", headers=people.reviewer.headers, json={
        "evidence_ids": [str(clip)], "purpose": "legal_review", "duration_hours": 4, "reason": "法制审核"})
    assert filed.status_code == 201
    response = client.get("/api/access/inbox", headers=people.approver.headers)
    assert response.status_code == 200
    (item,) = response.json()
    assert item["request_id"] == filed.json()["id"] and item["purpose_label"] == "legal review (法制审核)"
    assert 0 <= item["age_seconds"] < 60 and item["hidden_records"] == 0 and item["own"] is False
    (record,) = item["records"]
    assert record["evidence_id"] == str(clip) and record["media_type"] == "video/mp4"
    assert "thumbnail" not in str(item) and "/api/evidence" not in str(item)  # a preview of metadata, not content
    assert client.get("/api/access/inbox", headers=people.reviewer.headers).status_code == 403


def test_the_request_form_offers_the_issues_five_purposes_first() -> None:
    # issue 13: 法制审核, 行政复议, 行政诉讼, 备案审查, 当事人申请复制
    assert REQUEST_PURPOSES[:5] == (AccessPurpose.LEGAL_REVIEW, AccessPurpose.RECONSIDERATION,
                                    AccessPurpose.LITIGATION, AccessPurpose.FILING_REVIEW, AccessPurpose.PARTY_COPY)
    assert set(REQUEST_PURPOSES) == set(AccessPurpose)


def test_my_requests_and_grants_are_an_approvers_own_only(
    session: Session, people: People, media: Media, store_evidence: StoreEvidence, now: datetime
) -> None:
    # the "my requests and grants" page: an approver sees everyone's in the inbox, only their own here
    clip = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    theirs = request_access(session=session, actor=people.reviewer.actor, evidence_ids=[clip],
                            purpose=AccessPurpose.LEGAL_REVIEW, mode=AccessMode.VIEW, duration_hours=1,
                            reason="法制审核", now=now, max_hours=720)
    mine = request_access(session=session, actor=people.approver.actor, evidence_ids=[clip],
                          purpose=AccessPurpose.LITIGATION, mode=AccessMode.VIEW, duration_hours=1,
                          reason="应诉", now=now, max_hours=720)
    approve_request(session=session, actor=people.approver.actor, request_id=theirs.id, now=now)
    granted = approve_request(session=session, actor=people.second_approver.actor, request_id=mine.id, now=now)
    approver = people.approver.actor
    assert len(list_requests(session=session, actor=approver)) == 2
    assert [r.id for r in list_requests(session=session, actor=approver, mine=True)] == [mine.id]
    assert len(list_grants(session=session, actor=approver, now=now)) == 2
    assert [g.id for g in list_grants(session=session, actor=approver, now=now, mine=True)] == [granted.id]
