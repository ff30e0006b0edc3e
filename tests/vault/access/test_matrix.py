"""Every role against every content and approval action, on whichever store the suite runs (local or RGW)."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Person
from tests.vault.access.conftest import GrantFor, Media, People, StoreEvidence
from vault.access.models import AccessMode, AccessPurpose
from vault.access.service import request_access
from vault.context import VaultContext
from vault.db import utcnow

ROLES = ("officer", "other_officer", "reviewer", "approver", "records_manager", "auditor", "admin")
CAN_REQUEST = {"officer", "reviewer", "approver", "records_manager"}
SEES_METADATA = {"officer", "reviewer", "approver", "records_manager", "auditor"}  # officer: own upload only

CONTENT = ("play", "original", "proxy", "thumbnail", "download")


def _pending(context: VaultContext, people: People, record: uuid.UUID) -> uuid.UUID:
    with context.sessions() as sess:
        request = request_access(session=sess, actor=people.reviewer.actor, evidence_ids=[record],
                                 purpose=AccessPurpose.LEGAL_REVIEW, mode=AccessMode.VIEW, duration_hours=2,
                                 reason="法制审核", now=utcnow(), max_hours=720)
        sess.commit()
        return request.id


def _approval_actions(client: TestClient, person: Person, context: VaultContext, people: People,
                      record: uuid.UUID, grant_for: GrantFor) -> dict[str, int]:
    body = {"evidence_ids": [str(record)], "purpose": "investigation", "mode": "view", "duration_hours": 1,
            "reason": "核查"}
    held = grant_for(people.reviewer, [record])
    return {
        "request": client.post("/api/access/requests", headers=person.headers, json=body).status_code,
        "approve": client.post(f"/api/access/requests/{_pending(context, people, record)}/approve",
                               headers=person.headers, json={}).status_code,
        "deny": client.post(f"/api/access/requests/{_pending(context, people, record)}/deny", headers=person.headers,
                            json={"reason": "not needed"}).status_code,
        "revoke": client.post(f"/api/access/grants/{held.id}/revoke", headers=person.headers,
                              json={"reason": "done"}).status_code,
        "trail": client.get("/api/access/trail", headers=person.headers,
                            params={"evidence_id": str(record)}).status_code,
    }


def _content(client: TestClient, person: Person, record: uuid.UUID) -> dict[str, int]:
    result = {v: client.get(f"/api/evidence/{record}/{v}", headers={**person.headers, "Range": "bytes=0-99"})
              .status_code for v in CONTENT}
    result["link"] = client.post(f"/api/evidence/{record}/links", headers=person.headers).status_code
    return result


@pytest.mark.parametrize("role", ROLES)
def test_role_against_every_action(role: str, client: TestClient, context: VaultContext, people: People,
                                   media: Media, store_evidence: StoreEvidence, grant_for: GrantFor) -> None:
    person: Person = getattr(people, role)
    record = store_evidence(media.mkv, uploader=people.officer, media_type="video/x-matroska", proxy=media.proxy,
                            thumbnail=media.jpeg)
    unseen = 404 if role not in SEES_METADATA else 403
    assert _content(client, person, record) == dict.fromkeys((*CONTENT, "link"), unseen)
    decider = role == "approver"
    assert _approval_actions(client, person, context, people, record, grant_for) == {
        "request": 201 if role in CAN_REQUEST else 404 if role == "other_officer" else 403,
        "approve": 201 if decider else 403,
        "deny": 200 if decider else 403,
        "revoke": 200 if decider else 403,
        "trail": 200 if role == "auditor" else 403,
    }
    if role not in CAN_REQUEST:
        return
    grant_for(person, [record], mode=AccessMode.VIEW_DOWNLOAD)
    link = 409 if context.store.name == "local" else 201
    assert _content(client, person, record) == dict.fromkeys(CONTENT, 206) | {"link": link}
