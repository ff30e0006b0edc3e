"""The edit routes over HTTP: the whole way from a draft to an approved redaction, and refusals by role."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.vault.access.conftest import GrantFor, People, StoreEvidence
from vault.access.models import AccessMode


@pytest.fixture
def original(store_evidence: StoreEvidence, people: People, face_video: Path) -> uuid.UUID:
    return store_evidence(face_video, uploader=people.officer, media_type="video/mp4")


def _wait(client: TestClient, headers: dict[str, str], edit_id: str, done: Any) -> dict[str, Any]:
    for _ in range(300):
        edit: dict[str, Any] = client.get(f"/api/edits/{edit_id}", headers=headers).json()
        if done(edit):
            return edit
        time.sleep(0.1)
    raise AssertionError(f"edit {edit_id} did not finish: {edit}")


def test_from_draft_to_an_approved_redaction(client: TestClient, people: People, original: uuid.UUID,
                                             grant_for: GrantFor) -> None:
    grant_for(people.records_manager, [original], mode=AccessMode.VIEW_DOWNLOAD)
    manager, approver = people.records_manager.headers, people.approver.headers
    created = client.post(f"/api/evidence/{original}/edits", json={}, headers=manager)
    assert created.status_code == 201, created.text
    edit_id = created.json()["id"]
    assert client.post(f"/api/edits/{edit_id}/faces", headers=manager).status_code == 202
    found = _wait(client, manager, edit_id, lambda e: e["detection"] in ("done", "failed"))
    assert found["detection"] == "done" and len(found["suggestions"]) == 1
    suggestion = found["suggestions"][0]["id"]
    decided = client.post(f"/api/edits/{edit_id}/suggestions/{suggestion}", headers=manager,
                          json={"accept": True, "reason": "other", "reason_text": "旁观群众面部"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["spec"]["regions"][0]["reason_text"] == "旁观群众面部"
    assert client.post(f"/api/edits/{edit_id}/render", headers=manager).status_code == 202
    rendered = _wait(client, manager, edit_id, lambda e: e["status"] in ("rendered", "failed"))
    assert rendered["status"] == "rendered", rendered["error"]
    video = client.get(f"/api/edits/{edit_id}/video", headers={**approver, "Range": "bytes=0-99"})
    assert video.status_code == 206 and len(video.content) == 100 and video.headers["content-type"] == "video/mp4"
    early = client.post(f"/api/edits/{edit_id}/decision", headers=approver, json={"approve": True})
    assert early.status_code == 409  # not submitted yet
    assert client.post(f"/api/edits/{edit_id}/submit", headers=manager).status_code == 200
    queue = client.get("/api/edits/submitted", headers=approver).json()
    assert [e["id"] for e in queue] == [edit_id]
    approved = client.post(f"/api/edits/{edit_id}/decision", headers=approver, json={"approve": True})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    provenance = client.get(f"/api/edits/{edit_id}/provenance", headers=manager).json()
    assert provenance["approver"] == people.approver.actor.name
    assert provenance["editor"] == people.records_manager.actor.name


def test_refusals_have_the_error_shape(client: TestClient, people: People, original: uuid.UUID) -> None:
    officer = client.post(f"/api/evidence/{original}/edits", json={}, headers=people.officer.headers)
    assert officer.status_code == 403 and officer.json()["error"]["code"]
    no_grant = client.post(f"/api/evidence/{original}/edits", json={}, headers=people.records_manager.headers)
    assert no_grant.status_code == 403 and "download" in no_grant.json()["error"]["message"]
    bad = client.post(f"/api/evidence/{original}/edits", headers=people.records_manager.headers,
                      json={"spec": {"clip": {"start": 3, "end": 1}}})
    assert bad.status_code == 422 and bad.json()["error"]["code"]
    missing = client.get(f"/api/edits/{uuid.uuid4()}", headers=people.records_manager.headers)
    assert missing.status_code == 404
