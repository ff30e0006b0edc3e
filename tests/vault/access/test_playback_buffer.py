"""Playback logging with held ranges: the view is in the catalog before its bytes, its extent after the flush."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from evault.app import create_app
from tests.evault.test_serve import free_port, wait_until_up
from tests.vault.access.conftest import GrantFor, Media, People, StoreEvidence
from vault.access.jobs import flush_playback
from vault.access.models import AccessPurpose, PlaybackSession
from vault.access.playback import close_idle_playback
from vault.access.playback_buffer import PlaybackBuffer
from vault.config import Settings
from vault.context import VaultContext
from vault.custody.models import CustodyEvent


@pytest.fixture
def clip(people: People, media: Media, store_evidence: StoreEvidence) -> uuid.UUID:
    """Return a browser-playable MP4 record uploaded by the officer."""
    return store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")


def events(context: VaultContext, subject_id: uuid.UUID, action: str) -> list[CustodyEvent]:
    with context.sessions() as sess:
        query = select(CustodyEvent).where(CustodyEvent.subject_id == str(subject_id), CustodyEvent.action == action)
        return list(sess.scalars(query.order_by(CustodyEvent.log_index)))


def playback_rows(context: VaultContext, clip: uuid.UUID) -> list[PlaybackSession]:
    with context.sessions() as sess:
        return list(sess.scalars(select(PlaybackSession).where(PlaybackSession.evidence_id == clip)))


def play(client: TestClient, people: People, clip: uuid.UUID, *specs: str) -> None:
    for spec in specs:
        response = client.get(f"/api/evidence/{clip}/play", headers={**people.reviewer.headers, "Range": spec})
        assert response.status_code == 206, response.text


def summarise_idle(context: VaultContext) -> None:
    """Close every playback session as the idle job would an hour from now."""
    with context.sessions() as sess:
        close_idle_playback(session=sess, now=datetime.now(UTC) + timedelta(hours=1), idle_seconds=600)
        sess.commit()


def test_the_trail_shows_a_view_with_its_ranges_merged_after_the_flush(
    client: TestClient, people: People, clip: uuid.UUID, grant_for: GrantFor, context: VaultContext
) -> None:
    grant_for(people.reviewer, [clip], purpose=AccessPurpose.LITIGATION)
    play(client, people, clip, "bytes=0-99", "bytes=100-199", "bytes=500-599", "bytes=150-249")
    assert flush_playback(context) == 1
    summarise_idle(context)
    trail = client.get("/api/access/trail", params={"evidence_id": str(clip), "action": "*"},
                       headers=people.auditor.headers)
    assert trail.status_code == 200, trail.text
    actions = [e["action"] for e in trail.json()]
    assert actions.count("evidence:viewed") == 1 and actions.count("evidence:playback_closed") == 1
    (summary,) = [e for e in trail.json() if e["action"] == "evidence:playback_closed"]
    assert summary["details"]["ranges"] == [[0, 249], [500, 599]]
    assert summary["details"]["requests"] == 4 and summary["details"]["bytes_served"] == 400


def test_the_first_range_of_a_view_is_committed_before_its_bytes_are_sent(
    people: People, clip: uuid.UUID, grant_for: GrantFor, context: VaultContext
) -> None:
    grant_for(people.reviewer, [clip])
    app = create_app(context)
    seen_when_bytes_left: list[list[str]] = []
    token = people.reviewer.headers["Authorization"].encode()
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": f"/api/evidence/{clip}/play", "raw_path": f"/api/evidence/{clip}/play".encode(),
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"), (b"authorization", token), (b"range", b"bytes=0-99")],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            seen_when_bytes_left.append([e.action for e in events(context, clip, "evidence:viewed")])

    asyncio.run(app(scope, receive, send))
    assert seen_when_bytes_left == [["evidence:viewed"]]


def test_a_crash_loses_only_the_held_extent_never_the_view(
    client: TestClient, people: People, clip: uuid.UUID, grant_for: GrantFor, context: VaultContext
) -> None:
    grant_for(people.reviewer, [clip])
    play(client, people, clip, "bytes=0-99", "bytes=100-199", "bytes=200-299")
    context.playback = PlaybackBuffer()  # kill -9: what the process held is gone, nothing flushed it
    summarise_idle(context)
    (viewed,) = events(context, clip, "evidence:viewed")
    assert viewed.details["first_range"] == [0, 99]
    (summary,) = events(context, clip, "evidence:playback_closed")
    assert summary.details["ranges"] == [[0, 99]] and summary.details["requests"] == 1


def test_a_stopping_server_writes_the_ranges_it_holds(
    people: People, clip: uuid.UUID, grant_for: GrantFor, context: VaultContext
) -> None:
    grant_for(people.reviewer, [clip])
    with TestClient(create_app(context)) as client:
        play(client, people, clip, "bytes=0-99", "bytes=100-199", "bytes=300-399")
        (row,) = playback_rows(context, clip)
        assert row.requests == 1  # held in memory while the server runs
    (row,) = playback_rows(context, clip)
    assert row.requests == 3 and row.ranges == [[0, 199], [300, 399]] and row.bytes_served == 300


def test_a_revoked_grant_stops_the_next_range_and_its_summary_holds_every_range(
    client: TestClient, people: People, clip: uuid.UUID, grant_for: GrantFor, context: VaultContext
) -> None:
    grant = grant_for(people.reviewer, [clip])
    play(client, people, clip, "bytes=0-99", "bytes=100-199")
    revoked = client.post(f"/api/access/grants/{grant.id}/revoke", headers=people.approver.headers,
                          json={"reason": "审查结束"})
    assert revoked.status_code == 200, revoked.text
    refused = client.get(f"/api/evidence/{clip}/play", headers={**people.reviewer.headers, "Range": "bytes=200-299"})
    assert refused.status_code == 403
    (summary,) = events(context, clip, "evidence:playback_closed")
    assert summary.details["ranges"] == [[0, 199]] and summary.details["requests"] == 2


def test_ranges_held_past_a_close_elsewhere_are_summarised_again(
    client: TestClient, people: People, clip: uuid.UUID, grant_for: GrantFor, context: VaultContext
) -> None:
    grant_for(people.reviewer, [clip])
    play(client, people, clip, "bytes=0-99", "bytes=100-199")
    summarise_idle(context)  # another process (a worker) closed the session before this one flushed
    flush_playback(context)
    first, second = events(context, clip, "evidence:playback_closed")
    assert first.details["requests"] == 1
    assert second.details["playback_session"] == first.details["playback_session"]
    assert second.details["ranges"] == [[0, 199]] and second.details["requests"] == 2


@pytest.fixture
def server(context: VaultContext, settings: Settings, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run `evault serve` on the test's vault (local store), with no periodic flush during the test."""
    if context.store.name != "local":
        pytest.skip("the server process is started on the local store; the crash window is the same on S3")
    port = free_port()
    env = {**os.environ, "EVAULT_HOME": str(settings.home), "EVAULT_DATABASE_URL": settings.resolved_database_url,
           "EVAULT_STORE": "local", "EVAULT_PLAYBACK_FLUSH_SECONDS": "300", "EVAULT_LOG_LEVEL": "WARNING"}
    log = (tmp_path / "server.log").open("wb")  # a file, not a pipe: a full pipe would stall the server
    process = subprocess.Popen([sys.executable, "-m", "evault", "serve", "--no-scheduler", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process, tmp_path / "server.log", seconds=60)
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        log.close()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_a_killed_server_keeps_the_view_and_a_stopped_one_every_range(
    server: tuple[str, subprocess.Popen[bytes]], people: People, clip: uuid.UUID, grant_for: GrantFor,
    context: VaultContext, stop: signal.Signals
) -> None:
    base, process = server
    grant_for(people.reviewer, [clip])
    with httpx.Client(base_url=base, headers=people.reviewer.headers, timeout=30) as viewer:
        for spec in ("bytes=0-99", "bytes=100-199", "bytes=400-499"):
            assert viewer.get(f"/api/evidence/{clip}/play", headers={"Range": spec}).status_code == 206
    process.send_signal(stop)
    process.wait(timeout=30)
    (viewed,) = events(context, clip, "evidence:viewed")
    assert viewed.details["first_range"] == [0, 99]
    (row,) = playback_rows(context, clip)
    if stop == signal.SIGKILL:
        assert (row.requests, row.ranges) == (1, [[0, 99]])  # the held extent is the documented loss
    else:
        assert (row.requests, row.ranges) == (3, [[0, 199], [400, 499]])
