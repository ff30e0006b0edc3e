"""Re-tagging: each change is a custody event with before/after, and the flags follow the tags."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ingest.retagging import list_flag_reviews, list_own_uploads
from tests.conftest import Person
from tests.ingest.conftest import CaseFile, events_of, flags_of, ingest_file, tus_upload
from vault.context import VaultContext
from vault.custody.models import CustodyAction
from vault.errors import PermissionDenied
from vault.evidence.models import Evidence
from vault.identities.models import Role

ON_TIME = datetime(2025, 3, 30, 8, 0, tzinfo=UTC)


def test_completing_tags_later_clears_flags_and_logs_each_change(
        client: TestClient, context: VaultContext, officer: Person, case_file: CaseFile,
        media: dict[str, Path]) -> None:
    evidence_id = ingest_file(context, officer, media["clip"], now=ON_TIME,
                              case_number="阜应急罚字〔2023〕4号").evidence.id
    assert "unknown_case" in flags_of(context, evidence_id)
    # Labels still missing are completed by tagging alone (`000` 第十一条); compliance flags are not (issue 12).
    response = client.patch(f"/api/evidence/{evidence_id}/tags", headers=officer.headers, json={
        "case_number": case_file.number, "party": case_file.party, "handlers": ["C001", "C002"],
        "activity": "inspection", "reason": "typo in the case number"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["case_number"] == case_file.number and body["party_name"] == case_file.party
    assert body["flags"] == ["party_not_informed"] and set(flags_of(context, evidence_id)) == {"party_not_informed"}
    events = events_of(context, evidence_id, CustodyAction.EVIDENCE_TAGGED)
    changes = {e.details["tag"]: (e.details["before"], e.details["after"]) for e in events}
    assert changes["case_number"] == ("阜应急罚字〔2023〕4号", case_file.number)
    assert changes["handlers"] == ([], ["C001", "C002"])
    assert all(e.details["reason"] == "typo in the case number" for e in events) and len(events) == 4
    cleared = events_of(context, evidence_id, CustodyAction.EVIDENCE_FLAG_CLEARED)
    assert {e.details["flag"] for e in cleared} == {"unknown_case", "untagged_party", "untagged_handler"}


def test_retagging_raises_new_flags_and_unchanged_values_log_nothing(
        client: TestClient, context: VaultContext, officer: Person, case_file: CaseFile,
        media: dict[str, Path]) -> None:
    evidence_id = ingest_file(context, officer, media["clip"], now=ON_TIME, case_number=case_file.number,
                              party=case_file.party, handlers="C001,C002", party_informed="true").evidence.id
    assert flags_of(context, evidence_id) == {}
    client.patch(f"/api/evidence/{evidence_id}/tags", headers=officer.headers,
                 json={"handlers": ["C001", "C009"], "activity": "hearing", "party": case_file.party})
    assert set(flags_of(context, evidence_id)) == {"certificate_invalid", "fewer_than_two_officers"}
    tags = [e.details["tag"] for e in events_of(context, evidence_id, CustodyAction.EVIDENCE_TAGGED)]
    assert sorted(tags) == ["activity", "handlers"]


def test_a_late_reason_is_added_at_once_but_a_field_return_that_excuses_lateness_waits_for_an_approver(
        client: TestClient, context: VaultContext, officer: Person, make_person: Callable[..., Person],
        media: dict[str, Path], now: datetime) -> None:
    # The vault records the reason for a late upload (`003` 第十八条); the flag stays, its reason follows.
    evidence_id = ingest_file(context, officer, media["clip"], now=now).evidence.id
    assert "迟交原因：未说明" in flags_of(context, evidence_id)["late_upload"]
    client.patch(f"/api/evidence/{evidence_id}/tags", headers=officer.headers,
                 json={"late_reason": "remote site, no network"})
    assert "迟交原因：remote site, no network" in flags_of(context, evidence_id)["late_upload"]
    # A field return that makes the upload on time clears a compliance flag: a request, not a change (issue 12).
    asked = client.patch(f"/api/evidence/{evidence_id}/tags", headers=officer.headers,
                         json={"field_return_at": "2025-03-30T21:00:00+08:00", "reason": "back from the mine"})
    assert asked.status_code == 202 and asked.json()["clears"] == [
        {"evidence_id": str(evidence_id), "flag": "late_upload"}]
    assert "late_upload" in flags_of(context, evidence_id)
    approver = make_person(Role.APPROVER)
    decided = client.post(f"/api/flag-requests/{asked.json()['id']}/approve", headers=approver.headers,
                          json={"reason": "mine visit confirmed by the duty log"})
    assert decided.status_code == 200, decided.text
    assert "late_upload" not in flags_of(context, evidence_id)


def test_moving_a_segment_re_checks_continuity(
        client: TestClient, context: VaultContext, officer: Person, make_person: Callable[..., Person],
        media: dict[str, Path]) -> None:
    ingest_file(context, officer, media["clip"], now=ON_TIME, recorder_serial="R1",
                capture_start="2025-03-30T06:00:00Z", capture_end="2025-03-30T06:00:02Z")
    second = ingest_file(context, officer, media["clip2"], now=ON_TIME, recorder_serial="R1",
                         capture_start="2025-03-30T06:00:09Z", capture_end="2025-03-30T06:00:10Z").evidence.id
    assert "recording_gap" in flags_of(context, second)
    # Closing a gap by re-timing a segment clears a continuity flag (`003` 第十三条(四)): an approver decides.
    asked = client.patch(f"/api/evidence/{second}/tags", headers=officer.headers,
                         json={"capture_start": "2025-03-30T06:00:02Z", "capture_end": "2025-03-30T06:00:03Z",
                               "reason": "recorder clock was 7 s fast"})
    assert asked.status_code == 202, asked.text
    assert "recording_gap" in flags_of(context, second)
    approver = make_person(Role.APPROVER)
    client.post(f"/api/flag-requests/{asked.json()['id']}/approve", headers=approver.headers,
                json={"reason": "clock drift confirmed"})
    assert "recording_gap" not in flags_of(context, second)


def test_officers_retag_only_their_own_uploads_and_bad_input_is_422(
        client: TestClient, context: VaultContext, officer: Person, make_person: Callable[..., Person],
        media: dict[str, Path]) -> None:
    evidence_id = ingest_file(context, officer, media["clip"], now=ON_TIME).evidence.id
    other = make_person(Role.OFFICER)
    response = client.patch(f"/api/evidence/{evidence_id}/tags", headers=other.headers, json={"notes": "mine"})
    assert response.status_code == 404
    reviewer = make_person(Role.REVIEWER)
    response = client.patch(f"/api/evidence/{evidence_id}/tags", headers=reviewer.headers, json={"notes": "x"})
    assert response.status_code == 403
    manager = make_person(Role.RECORDS_MANAGER)
    assert client.patch(f"/api/evidence/{evidence_id}/tags", headers=manager.headers,
                        json={"notes": "checked"}).json()["notes"] == "checked"
    for body in ({"capture_start": "soon"}, {"activity": "party"}, {"colour": "red"},
                 {"capture_start": "2025-03-30T06:00:09Z", "capture_end": "2025-03-30T06:00:01Z"}):
        response = client.patch(f"/api/evidence/{evidence_id}/tags", headers=officer.headers, json=body)
        assert response.status_code == 422, (body, response.text)
    assert events_of(context, evidence_id, CustodyAction.EVIDENCE_TAGGED)[0].details["after"] == "checked"


def test_the_place_is_declared_at_upload_and_corrected_later(
        client: TestClient, context: VaultContext, officer: Person, media: dict[str, Path]) -> None:
    # Issue 12, item 9: a declared place (拍摄地点) for the explanation sheet when the media carry no GPS.
    done = tus_upload(client, officer, media["clip"], place="阜阳市颍州区某厂区")
    assert done.status_code == 204, done.text
    with context.sessions() as session:
        evidence = session.scalars(select(Evidence)).one()
        evidence_id, place = evidence.id, evidence.place
    assert place == "阜阳市颍州区某厂区"
    response = client.patch(f"/api/evidence/{evidence_id}/tags", headers=officer.headers,
                            json={"place": "阜阳市颍州区某厂区北门", "reason": "more precise"})
    assert response.status_code == 200 and response.json()["place"] == "阜阳市颍州区某厂区北门"
    events = events_of(context, evidence_id, CustodyAction.EVIDENCE_TAGGED)
    assert [(e.details["tag"], e.details["before"], e.details["after"]) for e in events] == [
        ("place", "阜阳市颍州区某厂区", "阜阳市颍州区某厂区北门")]
    too_long = client.patch(f"/api/evidence/{evidence_id}/tags", headers=officer.headers, json={"place": "地" * 257})
    assert too_long.status_code == 422


def test_own_uploads_are_paged_newest_first_with_flags_and_requests(
        client: TestClient, context: VaultContext, officer: Person, make_person: Callable[..., Person],
        media: dict[str, Path]) -> None:
    older = ingest_file(context, officer, media["clip"], now=ON_TIME).evidence.id
    newer = ingest_file(context, officer, media["clip2"], now=ON_TIME.replace(hour=9),
                        party_informed="true").evidence.id
    ingest_file(context, make_person(Role.OFFICER), media["photo"], now=ON_TIME)  # someone else's
    client.patch(f"/api/evidence/{older}/tags", headers=officer.headers,
                 json={"party_informed": True, "reason": "告知了"})
    reviewer, approver = make_person(Role.REVIEWER).actor, make_person(Role.APPROVER).actor
    with context.sessions() as session:
        first = list_own_uploads(session=session, actor=officer.actor, page_size=1)
        second = list_own_uploads(session=session, actor=officer.actor, page=2, page_size=1)
        assert (first.total, first.pages) == (2, 2)
        assert [u.evidence.id for u in first.items + second.items] == [newer, older]
        (mine,) = second.items
        assert "party_not_informed" in {f.flag for f in mine.flags} and len(mine.pending) == 1
        with pytest.raises(PermissionDenied):
            list_own_uploads(session=session, actor=reviewer)
        with pytest.raises(PermissionDenied):
            list_flag_reviews(session=session, actor=officer.actor)
        (review,) = list_flag_reviews(session=session, actor=approver)
        assert review.evidence.id == older and not review.own
