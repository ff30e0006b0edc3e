"""The auditor's access trail: per record, case and user; CSV and HTML exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.vault.access.conftest import GrantFor, Media, People, StoreEvidence
from vault.access.models import AccessMode
from vault.cases.models import Case
from vault.context import VaultContext


def _trail(client: TestClient, people: People, **params: str) -> list[str]:
    response = client.get("/api/access/trail", headers=people.auditor.headers, params=params)
    assert response.status_code == 200, response.text
    return [entry["action"] for entry in response.json()]


def test_trail_per_record_case_and_user(client: TestClient, context: VaultContext, people: People, media: Media,
                                        store_evidence: StoreEvidence, grant_for: GrantFor,
                                        make_case: Callable[[str], Case]) -> None:
    case = make_case("阜应急罚字〔2024〕7号")
    clip = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4", case=case)
    other = store_evidence(media.jpeg, uploader=people.officer, media_type="image/jpeg")
    grant_for(people.reviewer, [clip], mode=AccessMode.VIEW_DOWNLOAD)
    client.get(f"/api/evidence/{clip}/play", headers={**people.reviewer.headers, "Range": "bytes=0-9"})
    client.get(f"/api/evidence/{clip}/download", headers=people.reviewer.headers)
    client.get(f"/api/evidence/{other}/original", headers=people.records_manager.headers)
    context.settings.playback_idle_seconds = 0  # summarise the playback session now
    by_record = _trail(client, people, evidence_id=str(clip))
    assert by_record == ["access:requested", "access:approved", "evidence:viewed", "evidence:downloaded",
                         "evidence:playback_closed"]
    assert _trail(client, people, case_number=case.case_number) == by_record
    assert _trail(client, people, evidence_id=str(other)) == ["evidence:access_refused"]
    by_reviewer = _trail(client, people, user=people.reviewer.user.name)
    assert by_reviewer == by_record  # their request, the approval of it, their reads
    assert _trail(client, people, user=people.approver.user.name) == ["access:approved"]
    # Filters combine: every one given must hold.
    assert _trail(client, people, user=people.reviewer.user.name, evidence_id=str(other)) == []
    assert _trail(client, people, user=people.approver.user.name, case_number=case.case_number) == ["access:approved"]
    assert client.get("/api/access/trail", headers=people.auditor.headers,
                      params={"user": "x", "case_number": case.case_number}).status_code == 404


def test_trail_exports_as_csv_and_html_and_the_export_is_logged(
    client: TestClient, context: VaultContext, people: People, media: Media, store_evidence: StoreEvidence,
    grant_for: GrantFor
) -> None:
    clip = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4")
    grant = grant_for(people.reviewer, [clip])
    client.get(f"/api/evidence/{clip}/download", headers=people.reviewer.headers)
    exported = client.get("/api/access/trail.csv", headers=people.auditor.headers, params={"evidence_id": str(clip)})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert [r["action"] for r in rows] == ["access:requested", "access:approved", "evidence:access_refused"]
    assert str(grant.id) in rows[1]["summary"] and "reviewer-wang" in rows[2]["summary"]
    report = client.get("/api/access/trail.html", headers=people.auditor.headers, params={"evidence_id": str(clip)})
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "查阅记录" in report.text and "custody log checkpoint" in report.text and 'class="refused"' in report.text
    assert client.get("/api/access/trail.docx", headers=people.auditor.headers).status_code == 422
    assert client.get("/api/access/trail.csv", headers=people.reviewer.headers).status_code == 403
    logged = client.get("/api/custody/events", headers=people.auditor.headers, params={"actor_id":
                                                                                        str(people.auditor.user.id)})
    assert [e["details"]["format"] for e in logged.json() if e["action"] == "audit:report_exported"] == ["csv", "html"]
