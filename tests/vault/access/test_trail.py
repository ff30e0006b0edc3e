"""The auditor's trail search: filters that combine, readable names, pages, CSV and PDF exports, who may read it."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pypdf
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Person
from tests.vault.access.conftest import GrantFor, Media, People, StoreEvidence
from vault.cases.models import Case

CASE = "阜应急罚字〔2024〕7号"


def _search(client: TestClient, who: Person, **params: object) -> list[dict[str, object]]:
    response = client.get("/api/access/trail", headers=who.headers, params=params)
    assert response.status_code == 200, response.text
    entries: list[dict[str, object]] = response.json()
    assert int(response.headers["X-Total-Count"]) >= len(entries)
    return entries


@pytest.fixture
def played(client: TestClient, people: People, media: Media, store_evidence: StoreEvidence, grant_for: GrantFor,
           make_case: Callable[[str], Case]) -> str:
    """A record of a case, viewed by the reviewer under a grant; return the record id."""
    clip = store_evidence(media.mp4, uploader=people.officer, media_type="video/mp4", case=make_case(CASE))
    grant_for(people.reviewer, [clip])
    played = client.get(f"/api/evidence/{clip}/play", headers={**people.reviewer.headers, "Range": "bytes=0-9"})
    assert played.status_code == 206
    return str(clip)


def test_search_names_users_records_and_cases_instead_of_ids(client: TestClient, people: People, played: str) -> None:
    # Issue 13, Auditor: search the trail "with readable names (not UUIDs)".
    viewed = _search(client, people.auditor, evidence_id=played, action="evidence:viewed")
    assert len(viewed) == 1
    assert viewed[0]["actor"] == "reviewer-wang"
    assert viewed[0]["subject"] == viewed[0]["record"] == f"执法记录-clip.mp4 · {CASE}"
    assert viewed[0]["case_number"] == CASE
    requested = _search(client, people.auditor, evidence_id=played, action="access:requested")
    assert requested[0]["subject"] == f"access request (查阅申请) for 执法记录-clip.mp4 · {CASE}"


def test_filters_by_user_record_case_time_and_action_combine(client: TestClient, people: People, played: str) -> None:
    # Issue 13, Auditor: search by record, case, user, date range and action; every filter given must hold.
    auditor = people.auditor
    by_user = [e["action"] for e in _search(client, auditor, user=people.reviewer.user.name)]
    assert by_user == ["access:requested", "access:approved", "evidence:viewed"]
    assert [e["action"] for e in _search(client, auditor, case_number="阜应急罚字[2024]7号")] == by_user
    assert [e["action"] for e in _search(client, auditor, user=people.approver.user.name, evidence_id=played)] == [
        "access:approved"]
    everything = [e["action"] for e in _search(client, auditor, evidence_id=played, action="*")]
    assert everything[0] == "evidence:registered" and "evidence:viewed" in everything
    two = _search(client, auditor, evidence_id=played, action=["evidence:registered", "evidence:viewed"])
    assert [e["action"] for e in two] == ["evidence:registered", "evidence:viewed"]
    now = datetime.now(UTC)
    assert _search(client, auditor, evidence_id=played, until=(now - timedelta(hours=1)).isoformat()) == []
    window = {"since": (now - timedelta(hours=1)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}
    assert [e["action"] for e in _search(client, auditor, evidence_id=played, **window)] == by_user
    for bad in ({"action": "evidence:teleported"}, {"since": "2026-05-01T00:00:00"},
                {"since": window["until"], "until": window["since"]}):
        refused = client.get("/api/access/trail", headers=auditor.headers, params=bad)
        assert refused.status_code == 422, bad


def test_trail_is_paginated_with_the_total(client: TestClient, people: People, played: str) -> None:
    # Issue 13: the auditor pages through a long trail.
    first = client.get("/api/access/trail", headers=people.auditor.headers,
                       params={"action": "*", "limit": 2, "offset": 0})
    second = client.get("/api/access/trail", headers=people.auditor.headers,
                        params={"action": "*", "limit": 2, "offset": 2})
    total = int(first.headers["X-Total-Count"])
    assert total > 4 and len(first.json()) == len(second.json()) == 2
    indexes = [e["log_index"] for e in first.json() + second.json()]
    assert indexes == sorted(indexes) and len(set(indexes)) == 4


def test_csv_export_has_one_row_per_event_with_json_details_and_is_logged(
    client: TestClient, people: People, played: str
) -> None:
    # Issue 13: export as CSV, details as JSON; every export is itself logged (DOMAIN: every export is logged).
    exported = client.get("/api/access/trail.csv", headers=people.auditor.headers, params={"evidence_id": played})
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert [r["action"] for r in rows] == ["access:requested", "access:approved", "evidence:viewed"]
    viewed = rows[2]
    assert viewed["actor"] == "reviewer-wang" and viewed["record"] == f"执法记录-clip.mp4 · {CASE}"
    assert json.loads(viewed["details"])["grant_id"] == json.loads(rows[1]["details"])["grant_id"]
    logged = _search(client, people.auditor, user=people.auditor.user.name, action="audit:report_exported")
    assert [e["details"]["format"] for e in logged] == ["csv"]  # type: ignore[index]
    assert logged[0]["details"]["filter"]["evidence_id"] == played  # type: ignore[index]


def test_pdf_export_renders_chinese_text(client: TestClient, people: People, played: str) -> None:
    # Issue 13: export as PDF; the report is Chinese (case numbers, names), so a CJK font must carry the glyphs.
    exported = client.get("/api/access/trail.pdf", headers=people.auditor.headers, params={"case_number": CASE})
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/pdf"
    pdf = pypdf.PdfReader(io.BytesIO(exported.content))
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "查阅记录" in text and "执法记录-clip.mp4" in text and "reviewer-wang" in text
    fonts = {str(font["/BaseFont"]) for page in pdf.pages for font in page["/Resources"]["/Font"].values()}
    assert any("CJK" in font for font in fonts), fonts


@pytest.mark.parametrize("role", ["officer", "reviewer", "approver", "records_manager", "admin"])
def test_only_auditors_read_or_export_the_trail(client: TestClient, people: People, played: str, role: str) -> None:
    # DOMAIN roles: the auditor (监督) reads every log; nobody else reads or exports the trail.
    who: Person = getattr(people, role)
    for path in ("/api/access/trail", "/api/access/trail.csv", "/api/access/trail.pdf"):
        refused = client.get(path, headers=who.headers, params={"evidence_id": played})
        assert refused.status_code == 403, path
        assert refused.json()["error"]["code"] == "permission_denied"
    assert _search(client, people.auditor, action="audit:report_exported") == []
