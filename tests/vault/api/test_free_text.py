"""Every free-text field refuses what the catalog or the signer cannot keep, and text past its bound, with a 422."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Person
from tests.vault.api.test_api import assert_error
from vault.identities.models import Role
from vault.text import check_text, text_problem

CASE = {"case_number": "阜应急罚字〔2023〕41号", "case_type": "licensing"}
EVIDENCE = "00000000-0000-0000-0000-000000000001"
# (role, method, path, a valid body, the free-text field to spoil)
FIELDS: list[tuple[Role, str, str, dict[str, Any], str]] = [
    (Role.ADMIN, "POST", "/api/cases", {**CASE, "case_number": "阜应急罚字〔2023〕42号", "title": "检查"}, "title"),
    (Role.ADMIN, "POST", "/api/cases", CASE, "case_number"),
    (Role.ADMIN, "POST", "/api/parties", {"kind": "person", "name": "张三", "address": "北京"}, "name"),
    (Role.ADMIN, "POST", "/api/parties", {"kind": "person", "name": "张三", "address": "北京"}, "address"),
    (Role.ADMIN, "POST", "/api/parties", {"kind": "person", "name": "张三", "legal_representative": "李"},
     "legal_representative"),
    (Role.ADMIN, "POST", "/api/users", {"name": "wang", "role": "officer", "display_name": "王"}, "display_name"),
    (Role.ADMIN, "POST", "/api/users/{me}/tokens", {"label": "dock"}, "label"),
    (Role.ADMIN, "POST", "/api/handlers", {"certificate_number": "C100", "name": "王五", "unit": "应急局",
                                           "valid_from": "2024-01-01", "valid_until": "2030-01-01"}, "unit"),
    (Role.OFFICER, "POST", "/api/access/requests", {"evidence_ids": [EVIDENCE], "purpose": "investigation",
                                                    "duration_hours": 2, "reason": "复核"}, "reason"),
    (Role.OFFICER, "PATCH", f"/api/evidence/{EVIDENCE}/tags", {"notes": "补录"}, "notes"),
    (Role.OFFICER, "PATCH", f"/api/evidence/{EVIDENCE}/tags", {"party": "某公司"}, "party"),
    (Role.RECORDS_MANAGER, "POST", "/api/retention/holds", {"evidence_id": EVIDENCE, "reason": "诉讼"}, "reason"),
    (Role.RECORDS_MANAGER, "POST", "/api/retention/markers", {"evidence_id": EVIDENCE, "kind": "disputed_enforcement",
                                                               "note": "典型"}, "note"),
    (Role.RECORDS_MANAGER, "POST", "/api/exports", {**CASE, "purpose": "court", "recipient": "法院"}, "recipient"),
]


def send(client: TestClient, person: Person, method: str, path: str, body: dict[str, Any]) -> Any:
    """Send the body as ASCII JSON: the escape \\ud800 is how a client sends a lone surrogate."""
    return client.request(method, path.format(me=person.user.name), content=json.dumps(body).encode(),
                          headers={**person.headers, "Content-Type": "application/json"})


@pytest.mark.parametrize("spoiler", ["\ud800", "\x00", "x" * 9000], ids=["surrogate", "nul", "too-long"])
@pytest.mark.parametrize(("role", "method", "path", "body", "field"), FIELDS,
                         ids=[f"{path}:{field}" for _, _, path, _, field in FIELDS])
def test_unstorable_text_is_422_in_the_error_shape(
        client: TestClient, make_person: Callable[..., Person], role: Role, method: str, path: str,
        body: dict[str, Any], field: str, spoiler: str) -> None:
    person = make_person(role, certificate="C001" if role == Role.OFFICER else None)
    error = assert_error(send(client, person, method, path, {**body, field: body[field] + spoiler}),
                         422, "invalid_request")
    assert error["details"][0]["loc"][-1] == field


def test_the_valid_bodies_above_are_accepted_so_the_refusals_are_about_the_text(
        client: TestClient, make_person: Callable[..., Person]) -> None:
    admin = make_person(Role.ADMIN)
    sent: list[tuple[str, dict[str, Any]]] = []
    for role, method, path, body, _ in FIELDS[:8]:
        assert role == Role.ADMIN
        if (path, body) not in sent:
            sent.append((path, body))
            assert send(client, admin, method, path, body).status_code in {200, 201}, path


def test_a_surrogate_in_a_key_of_free_form_json_is_refused_not_echoed_into_a_500(
        client: TestClient, make_person: Callable[..., Person]) -> None:
    manager = make_person(Role.RECORDS_MANAGER)
    body = {"changes": {"\ud800": 1}, "effective_from": "2030-01-01T00:00:00+00:00"}
    error = assert_error(send(client, manager, "POST", "/api/retention/policy", body), 422, "invalid_input")
    assert "\\ud800" in error["message"]


def test_query_parameters_with_a_nul_are_refused_or_match_nothing(
        client: TestClient, make_person: Callable[..., Person]) -> None:
    officer = make_person(Role.OFFICER, certificate="C001")
    for path in ("/api/evidence", "/api/cases", "/api/ingest/gaps"):
        response = client.get(path, params={"case_number": "x\x00"}, headers=officer.headers)
        assert response.status_code in {404, 422}, (path, response.text)


def test_a_csv_import_with_a_nul_is_refused(client: TestClient, make_person: Callable[..., Person]) -> None:
    admin = make_person(Role.ADMIN)
    csv = ("certificate_number,name,unit,category,valid_from,valid_until,status\n"
           "C7,王\x00五,局,,2024-01-01,2030-01-01,valid\n")
    response = client.post("/api/handlers/import", content=csv.encode(),
                           headers={**admin.headers, "Content-Type": "text/csv"})
    assert_error(response, 422, "invalid_request")


def test_the_shared_rule() -> None:
    assert text_problem("执法记录 ok\n") is None
    assert text_problem("a\x00") == "contains a NUL character"
    assert "surrogate" in (text_problem("\udfff") or "")
    with pytest.raises(ValueError, match="NUL"):
        check_text("\x00")
