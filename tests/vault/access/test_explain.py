"""Why a person may not play or download a record, told from their own requests and grants (000 第十二条)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.vault.access.conftest import GrantFor, Media, People, StoreEvidence
from vault.access.explain import Missing, explain_missing_approval
from vault.access.models import AccessMode, AccessPurpose, AccessRequest
from vault.access.service import approve_request, deny_request, request_access, revoke_grant


@pytest.fixture
def clip(people: People, media: Media, store_evidence: StoreEvidence) -> uuid.UUID:
    """Return a browser-playable MP4 record uploaded by the officer."""
    return store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")


def _request(session: Session, people: People, ids: list[uuid.UUID], now: datetime,
             mode: AccessMode = AccessMode.VIEW) -> AccessRequest:
    return request_access(session=session, actor=people.reviewer.actor, evidence_ids=ids,
                          purpose=AccessPurpose.LEGAL_REVIEW, mode=mode, duration_hours=4, reason="法制审核",
                          now=now, max_hours=720)


def test_without_any_request_the_viewer_is_told_to_file_one(session: Session, people: People, clip: uuid.UUID,
                                                             now: datetime) -> None:
    # (000 第十二条) no viewing without approval: the first thing missing is a request
    explained = explain_missing_approval(session=session, actor=people.reviewer.actor, evidence_id=clip,
                                         download=False, now=now)
    assert explained is not None and explained.missing == Missing.NO_REQUEST
    assert "file one and obtain a viewing approval" in explained.message


def test_a_pending_request_names_when_it_was_filed_and_who_may_decide(
    session: Session, people: People, clip: uuid.UUID, now: datetime
) -> None:
    request = _request(session, people, [clip], now - timedelta(hours=3))
    explained = explain_missing_approval(session=session, actor=people.reviewer.actor, evidence_id=clip,
                                         download=False, now=now)
    assert explained is not None and explained.missing == Missing.PENDING
    assert explained.request_id == request.id and explained.at == now - timedelta(hours=3)
    assert set(explained.waiting_on) == {"approver-zhao", "approver-qian"}
    # an approver's own request waits on the others only (never their own decision)
    own = request_access(session=session, actor=people.approver.actor, evidence_ids=[clip],
                         purpose=AccessPurpose.LEGAL_REVIEW, mode=AccessMode.VIEW, duration_hours=1, reason="核查",
                         now=now, max_hours=720)
    mine = explain_missing_approval(session=session, actor=people.approver.actor, evidence_id=clip, download=False,
                                    now=now)
    assert mine is not None and mine.request_id == own.id and mine.waiting_on == ("approver-qian",)


def test_a_denial_gives_its_reason_and_who_denied(session: Session, people: People, clip: uuid.UUID,
                                                  now: datetime) -> None:
    request = _request(session, people, [clip], now)
    deny_request(session=session, actor=people.approver.actor, request_id=request.id, reason="与本案无关", now=now)
    explained = explain_missing_approval(session=session, actor=people.reviewer.actor, evidence_id=clip,
                                         download=False, now=now + timedelta(minutes=1))
    assert explained is not None and explained.missing == Missing.DENIED
    assert (explained.reason, explained.by, explained.at) == ("与本案无关", "approver-zhao", now)


def test_an_approval_that_left_the_record_out_says_so(
    session: Session, people: People, media: Media, clip: uuid.UUID, store_evidence: StoreEvidence, now: datetime
) -> None:
    photo = store_evidence(media.jpeg, uploader=people.officer, media_type="image/jpeg")
    request = _request(session, people, [clip, photo], now)
    approve_request(session=session, actor=people.approver.actor, request_id=request.id, now=now,
                    evidence_ids=[photo], note="只需照片")
    explained = explain_missing_approval(session=session, actor=people.reviewer.actor, evidence_id=clip,
                                         download=False, now=now)
    assert explained is not None and explained.missing == Missing.NARROWED and explained.reason == "只需照片"
    assert explain_missing_approval(session=session, actor=people.reviewer.actor, evidence_id=photo,
                                    download=False, now=now) is None


def test_an_expired_grant_says_when(session: Session, people: People, clip: uuid.UUID, now: datetime) -> None:
    request = _request(session, people, [clip], now)
    grant = approve_request(session=session, actor=people.approver.actor, request_id=request.id, now=now,
                            duration_hours=1)
    later = now + timedelta(hours=2)
    explained = explain_missing_approval(session=session, actor=people.reviewer.actor, evidence_id=clip,
                                         download=False, now=later)
    assert explained is not None and explained.missing == Missing.EXPIRED
    assert (explained.grant_id, explained.at) == (grant.id, now + timedelta(hours=1))


def test_a_revoked_grant_says_by_whom_and_why(session: Session, people: People, clip: uuid.UUID,
                                              now: datetime) -> None:
    request = _request(session, people, [clip], now)
    grant = approve_request(session=session, actor=people.approver.actor, request_id=request.id, now=now)
    revoke_grant(session=session, actor=people.second_approver.actor, grant_id=grant.id, reason="审核已结束",
                 now=now + timedelta(minutes=5))
    explained = explain_missing_approval(session=session, actor=people.reviewer.actor, evidence_id=clip,
                                         download=False, now=now + timedelta(minutes=6))
    assert explained is not None and explained.missing == Missing.REVOKED
    assert (explained.by, explained.reason) == ("approver-qian", "审核已结束")
    assert explained.details()["grant_id"] == str(grant.id)


def test_a_view_only_grant_explains_a_download_but_allows_playback(
    session: Session, people: People, clip: uuid.UUID, now: datetime
) -> None:
    request = _request(session, people, [clip], now)
    grant = approve_request(session=session, actor=people.approver.actor, request_id=request.id, now=now)
    assert explain_missing_approval(session=session, actor=people.reviewer.actor, evidence_id=clip, download=False,
                                    now=now) is None
    explained = explain_missing_approval(session=session, actor=people.reviewer.actor, evidence_id=clip,
                                         download=True, now=now)
    assert explained is not None and explained.missing == Missing.VIEW_ONLY and explained.grant_id == grant.id


def test_the_latest_ending_is_told_and_a_new_pending_request_comes_first(
    session: Session, people: People, clip: uuid.UUID, now: datetime
) -> None:
    first = approve_request(session=session, actor=people.approver.actor, now=now, duration_hours=1,
                            request_id=_request(session, people, [clip], now).id)
    later = now + timedelta(hours=3)
    denied = _request(session, people, [clip], later)
    deny_request(session=session, actor=people.approver.actor, request_id=denied.id, reason="理由不足", now=later)
    explained = explain_missing_approval(session=session, actor=people.reviewer.actor, evidence_id=clip,
                                         download=False, now=later)
    assert explained is not None and explained.missing == Missing.DENIED and explained.grant_id is None
    assert first.expires_at < later
    again = _request(session, people, [clip], later)
    explained = explain_missing_approval(session=session, actor=people.reviewer.actor, evidence_id=clip,
                                         download=False, now=later)
    assert explained is not None and explained.request_id == again.id and explained.missing == Missing.PENDING


def test_the_api_refusal_carries_the_same_explanation(client: TestClient, people: People, clip: uuid.UUID,
                                                      grant_for: GrantFor) -> None:
    grant = grant_for(people.reviewer, [clip])
    response = client.get(f"/api/evidence/{clip}/download", headers=people.reviewer.headers)
    assert response.status_code == 403
    details = response.json()["error"]["details"]
    assert details["missing"] == "view_only" and details["grant_id"] == str(grant.id)
    assert details["operation"] == "download" and details["evidence_id"] == str(clip)
    pending = client.post("/api/access/requests", headers=people.records_manager.headers, json={
        "evidence_ids": [str(clip)], "purpose": "filing_review", "duration_hours": 2, "reason": "备案审查"})
    assert pending.status_code == 201
    refused = client.get(f"/api/evidence/{clip}/play", headers=people.records_manager.headers).json()["error"]
    assert refused["details"]["missing"] == "pending" and refused["details"]["request_id"] == pending.json()["id"]
