"""The retention API: thin routes over the services, one error body shape, refusals kept in the log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from evault.app import create_app
from tests.retention.conftest import People, due_records, put_record
from vault.context import VaultContext, build_context
from vault.custody.models import CustodyAction, CustodyEvent
from vault.errors import NotFound
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


def test_approval_starts_the_recovery_window_and_a_records_manager_cancels_over_http(
    client: TestClient, session: Session, store: BlobStore, people: People
) -> None:
    # (issue 12, item 7) Approved: pending destruction with a destroy-after time; a records manager cancels it.
    [record] = due_records(session, store, people, 1)
    proposed = client.post("/api/retention/disposals", headers=people.manager.headers,
                           json={"evidence_id": str(record.id), "reason": "保存期满 (retention ended)"})
    assert proposed.status_code == 201, proposed.text
    request_id = proposed.json()["id"]
    before = datetime.now(UTC)
    approved = client.post(f"/api/retention/disposals/{request_id}/approve", headers=people.approver.headers)
    assert approved.status_code == 202, approved.text
    assert approved.json()["status"] == "pending_destruction"
    destroy_after = datetime.fromisoformat(approved.json()["destroy_after"])
    assert before + timedelta(days=7) <= destroy_after <= datetime.now(UTC) + timedelta(days=7)

    listed = client.get("/api/retention/disposals", headers=people.auditor.headers).json()
    assert [(r["id"], r["status"]) for r in listed] == [(request_id, "pending_destruction")]
    [line] = client.get("/api/retention/report", headers=people.auditor.headers).json()["pending_destruction"]
    assert line["evidence_id"] == str(record.id) and line["destroy_after_local"].endswith("+08:00")
    assert datetime.fromisoformat(line["destroy_after_local"]) == destroy_after.replace(second=0, microsecond=0)
    assert store.stat(record.storage_key, record.version_id).size == record.size

    cancel = f"/api/retention/disposals/{request_id}/cancel"
    for person in (people.approver, people.auditor, people.officer):
        refused = client.post(cancel, headers=person.headers, json={"reason": "keep it"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        assert client.post(cancel, headers=people.manager.headers, json=body).status_code == 422
    missing = client.post(f"/api/retention/disposals/{uuid.uuid4()}/cancel", headers=people.manager.headers,
                          json={"reason": "keep it"})
    assert missing.status_code == 404
    cancelled = client.post(cancel, headers=people.second_manager.headers, json={"reason": "复议中 (under review)"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancel_reason"] == "复议中 (under review)"
    again = client.post(cancel, headers=people.manager.headers, json={"reason": "again"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "request_not_pending"

    assert client.get("/api/retention/disposals", headers=people.auditor.headers).json() == []
    shown = client.get("/api/retention/disposals", params={"status": "cancelled"}, headers=people.auditor.headers)
    assert [r["cancelled_by"] for r in shown.json()] == [people.second_manager.user.name]
    retention = client.get(f"/api/retention/evidence/{record.id}", headers=people.auditor.headers).json()
    assert retention["queue_state"] == "kept"
    session.expire_all()
    assert session.scalar(select(CustodyEvent).where(
        CustodyEvent.action == str(CustodyAction.EVIDENCE_DISPOSAL_CANCELLED))) is not None
    assert store.stat(record.storage_key, record.version_id).size == record.size


def test_with_no_window_configured_approval_destroys_at_once(
    context: VaultContext, session: Session, store: BlobStore, people: People
) -> None:
    # (issue 12, item 7) EVAULT_DISPOSAL_RECOVERY_DAYS=0 turns the window off: destroyed and certified on approval.
    no_window = build_context(context.settings.model_copy(update={"disposal_recovery_days": 0}), store=store)
    [record] = due_records(session, store, people, 1)
    with TestClient(create_app(no_window), raise_server_exceptions=False) as client:
        proposed = client.post("/api/retention/disposals", headers=people.manager.headers,
                               json={"evidence_id": str(record.id)})
        approved = client.post(f"/api/retention/disposals/{proposed.json()['id']}/approve",
                               headers=people.approver.headers)
        assert approved.status_code == 200 and approved.json()["status"] == "executed"
        certificate = client.get(f"/api/retention/certificates/{record.id}", headers=people.auditor.headers)
        assert certificate.status_code == 200 and certificate.json()["sha256"] == record.sha256
    no_window.close()
    with pytest.raises(NotFound):
        store.stat(record.storage_key, record.version_id)
