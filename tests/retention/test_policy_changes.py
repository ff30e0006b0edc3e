"""Changing the retention policy: one setting at a time, shipped defaults underneath, bad values refused as 422.

Case-file retention (案卷保存期限) differs by case type (`000` 第十一条; licensing 30/10/3 years, `001` 第四十二条),
and everything else is kept at least 5 years (`003` 第二十三条): changing one type must never drop the others
to 5 years.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.models import PolicyVersion, RetentionClass
from retention.policy import SHIPPED_POLICY, add_years
from retention.service import current_policy, recompute_retention
from tests.retention.conftest import People, new_case, put_record
from vault.cases.models import CaseStatus, CaseType
from vault.cases.service import change_case_status
from vault.custody.models import CustodyEvent
from vault.storage.base import BlobStore


def _archived_record(session: Session, store: BlobStore, people: People, case_type: CaseType, number: str,
                     now: datetime) -> Any:
    case = new_case(session, people.manager, case_type=case_type, number=number, opened=now - timedelta(days=30))
    record = put_record(session, store, people.officer, captured=now - timedelta(days=20),
                        lock_until=now + timedelta(minutes=5), case=case)
    for status in (CaseStatus.CLOSED, CaseStatus.ARCHIVED):
        change_case_status(session=session, actor=people.manager.actor, case=case, status=status, now=now)
    return record


def test_changing_one_case_type_over_http_keeps_every_other_type(
        client: TestClient, session: Session, store: BlobStore, people: People) -> None:
    now = datetime.now(UTC)
    penalty = _archived_record(session, store, people, CaseType.GENERAL_PROCEDURE_PENALTY, "阜应急罚字〔2026〕1号", now)
    session.commit()
    start = now + timedelta(seconds=5)
    made = client.post("/api/retention/policy", headers=people.manager.headers,
                       json={"changes": {"case_file_years": {"licensing": 40}}, "effective_from": start.isoformat()})
    assert made.status_code == 201, made.text
    assert made.json()["rules"]["case_file_years"] == {**SHIPPED_POLICY.case_file_years, "licensing": 40}
    session.expire_all()
    state = recompute_retention(session, penalty, now + timedelta(minutes=1))
    assert state.policy_version == 1 and state.retention_class is RetentionClass.CASE_EVIDENCE
    assert state.retain_until == add_years(now, 30) and "30 years" in state.reason


def test_a_case_type_shipped_after_the_policy_was_saved_gets_its_shipped_retention(
        session: Session, store: BlobStore, people: People) -> None:
    now = datetime.now(UTC)
    # The policy as a release without complaint verification (and without archiving_working_days) saved it.
    older = {**SHIPPED_POLICY.rules(), "default_years": 6}
    older.pop("archiving_working_days")
    older["case_file_years"] = {k: v for k, v in older["case_file_years"].items() if k != "complaint_verification"}
    session.add(PolicyVersion(version=1, effective_from=now - timedelta(days=365), rules=older, note="old release",
                              created_by="archive", created_at=now - timedelta(days=365)))
    policy = current_policy(session, now)
    assert policy.default_years == 6 and policy.archiving_working_days == 30
    assert policy.case_file_years["complaint_verification"] == 10
    record = _archived_record(session, store, people, CaseType.COMPLAINT_VERIFICATION, "阜应急核〔2026〕2号", now)
    state = recompute_retention(session, record, now)
    assert state.retention_class is RetentionClass.CASE_EVIDENCE and state.retain_until == add_years(now, 10)


@pytest.mark.parametrize(("changes", "message"), [
    ({"default_years": "abc"}, "default_years must be a whole number"),
    ({"default_years": 5.5}, "default_years must be a whole number"),
    ({"default_years": True}, "default_years must be a whole number"),
    ({"default_years": -1}, "default_years must be from 1"),
    ({"reminder_days": 0}, "reminder_days must be from 1"),
    ({"fixity_cycle_days": 10**12}, "fixity_cycle_days must be from 1"),
    ({"case_file_years": "abc"}, "case_file_years must map case types"),
    ({"case_file_years": {"parking": 10}}, "unknown case types in case_file_years: parking"),
    ({"case_file_years": {"licensing": -3}}, "at least 1 year or null"),
    ({"case_file_years": {"licensing": "30"}}, "at least 1 year or null"),
    ({"colour": 1}, "unknown policy settings: colour"),
])
def test_invalid_policy_values_are_a_422_never_a_500(client: TestClient, people: People, changes: dict[str, Any],
                                                      message: str) -> None:
    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    refused = client.post("/api/retention/policy", headers=people.manager.headers,
                          json={"changes": changes, "effective_from": start})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_input" and message in refused.json()["error"]["message"]


def test_malformed_policy_requests_are_a_422(client: TestClient, people: People) -> None:
    for body in ({"default_years": "abc"}, {"changes": [], "effective_from": "2099-01-01T00:00:00+00:00"},
                 {"changes": {"default_years": 6}, "effective_from": "2099-01-01T00:00:00"}):
        refused = client.post("/api/retention/policy", headers=people.manager.headers, json=body)
        assert refused.status_code == 422 and set(refused.json()["error"]) == {"code", "message", "details"}
    assert client.get("/api/retention/policy", headers=people.auditor.headers).json() == []


def test_shortening_a_default_waits_for_a_second_person_and_is_logged(
        client: TestClient, session: Session, people: People) -> None:
    # Shortening a retention needs an approval and is logged (DOMAIN.md, Retention; `000` 第十六、十七条).
    start = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()

    def post(who: Any, changes: dict[str, Any]) -> Any:
        return client.post("/api/retention/policy", headers=who.headers,
                           json={"changes": changes, "effective_from": start, "note": "agency rule"})

    assert post(people.manager, {"routine_inspection_months": 12}).status_code == 201  # longer: applies at once
    asked = post(people.manager, {"routine_inspection_months": 7})
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "pending" and asked.json()["shortened"] == ["routine_inspection_months"]
    mixed = post(people.manager, {"default_years": 8, "case_file_years": {"licensing": 20}})
    assert mixed.status_code == 202 and mixed.json()["shortened"] == ["case_file_years"]
    history = client.get("/api/retention/policy", headers=people.auditor.headers).json()
    assert [v["rules"]["routine_inspection_months"] for v in history] == [12]

    approve = f"/api/retention/policy/requests/{asked.json()['id']}/approve"
    same = client.post(approve, headers=people.manager.headers)
    assert same.status_code == 403 and same.json()["error"]["code"] == "second_person_required"
    assert client.post(approve, headers=people.officer.headers).status_code == 403
    approved = client.post(approve, headers=people.approver.headers)
    assert approved.status_code == 201, approved.text
    assert approved.json()["rules"]["routine_inspection_months"] == 7
    assert approved.json()["created_by"] == people.manager.user.name
    assert client.post(approve, headers=people.second_manager.headers).json()["error"]["code"] == "request_not_pending"

    rejected = client.post(f"/api/retention/policy/requests/{mixed.json()['id']}/reject",
                           headers=people.second_manager.headers, json={"reason": "licensing is 30 years"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert client.get("/api/retention/policy/requests", headers=people.auditor.headers).json() == []
    events = session.execute(select(CustodyEvent.action, CustodyEvent.actor_name).where(
        CustodyEvent.action.like("policy:%")).order_by(CustodyEvent.log_index)).all()
    assert [tuple(e) for e in events] == [
        ("policy:changed", people.manager.user.name), ("policy:change_requested", people.manager.user.name),
        ("policy:change_requested", people.manager.user.name), ("policy:changed", people.approver.user.name),
        ("policy:change_rejected", people.second_manager.user.name)]
