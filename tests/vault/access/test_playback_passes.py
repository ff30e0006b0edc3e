"""A view's next ranges under a recent grant check: each still logged, and stopped within the documented bound."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Person
from tests.vault.access.conftest import GrantFor, Media, People, StoreEvidence
from tests.vault.access.test_playback_buffer import events, playback_rows
from vault.access.jobs import flush_playback
from vault.access.models import AccessMode
from vault.access.service import revoke_grant
from vault.context import VaultContext


@pytest.fixture
def clip(people: People, media: Media, store_evidence: StoreEvidence) -> uuid.UUID:
    """Return a browser-playable MP4 record uploaded by the officer."""
    return store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")


def read(client: TestClient, who: Person, clip: uuid.UUID, spec: str, variant: str = "play") -> int:
    response = client.get(f"/api/evidence/{clip}/{variant}", headers={**who.headers, "Range": spec})
    return response.status_code


def clock_at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """Move the content routes' clock."""
    monkeypatch.setattr("vault.access.routes.utcnow", lambda: moment)


def test_every_range_served_under_a_pass_is_in_the_view_s_extent(
    client: TestClient, people: People, clip: uuid.UUID, grant_for: GrantFor, context: VaultContext
) -> None:
    grant_for(people.reviewer, [clip])
    for spec in ("bytes=0-99", "bytes=100-199", "bytes=200-299", "bytes=600-699", "bytes=700-799"):
        assert read(client, people.reviewer, clip, spec) == 206
    flush_playback(context)
    (row,) = playback_rows(context, clip)
    assert (row.requests, row.bytes_served, row.ranges) == (5, 500, [[0, 299], [600, 799]])


def test_a_revocation_by_another_process_stops_playback_within_the_recheck_time(
    client: TestClient, people: People, clip: uuid.UUID, grant_for: GrantFor, context: VaultContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grant = grant_for(people.reviewer, [clip])
    assert read(client, people.reviewer, clip, "bytes=0-99") == 206
    now = datetime.now(UTC)
    with context.sessions() as sess:  # another server revokes: this one's pass is not told
        revoke_grant(session=sess, actor=people.approver.actor, grant_id=grant.id, reason="审查结束", now=now)
        sess.commit()
    clock_at(monkeypatch, now + timedelta(seconds=context.settings.playback_recheck_seconds))
    assert read(client, people.reviewer, clip, "bytes=100-199") == 403
    refused = events(context, clip, "evidence:access_refused")
    assert len(refused) == 1 and refused[0].details["operation"] == "play"


def test_a_pass_never_outlives_its_grant(
    client: TestClient, people: People, clip: uuid.UUID, grant_for: GrantFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    ends = datetime.now(UTC) + timedelta(hours=1)
    grant = grant_for(people.reviewer, [clip], hours=4, at=ends - timedelta(hours=4))
    assert grant.expires_at == ends
    clock_at(monkeypatch, ends - timedelta(seconds=0.5))
    assert read(client, people.reviewer, clip, "bytes=0-99") == 206
    clock_at(monkeypatch, ends)  # well within the recheck time of that read, but the grant has ended
    assert read(client, people.reviewer, clip, "bytes=100-199") == 403


def test_a_pass_is_one_viewer_s_and_never_covers_a_download(
    client: TestClient, people: People, clip: uuid.UUID, grant_for: GrantFor, context: VaultContext
) -> None:
    grant_for(people.reviewer, [clip], mode=AccessMode.VIEW_DOWNLOAD)
    assert read(client, people.reviewer, clip, "bytes=0-99") == 206
    assert read(client, people.officer, clip, "bytes=0-99") == 403  # the uploader, no grant, no self-view
    assert read(client, people.auditor, clip, "bytes=0-99") == 403
    assert read(client, people.reviewer, clip, "bytes=0-99", "download") == 206
    assert read(client, people.reviewer, clip, "bytes=100-199", "download") == 206
    assert [e.details["range"] for e in events(context, clip, "evidence:downloaded")] == [[0, 99], [100, 199]]


def test_with_no_recheck_time_every_range_is_checked(
    client: TestClient, people: People, clip: uuid.UUID, grant_for: GrantFor, context: VaultContext
) -> None:
    context.settings = context.settings.model_copy(update={"playback_recheck_seconds": 0})
    grant = grant_for(people.reviewer, [clip])
    assert read(client, people.reviewer, clip, "bytes=0-99") == 206
    with context.sessions() as sess:
        revoke_grant(session=sess, actor=people.approver.actor, grant_id=grant.id, reason="审查结束",
                     now=datetime.now(UTC))
        sess.commit()
    assert read(client, people.reviewer, clip, "bytes=100-199") == 403
