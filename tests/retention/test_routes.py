"""The retention API: thin routes over the services, one error body shape, refusals kept in the log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.retention.conftest import People, put_record
from vault.custody.models import CustodyAction, CustodyEvent
from vault.storage.base import BlobStore


def test_hold_report_refusal_and_release_over_http(client: TestClient, session: Session, store: BlobStore,
                                                    people: People) -> None:
    now = datetime.now(UTC)
    record = put_record(session, store, people.officer, captured=now - timedelta(days=400),
                        lock_until=now + timedelta(minutes=5), activity="inspection")
    session.commit()
    manager = people.manager.headers

    shown = client.get(f"/api/retention/evidence/{record.id}", headers=people.auditor.headers)
    assert shown.status_code == 200 and shown.json()["retention_class"] == "routine_inspection"
    assert shown.json()["reason"].startswith("kept until")

    hold = client.post("/api/retention/holds", headers=manager,
                       json={"evidence_id": str(record.id), "reason": "行政诉讼 pending"})
    assert hold.status_code == 201, hold.text
    assert client.post("/api/retention/holds", headers=people.officer.headers,
                       json={"evidence_id": str(record.id), "reason": "x"}).status_code == 403
    report = client.get("/api/retention/report", headers=people.auditor.headers).json()
    assert [line["evidence_id"] for line in report["held"]] == [str(record.id)]

    refused = client.post("/api/retention/disposals", headers=manager, json={"evidence_id": str(record.id)})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "disposition_refused"
    session.expire_all()
    assert session.scalar(select(CustodyEvent).where(
        CustodyEvent.action == str(CustodyAction.EVIDENCE_DISPOSAL_REFUSED))) is not None
    session.rollback()  # SQLite: end this read transaction before the API writes

    released = client.post(f"/api/retention/holds/{hold.json()['id']}/release", headers=manager,
                           json={"reason": "judgment final"})
    assert released.status_code == 200 and released.json()["released_by"] == people.manager.user.name
    assert client.get("/api/retention/holds", headers=manager).json() == []


def test_policy_history_over_http(client: TestClient, people: People) -> None:
    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    made = client.post("/api/retention/policy", headers=people.manager.headers,
                       json={"changes": {"reminder_days": 14}, "effective_from": start, "note": "shorter notice"})
    assert made.status_code == 201 and made.json()["version"] == 1
    history = client.get("/api/retention/policy", headers=people.auditor.headers).json()
    assert [(v["version"], v["rules"]["reminder_days"]) for v in history] == [(1, 14)]
