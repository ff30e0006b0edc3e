"""Compliance flags (issue 12, item 2): why each flag was raised, implausible times, and no clearing one's own.

A tag change that would clear a compliance flag becomes a request an approver decides; the uploader and the
requester never decide their own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.conftest import Person
from tests.ingest.conftest import CaseFile, events_of, flags_of, ingest_file, tus_create, tus_upload
from tests.media import make_audio, make_photo
from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.identities.models import Role, User

ON_TIME = datetime(2025, 3, 30, 8, 0, tzinfo=UTC)


def _tagged(context: VaultContext, officer: Person, case_file: CaseFile, path: Path, **meta: str) -> Any:
    """Ingest a clip with every label but with one officer and the party not informed: three compliance flags."""
    return ingest_file(context, officer, path, now=ON_TIME, case_number=case_file.number, party=case_file.party,
                       handlers="C001,C009", activity="inspection", **meta).evidence.id


def test_adding_a_handler_and_party_informed_becomes_one_request_and_clears_nothing_yet(
        client: TestClient, context: VaultContext, officer: Person, case_file: CaseFile,
        make_person: Callable[..., Person], media: dict[str, Path]) -> None:
    # Issue 12: "adding a handler and party_informed: true cleared three flags at once".
    evidence_id = _tagged(context, officer, case_file, media["clip"])
    raised = set(flags_of(context, evidence_id))
    assert {"certificate_invalid", "fewer_than_two_officers", "party_not_informed"} <= raised
    asked = client.patch(f"/api/evidence/{evidence_id}/tags", headers=officer.headers, json={
        "handlers": ["C001", "C002"], "party_informed": True, "notes": "second officer was 李四",
        "reason": "wrong certificate number typed"})
    assert asked.status_code == 202, asked.text
    request = asked.json()
    assert request["status"] == "pending" and request["requested_by"] == officer.user.name
    assert {c["flag"] for c in request["clears"]} == {"certificate_invalid", "fewer_than_two_officers",
                                                      "party_not_informed"}
    shown = client.get(f"/api/evidence/{evidence_id}", headers=officer.headers).json()
    assert set(shown["flags"]) == raised and shown["notes"] == "" and len(shown["handlers"]) == 2
    assert events_of(context, evidence_id, CustodyAction.EVIDENCE_TAGGED) == []
    logged = events_of(context, evidence_id, CustodyAction.FLAG_CLEARANCE_REQUESTED)
    assert len(logged) == 1 and logged[0].details["reason"] == "wrong certificate number typed"
    assert logged[0].details["changes"]["party_informed"] is True

    approver = make_person(Role.APPROVER)
    rejected = client.post(f"/api/flag-requests/{request['id']}/reject", headers=approver.headers,
                           json={"reason": "the recording shows no second officer"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["decided_by"] == approver.user.name
    assert set(flags_of(context, evidence_id)) == raised
    assert events_of(context, evidence_id, CustodyAction.EVIDENCE_TAGGED) == []
    assert events_of(context, evidence_id, CustodyAction.FLAG_CLEARANCE_REJECTED)[0].details["reason"] == (
        "the recording shows no second officer")
    again = client.post(f"/api/flag-requests/{request['id']}/approve", headers=approver.headers,
                        json={"reason": "changed my mind"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "request_not_pending"


def test_an_approved_request_applies_the_change_and_clears_the_flags_logged_with_both_people(
        client: TestClient, context: VaultContext, officer: Person, case_file: CaseFile,
        make_person: Callable[..., Person], media: dict[str, Path]) -> None:
    evidence_id = _tagged(context, officer, case_file, media["clip"])
    asked = client.patch(f"/api/evidence/{evidence_id}/tags", headers=officer.headers,
                         json={"handlers": ["C001", "C002"], "party_informed": True, "reason": "typo"}).json()
    approver = make_person(Role.APPROVER)
    listed = client.get("/api/flag-requests", headers=approver.headers).json()
    assert [r["id"] for r in listed] == [asked["id"]]
    approved = client.post(f"/api/flag-requests/{asked['id']}/approve", headers=approver.headers,
                           json={"reason": "checked against the duty roster"})
    assert approved.status_code == 200 and approved.json()["decision_reason"] == "checked against the duty roster"
    assert not {"certificate_invalid", "fewer_than_two_officers", "party_not_informed"} & set(
        flags_of(context, evidence_id))
    tagged = events_of(context, evidence_id, CustodyAction.EVIDENCE_TAGGED)
    assert {e.details["tag"] for e in tagged} == {"handlers", "party_informed"}
    assert all(e.actor_name == approver.user.name and e.details["requested_by"] == officer.user.name
               and e.details["request_id"] == asked["id"] for e in tagged)
    assert client.get("/api/flag-requests", headers=approver.headers).json() == []
    everything = client.get("/api/flag-requests?pending_only=false", headers=officer.headers).json()
    assert [r["status"] for r in everything] == ["approved"]


def test_only_an_approver_other_than_the_uploader_and_the_requester_decides(
        client: TestClient, context: VaultContext, officer: Person, case_file: CaseFile,
        make_person: Callable[..., Person], media: dict[str, Path]) -> None:
    # The uploader (or any officer) cannot decide their own flags (issue 12); approvers decide (DOMAIN.md roles).
    evidence_id = _tagged(context, officer, case_file, media["clip"])
    manager = make_person(Role.RECORDS_MANAGER)
    asked = client.patch(f"/api/evidence/{evidence_id}/tags", headers=manager.headers,
                         json={"party_informed": True, "reason": "the party signed the notice"})
    assert asked.status_code == 202
    url = f"/api/flag-requests/{asked.json()['id']}/approve"
    for role in (Role.OFFICER, Role.REVIEWER, Role.RECORDS_MANAGER, Role.AUDITOR, Role.ADMIN):
        response = client.post(url, headers=make_person(role).headers, json={"reason": "ok"})
        assert response.status_code in {403, 404}, (role, response.text)
    for person in (officer, manager):
        assert client.post(url, headers=person.headers, json={"reason": "ok"}).status_code == 403
    # An uploader later promoted to approver still may not decide on their own footage.
    with context.sessions() as session:
        session.execute(update(User).where(User.id == officer.user.id).values(role=Role.APPROVER))
        session.commit()
    own = client.post(url, headers=officer.headers, json={"reason": "mine is fine"})
    assert own.status_code == 403 and own.json()["error"]["code"] == "second_person_required"
    approver = make_person(Role.APPROVER)
    assert client.post(url, headers=approver.headers, json={"reason": ""}).status_code == 422
    assert client.post(url, headers=approver.headers, json={"reason": "notice seen"}).status_code == 200
    assert "party_not_informed" not in flags_of(context, evidence_id)


def test_a_clearing_change_needs_a_reason_and_a_change_that_clears_nothing_applies_at_once(
        client: TestClient, context: VaultContext, officer: Person, case_file: CaseFile,
        media: dict[str, Path]) -> None:
    evidence_id = _tagged(context, officer, case_file, media["clip"])
    refused = client.patch(f"/api/evidence/{evidence_id}/tags", headers=officer.headers,
                           json={"party_informed": True})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_input"
    assert client.get("/api/flag-requests", headers=officer.headers).json() == []
    applied = client.patch(f"/api/evidence/{evidence_id}/tags", headers=officer.headers,
                           json={"notes": "site B", "late_reason": "n/a"})
    assert applied.status_code == 200 and applied.json()["notes"] == "site B"


def test_a_field_return_in_the_future_or_before_the_recording_is_refused(
        client: TestClient, context: VaultContext, officer: Person, media: dict[str, Path], now: datetime) -> None:
    # Issue 12: "field_return_at set in the future clears late_upload"; impossible times are refused (422).
    evidence_id = ingest_file(context, officer, media["clip"], now=now).evidence.id
    for value in ("2099-01-01T08:00:00+08:00", "2025-03-30T13:00:00+08:00"):  # the clip starts 14:00 Shanghai
        response = client.patch(f"/api/evidence/{evidence_id}/tags", headers=officer.headers,
                                json={"field_return_at": value, "reason": "back late"})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["key"] == "field_return_at"
    assert "late_upload" in flags_of(context, evidence_id)
    future = client.patch(f"/api/evidence/{evidence_id}/tags", headers=officer.headers,
                          json={"capture_start": "2099-01-01T08:00:00Z"})
    assert future.status_code == 422


@pytest.mark.parametrize("meta", [
    {"capture_start": "2099-03-30T14:00:00+08:00"},
    {"field_return_at": "2099-03-30T14:00:00+08:00"},
    {"capture_start": "2025-03-30T14:00:00+08:00", "field_return_at": "2025-03-30T09:00:00+08:00"},
])
def test_an_upload_declaring_an_impossible_time_is_refused_and_nothing_is_kept(
        client: TestClient, context: VaultContext, officer: Person, media: dict[str, Path],
        meta: dict[str, str]) -> None:
    created = tus_create(client, officer, media["clip"].stat().st_size, filename="clip.mp4", **meta)
    assert created.status_code == 422 and created.json()["error"]["code"] == "invalid_metadata", created.text
    single = client.post("/api/evidence", content=media["clip"].read_bytes(), headers={
        **officer.headers, "Evault-Meta-Filename": "clip.mp4",
        **{f"Evault-Meta-{k.replace('_', '-')}": v for k, v in meta.items()}})
    assert single.status_code == 422
    assert client.get("/api/evidence", headers=officer.headers).json() == []


def test_a_declared_capture_start_contradicting_the_file_is_flagged_with_both_values(
        client: TestClient, context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    # Issue 12: "an upload that declares a capture start contradicting the file's own creation time is accepted
    # silently". The clip says it was made 2025-03-30 06:00:00 UTC (14:00 Shanghai).
    response = tus_upload(client, officer, media["clip"], capture_start="2025-03-30T09:30:00+08:00")
    evidence_id = response.headers.get("Evault-Evidence-Id") or client.get(
        "/api/evidence", headers=officer.headers).json()[0]["id"]
    shown = client.get(f"/api/evidence/{evidence_id}", headers=officer.headers).json()
    mismatch = next(f for f in shown["flag_reasons"] if f["flag"] == "metadata_mismatch")
    assert mismatch["code"] == "capture_start_differs_from_file"
    assert "2025-03-30 09:30:00+08:00" in mismatch["reason"] and "2025-03-30 14:00:00+08:00" in mismatch["reason"]
    assert mismatch["facts"] == {"declared_capture_start": "2025-03-30T01:30:00+00:00",
                                 "file_capture_time": "2025-03-30T06:00:00+00:00"}
    # Within the tolerance (5 minutes by default) a declared start is not a contradiction.
    close = ingest_file(context, officer, media["clip2"], now=ON_TIME, capture_start="2025-03-30T06:03:00Z")
    assert "metadata_mismatch" not in flags_of(context, close.evidence.id)


def test_a_recorder_that_wrote_local_time_as_utc_is_named_in_the_mismatch(
        context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    evidence_id = ingest_file(context, officer, media["clip"], now=ON_TIME,
                              capture_start="2025-03-30T06:00:00+08:00").evidence.id
    assert "本地时区的偏移" in flags_of(context, evidence_id)["metadata_mismatch"]


def test_files_with_no_capture_time_are_flagged_not_skipped(
        client: TestClient, context: VaultContext, officer: Person, media: dict[str, Path],
        tmp_path: Path) -> None:
    # Issue 12: photos without EXIF and audio get capture_time_unknown; the handover rule cannot be checked.
    for path in (make_photo(tmp_path / "no-exif.jpg"), make_audio(tmp_path / "voice.m4a")):
        evidence_id = ingest_file(context, officer, path, now=ON_TIME).evidence.id
        reasons = {f["flag"]: f for f in client.get(f"/api/evidence/{evidence_id}",
                                                    headers=officer.headers).json()["flag_reasons"]}
        assert "capture_time_unknown" in reasons, path
        assert "无法核对移交期限" in reasons["capture_time_unknown"]["reason"]
    with_exif = ingest_file(context, officer, media["photo"], now=ON_TIME).evidence.id
    assert "capture_time_unknown" not in flags_of(context, with_exif)
    # Declaring a capture time afterwards would clear the flag: that, too, is a request.
    asked = client.patch(f"/api/evidence/{evidence_id}/tags", headers=officer.headers,
                         json={"capture_start": "2025-03-30T14:00:00+08:00", "reason": "from my notebook"})
    assert asked.status_code == 202 and asked.json()["clears"][0]["flag"] == "capture_time_unknown"


def test_everyone_who_may_see_the_metadata_sees_why_each_flag_was_raised(
        client: TestClient, context: VaultContext, officer: Person, make_person: Callable[..., Person],
        media: dict[str, Path], now: datetime) -> None:
    evidence_id = ingest_file(context, officer, media["clip"], now=now, late_reason="车辆故障").evidence.id
    for person in (officer, *(make_person(r) for r in (Role.REVIEWER, Role.APPROVER, Role.RECORDS_MANAGER,
                                                       Role.AUDITOR))):
        body = client.get(f"/api/evidence/{evidence_id}", headers=person.headers).json()
        reasons = {f["flag"]: f for f in body["flag_reasons"]}
        assert set(reasons) == set(body["flags"])
        late = reasons["late_upload"]
        assert late["code"] == "late_upload" and "2025-03-31 00:00:00+08:00" in late["reason"]
        assert "迟交原因：车辆故障" in late["reason"] and late["facts"]["late_reason"] == "车辆故障"
    stranger = make_person(Role.OFFICER)
    assert client.get(f"/api/evidence/{evidence_id}", headers=stranger.headers).status_code == 404
