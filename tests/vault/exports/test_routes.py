"""POST /api/exports streams the bundle; retained copies can be read back; refusals have clear 4xx bodies."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient

from evault_client.verify_bundle import verify_bundle
from tests.vault.exports.conftest import CASE_NUMBER, World, approve
from vault.access.models import AccessPurpose
from vault.context import VaultContext
from vault.db import utcnow


def _body(world: World, **fields: object) -> dict[str, object]:
    return {
        "case_number": CASE_NUMBER,
        "purpose": "reconsideration",
        "recipient": "阜阳市人民政府行政复议办公室",
        "evidence_ids": [str(i) for i in world.records],
        **fields,
    }


def test_post_streams_a_valid_bundle_and_the_retained_copy_matches(
    client: TestClient, context: VaultContext, world: World, tmp_path: Path
) -> None:
    approve(context, world, world.records, utcnow(), purpose=AccessPurpose.RECONSIDERATION)
    response = client.post("/api/exports", json=_body(world), headers=world.manager.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    export_id = response.headers["x-export-id"]
    assert f"evidence-bundle-{export_id}.zip" in response.headers["content-disposition"]
    out = tmp_path / "api.zip"
    out.write_bytes(response.content)
    assert verify_bundle(out).ok
    kept = client.get(f"/api/exports/{export_id}", headers=world.auditor.headers)
    assert kept.status_code == 200
    assert kept.json()["bundle_sha256"] == hashlib.sha256(response.content).hexdigest()
    assert kept.json()["purpose"] == "reconsideration" and kept.json()["record_count"] == 2
    listed = client.get("/api/exports", params={"case_number": CASE_NUMBER}, headers=world.manager.headers)
    assert [e["id"] for e in listed.json()] == [export_id]


def test_refusals_are_clear_4xx(client: TestClient, world: World, now: datetime) -> None:
    unknown = client.post("/api/exports", json=_body(world, case_number="无此案号"), headers=world.manager.headers)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    unapproved = client.post("/api/exports", json=_body(world), headers=world.manager.headers)
    assert unapproved.status_code == 403 and "grant" in unapproved.json()["error"]["message"]
    officer = client.post("/api/exports", json=_body(world), headers=world.officer.headers)
    assert officer.status_code == 403 and officer.json()["error"]["details"]["permission"] == "export_evidence"
    bad_purpose = client.post("/api/exports", json=_body(world, purpose="press"), headers=world.manager.headers)
    assert bad_purpose.status_code == 422
    assert client.post("/api/exports", json=_body(world)).status_code == 401
    assert (
        client.get("/api/exports/00000000-0000-0000-0000-000000000000", headers=world.auditor.headers).status_code
        == 404
    )
    assert client.get("/api/exports", headers=world.officer.headers).status_code == 403


def test_whole_case_party_copy_over_http_lists_what_it_left_out(
    client: TestClient, context: VaultContext, world: World, tmp_path: Path
) -> None:
    # Confidential records may not be copied (`000` 第九条): left out of a whole-case party copy, and listed.
    requested = client.post("/api/access/requests", headers=world.manager.headers, json={
        "case_number": CASE_NUMBER, "purpose": "party_copy", "mode": "view_download", "duration_hours": 24,
        "reason": "当事人申请复制"})
    assert requested.status_code == 201, requested.text
    assert requested.json()["withheld_ids"] == [str(world.secret)]
    assert sorted(requested.json()["record_ids"]) == sorted(str(i) for i in world.records)
    approved = client.post(f"/api/access/requests/{requested.json()['id']}/approve", json={},
                           headers=world.approver.headers)
    assert approved.status_code == 201, approved.text
    named = client.post("/api/exports", headers=world.manager.headers,
                        json=_body(world, purpose="party-copy", evidence_ids=[str(world.secret)]))
    assert named.status_code == 403 and named.json()["error"]["code"] == "confidential_record"
    assert str(world.secret) in named.json()["error"]["message"]
    response = client.post("/api/exports", headers=world.manager.headers,
                           json=_body(world, purpose="party-copy", evidence_ids=None, recipient="陈某"))
    assert response.status_code == 200, response.text
    out = tmp_path / "party.zip"
    out.write_bytes(response.content)
    assert verify_bundle(out).ok
    kept = client.get(f"/api/exports/{response.headers['x-export-id']}", headers=world.manager.headers).json()
    assert kept["withheld_ids"] == [str(world.secret)] and kept["withheld_count"] == 1 and kept["record_count"] == 2


def test_refusal_body_names_the_records(client: TestClient, context: VaultContext, world: World) -> None:
    # Refusals name the records (issue 12 item 3): a court grant does not make a party copy.
    grant = approve(context, world, world.records, utcnow())
    refused = client.post("/api/exports", json=_body(world, purpose="party-copy"), headers=world.manager.headers)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert all(str(i) in error["message"] for i in world.records) and str(grant) in error["message"]
    assert sorted(error["details"]["uncovered"]) == sorted(str(i) for i in world.records)


def test_the_retained_document_is_served_to_managers_and_auditors_only(
    client: TestClient, context: VaultContext, world: World
) -> None:
    approve(context, world, world.records, utcnow(), purpose=AccessPurpose.RECONSIDERATION)
    response = client.post("/api/exports", json=_body(world), headers=world.manager.headers)
    export_id = response.headers["x-export-id"]
    for person in (world.manager, world.auditor):
        kept = client.get(f"/api/exports/{export_id}/retained", headers=person.headers)
        assert kept.status_code == 200 and kept.headers["content-type"] == "application/json"
        assert kept.json()["bundle_sha256"] == hashlib.sha256(response.content).hexdigest()
        assert kept.json()["export_id"] == export_id and kept.json()["files"]
    assert client.get(f"/api/exports/{export_id}/retained", headers=world.officer.headers).status_code == 403
    assert client.get(f"/api/exports/{export_id}/retained").status_code == 401
    missing = client.get(f"/api/exports/{world.secret}/retained", headers=world.auditor.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
