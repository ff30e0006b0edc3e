"""Content under a grant over HTTP: ranges, proxy fallback, download digest, refusals and playback logging."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.vault.access.conftest import GrantFor, Media, People, StoreEvidence
from vault.access.jobs import flush_playback
from vault.access.models import AccessMode, AccessPurpose
from vault.access.playback import close_idle_playback
from vault.context import VaultContext
from vault.custody.models import CustodyEvent


def events(context: VaultContext, subject_id: uuid.UUID, action: str | None = None) -> list[CustodyEvent]:
    with context.sessions() as sess:
        query = select(CustodyEvent).where(CustodyEvent.subject_id == str(subject_id))
        if action:
            query = query.where(CustodyEvent.action == action)
        return list(sess.scalars(query.order_by(CustodyEvent.log_index)))


def error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    return str(response.json()["error"]["message"])


@pytest.fixture
def clip(people: People, media: Media, store_evidence: StoreEvidence) -> uuid.UUID:
    """Return a browser-playable MP4 record uploaded by the officer."""
    return store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4", thumbnail=media.jpeg)


def test_ranges_seek_and_beyond_the_end(client: TestClient, people: People, media: Media, clip: uuid.UUID,
                                        grant_for: GrantFor) -> None:
    grant_for(people.reviewer, [clip])
    data = media.mp4.read_bytes()
    url, headers = f"/api/evidence/{clip}/original", people.reviewer.headers
    whole = client.get(url, headers=headers)
    assert whole.status_code == 200 and whole.content == data and whole.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={**headers, "Range": "bytes=100-299"})
    assert part.status_code == 206 and part.content == data[100:300]
    assert part.headers["content-range"] == f"bytes 100-299/{len(data)}" and part.headers["content-length"] == "200"
    tail = client.get(url, headers={**headers, "Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    several = client.get(url, headers={**headers, "Range": "bytes=0-9, 20-29"})
    assert several.status_code == 206 and several.content == data[:10]  # multiple ranges: the first is served
    beyond = client.get(url, headers={**headers, "Range": f"bytes={len(data)}-"})
    error(beyond, 416, "range_not_satisfiable")
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"
    assert part.headers["content-type"] == "video/mp4" and part.headers["cache-control"] == "private, no-store"


def test_download_is_bit_for_bit_with_repr_digest(client: TestClient, people: People, media: Media,
                                                  clip: uuid.UUID, grant_for: GrantFor, context: VaultContext) -> None:
    grant_for(people.reviewer, [clip], mode=AccessMode.VIEW_DOWNLOAD)
    response = client.get(f"/api/evidence/{clip}/download", headers=people.reviewer.headers)
    assert response.status_code == 200 and response.content == media.mp4.read_bytes()
    digest = base64.b64encode(hashlib.sha256(response.content).digest()).decode()
    assert response.headers["repr-digest"] == f"sha-256=:{digest}:"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="') and "filename*=UTF-8''%E6%89%A7%E6%B3%95" in disposition
    (logged,) = events(context, clip, "evidence:downloaded")
    assert logged.details["range"] == "full"
    assert logged.details["sha256"] == hashlib.sha256(response.content).hexdigest()


def test_view_grant_does_not_allow_download(client: TestClient, people: People, clip: uuid.UUID,
                                            grant_for: GrantFor, context: VaultContext) -> None:
    grant = grant_for(people.reviewer, [clip])
    message = error(client.get(f"/api/evidence/{clip}/download", headers=people.reviewer.headers), 403,
                    "permission_denied")
    assert f"grant {grant.id} allows viewing only" in message
    assert events(context, clip, "evidence:access_refused")[-1].details["operation"] == "download"


def test_proxy_is_played_when_the_browser_cannot_play_the_original(
    client: TestClient, people: People, media: Media, store_evidence: StoreEvidence, grant_for: GrantFor
) -> None:
    mkv = store_evidence(media.mkv, uploader=people.officer, media_type="video/x-matroska", proxy=media.proxy)
    bare = store_evidence(media.jpeg, uploader=people.officer, media_type="image/x-nikon-nef")
    grant_for(people.reviewer, [mkv, bare])
    played = client.get(f"/api/evidence/{mkv}/play", headers={**people.reviewer.headers, "Range": "bytes=0-"})
    assert played.status_code == 206 and played.content == media.proxy.read_bytes()
    assert played.headers["x-evault-variant"] == "proxy" and played.headers["content-type"] == "video/mp4"
    original = client.get(f"/api/evidence/{mkv}/original", headers=people.reviewer.headers)
    assert original.content == media.mkv.read_bytes()
    error(client.get(f"/api/evidence/{bare}/play", headers=people.reviewer.headers), 409, "conflict")


@pytest.mark.parametrize("when", ["expired", "revoked", "another record", "none"])
def test_reads_without_an_active_grant_are_refused_and_logged(
    client: TestClient, people: People, media: Media, clip: uuid.UUID, store_evidence: StoreEvidence,
    grant_for: GrantFor, context: VaultContext, when: str
) -> None:
    if when == "expired":
        grant_for(people.reviewer, [clip], hours=1, at=datetime.now(UTC) - timedelta(hours=2))
    elif when == "revoked":
        grant = grant_for(people.reviewer, [clip])
        response = client.post(f"/api/access/grants/{grant.id}/revoke", headers=people.approver.headers,
                               json={"reason": "investigation finished"})
        assert response.status_code == 200 and response.json()["active"] is False
    elif when == "another record":
        grant_for(people.reviewer, [store_evidence(media.jpeg, uploader=people.officer, media_type="image/jpeg")])
    for variant in ("play", "original", "thumbnail", "download"):
        message = error(client.get(f"/api/evidence/{clip}/{variant}", headers=people.reviewer.headers), 403,
                        "permission_denied")
        expected = {"expired": "expired on", "revoked": "was revoked", "another record": "no approved access request",
                    "none": "no approved access request"}[when]
        assert expected in message
    error(client.post(f"/api/evidence/{clip}/links", headers=people.reviewer.headers), 403, "permission_denied")
    assert len(events(context, clip, "evidence:access_refused")) == 5


def test_unknown_and_unseen_records_are_404_without_a_leak(client: TestClient, people: People,
                                                           clip: uuid.UUID, context: VaultContext) -> None:
    missing = uuid.uuid4()
    unknown = error(client.get(f"/api/evidence/{missing}/original", headers=people.reviewer.headers), 404,
                    "not_found")
    hidden = error(client.get(f"/api/evidence/{clip}/original", headers=people.other_officer.headers), 404,
                   "not_found")
    assert unknown == f"no evidence record {missing}" and hidden == f"no evidence record {clip}"
    assert events(context, missing, "evidence:access_refused")[0].details["reason"] == "not found or not visible"


@pytest.mark.parametrize("self_view", [False, True])
def test_uploader_self_view_follows_the_agency_setting_and_is_logged(
    client: TestClient, people: People, clip: uuid.UUID, context: VaultContext, self_view: bool
) -> None:
    context.settings.uploader_self_view = self_view
    response = client.get(f"/api/evidence/{clip}/original", headers=people.officer.headers)
    if self_view:
        assert response.status_code == 200
        assert events(context, clip, "evidence:viewed")[0].details["basis"] == "uploader_self_view"
        error(client.get(f"/api/evidence/{clip}/download", headers=people.officer.headers), 403, "permission_denied")
    else:
        assert "disabled by agency setting" in error(response, 403, "permission_denied")
        assert events(context, clip, "evidence:access_refused")[0].details["self_view_setting"] is False


def test_playback_ranges_are_aggregated_into_one_session_summary(
    client: TestClient, people: People, media: Media, clip: uuid.UUID, grant_for: GrantFor, context: VaultContext
) -> None:
    grant = grant_for(people.reviewer, [clip], purpose=AccessPurpose.LITIGATION)
    for spec in ("bytes=0-99", "bytes=100-199", "bytes=500-599"):
        assert client.get(f"/api/evidence/{clip}/play", headers={**people.reviewer.headers, "Range": spec}).is_success
    (opened,) = events(context, clip, "evidence:viewed")
    assert opened.details["grant_id"] == str(grant.id) and opened.details["purpose"] == "litigation"
    assert events(context, clip, "evidence:playback_closed") == []
    flush_playback(context)  # what the server does every EVAULT_PLAYBACK_FLUSH_SECONDS
    with context.sessions() as sess:
        assert close_idle_playback(session=sess, now=datetime.now(UTC) + timedelta(hours=1), idle_seconds=600) == 1
        sess.commit()
    (summary,) = events(context, clip, "evidence:playback_closed")
    assert summary.details["ranges"] == [[0, 199], [500, 599]]
    assert summary.details["requests"] == 3 and summary.details["bytes_served"] == 300
    assert summary.actor_id == people.reviewer.user.id


def test_local_store_cannot_issue_direct_links(client: TestClient, people: People, clip: uuid.UUID,
                                               grant_for: GrantFor, context: VaultContext) -> None:
    if context.store.name != "local":
        pytest.skip("the local store has no presigned URLs; S3 stores do (see test_presign.py)")
    grant_for(people.reviewer, [clip])
    message = error(client.post(f"/api/evidence/{clip}/links", headers=people.reviewer.headers), 409,
                    "direct_links_unsupported")
    assert f"/api/evidence/{clip}/original" in message


def test_mine_narrows_the_lists_of_those_who_see_everyone(client: TestClient, people: People, clip: uuid.UUID,
                                                           grant_for: GrantFor) -> None:
    # `evault access requests|grants` show a person's own unless they ask for everyone's (issue 15).
    grant_for(people.reviewer, [clip])
    body = {"evidence_ids": [str(clip)], "purpose": "investigation", "duration_hours": 1, "reason": "r"}
    assert client.post("/api/access/requests", headers=people.approver.headers, json=body).status_code == 201
    for who, everyone, own in ((people.approver, 2, 1), (people.auditor, 2, 0), (people.reviewer, 1, 1),
                               (people.officer, 0, 0)):
        for path in ("/api/access/requests", "/api/access/grants"):
            listed = client.get(path, headers=who.headers, params={"include_inactive": "true"}).json()
            mine = client.get(path, headers=who.headers, params={"mine": "true", "include_inactive": "true"}).json()
            if path.endswith("grants"):
                everyone_grants = 1 if who in (people.approver, people.auditor, people.reviewer) else 0
                own_grants = 1 if who is people.reviewer else 0
                assert (len(listed), len(mine)) == (everyone_grants, own_grants), (who.user.name, path)
            else:
                assert (len(listed), len(mine)) == (everyone, own), (who.user.name, path)


def test_a_denial_answers_who_decided_it(client: TestClient, people: People, clip: uuid.UUID) -> None:
    body = {"evidence_ids": [str(clip)], "purpose": "investigation", "duration_hours": 1, "reason": "复核"}
    made = client.post("/api/access/requests", headers=people.reviewer.headers, json=body).json()
    denied = client.post(f"/api/access/requests/{made['id']}/deny", headers=people.approver.headers,
                         json={"reason": "与案件无关"})
    assert denied.status_code == 200, denied.text
    assert denied.json()["decided_by"] == people.approver.user.name
    shown = client.get(f"/api/access/requests/{made['id']}", headers=people.reviewer.headers).json()
    assert shown["decided_by"] == people.approver.user.name
