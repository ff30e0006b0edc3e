"""/api/callups: register a call-up (调阅), read it, fulfil it with an export, and the overdue report."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.vault.callups.conftest import MakeExport
from tests.vault.exports.conftest import CASE_NUMBER, World
from vault.db import utcnow


def _notice(**fields: object) -> dict[str, object]:
    return {"department": "安徽省应急管理厅", "document_number": "皖应急备调〔2025〕3号",
            "case_numbers": ["阜应急罚字[2023]40号"], "received_on": "2025-09-29", **fields}


def test_register_report_overdue_and_fulfil_over_http(
    client: TestClient, world: World, make_export: MakeExport
) -> None:
    # Due within 5 working days of the notice (`001` 备案规定 第十五条); reported when overdue; fulfilled by an export.
    made = client.post("/api/callups", json=_notice(), headers=world.manager.headers)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["due_on"] == "2025-10-13" and body["case_numbers"] == [CASE_NUMBER] and not body["provisional"]
    assert body["state"] == "overdue" and body["working_days_overdue"] > 0
    today = client.post("/api/callups", json=_notice(document_number="皖应急备调〔2026〕9号", received_on=None),
                        headers=world.manager.headers)
    assert today.status_code == 201 and today.json()["state"] == "open"
    overdue = client.get("/api/callups/overdue", headers=world.auditor.headers)
    assert [c["id"] for c in overdue.json()] == [body["id"]]
    export_id = make_export(utcnow())
    done = client.post(f"/api/callups/{body['id']}/fulfil", json={"export_ids": [str(export_id)]},
                       headers=world.manager.headers)
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "fulfilled" and done.json()["fulfilled_late"]
    assert done.json()["export_ids"] == [str(export_id)]
    assert client.get("/api/callups/overdue", headers=world.auditor.headers).json() == []
    shown = client.get(f"/api/callups/{body['id']}", headers=world.auditor.headers).json()
    assert shown["state"] == "fulfilled" and shown["fulfilled_by"] == world.manager.user.name
    again = client.post(f"/api/callups/{body['id']}/fulfil", json={"export_ids": [str(export_id)]},
                        headers=world.manager.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_callup_refusals_are_clear_4xx(client: TestClient, world: World) -> None:
    officer = client.post("/api/callups", json=_notice(), headers=world.officer.headers)
    assert officer.status_code == 403 and officer.json()["error"]["details"]["permission"] == "manage_callups"
    assert client.post("/api/callups", json=_notice(), headers=world.auditor.headers).status_code == 403
    assert client.get("/api/callups", headers=world.approver.headers).status_code == 403
    unknown = client.post("/api/callups", json=_notice(case_numbers=["无此案号"]), headers=world.manager.headers)
    assert unknown.status_code == 404
    assert client.post("/api/callups", json=_notice(case_numbers=[]), headers=world.manager.headers).status_code == 422
    future = client.post("/api/callups", json=_notice(received_on="2099-01-01"), headers=world.manager.headers)
    assert future.status_code == 422 and future.json()["error"]["code"] == "invalid_input"
    assert client.post("/api/callups", json=_notice(), headers=world.manager.headers).status_code == 201
    duplicate = client.post("/api/callups", json=_notice(), headers=world.manager.headers)
    assert duplicate.status_code == 409
    missing = client.get("/api/callups/00000000-0000-0000-0000-000000000000", headers=world.manager.headers)
    assert missing.status_code == 404
    callup_id = client.get("/api/callups", headers=world.manager.headers).json()[0]["id"]
    no_export = client.post(f"/api/callups/{callup_id}/fulfil", headers=world.manager.headers,
                            json={"export_ids": ["00000000-0000-0000-0000-000000000000"]})
    assert no_export.status_code == 404
