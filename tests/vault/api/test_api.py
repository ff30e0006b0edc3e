"""The HTTP API skeleton: auth, one error shape, request ids, health, and per-role decisions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Person
from vault.context import VaultContext
from vault.errors import StorageError
from vault.identities.models import Role


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready" and ready["checks"] == {"database": "ok", "store": "ok", "custody_log": "ok"}


def test_ready_is_503_when_the_store_is_down(client: TestClient, context: VaultContext,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def down() -> None:
        raise StorageError("object store unreachable")

    monkeypatch.setattr(context.store, "check", down)
    error = assert_error(client.get("/ready"), 503, "not_ready")
    assert error["details"]["store"] == "object store unreachable"


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert "/api/cases" in client.get("/openapi.json").json()["paths"]


def test_requests_without_a_token_get_401(client: TestClient) -> None:
    assert_error(client.get("/api/me"), 401, "unauthenticated")
    assert_error(client.get("/api/me", headers={"Authorization": "Bearer evt_wrong"}), 401, "unauthenticated")


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert client.get("/health", headers={"X-Request-ID": "dock-7"}).headers["x-request-id"] == "dock-7"
    assert len(client.get("/health").headers["x-request-id"]) == 32


def test_unknown_route_and_malformed_body_use_the_error_shape(client: TestClient,
                                                             make_person: Callable[..., Person]) -> None:
    admin = make_person(Role.ADMIN)
    assert_error(client.get("/api/nothing-here"), 404, "not_found")
    assert_error(client.post("/api/users", headers=admin.headers, content=b"{not json"), 422, "invalid_request")
    error = assert_error(client.post("/api/users", headers=admin.headers, json={"name": "x", "role": "king"}),
                         422, "invalid_request")
    assert error["details"][0]["loc"][-1] == "role"


def test_admin_creates_users_and_tokens_over_http(client: TestClient, make_person: Callable[..., Person]) -> None:
    admin = make_person(Role.ADMIN)
    created = client.post("/api/users", headers=admin.headers, json={"name": "li.na", "role": "reviewer"})
    assert created.status_code == 201 and created.json()["role"] == "reviewer"
    token = client.post("/api/users/li.na/tokens", headers=admin.headers, json={"label": "laptop"}).json()["token"]
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()["name"] == "li.na"
    assert_error(client.post("/api/users", headers=admin.headers, json={"name": "li.na", "role": "officer"}),
                 409, "conflict")


def test_handlers_over_http_including_csv(client: TestClient, make_person: Callable[..., Person]) -> None:
    admin = make_person(Role.ADMIN)
    body = {"certificate_number": "14010219001", "name": "张伟", "valid_from": "2022-01-01",
            "valid_until": "2026-12-31"}
    assert client.post("/api/handlers", headers=admin.headers, json=body).status_code == 201
    bad = {**body, "certificate_number": "2", "valid_from": "2022-02-30"}
    assert_error(client.post("/api/handlers", headers=admin.headers, json=bad), 422, "invalid_request")
    csv = "certificate_number,name,valid_from,valid_until\n14010219002,李娜,2021-06-01,2024-05-31\n"
    imported = client.post("/api/handlers/import", headers={**admin.headers, "Content-Type": "text/csv"},
                           content=csv.encode())
    assert imported.status_code == 201 and imported.json()[0]["name"] == "李娜"
    names = [h["name"] for h in client.get("/api/handlers", headers=admin.headers).json()]
    assert names == ["张伟", "李娜"]


def test_cases_and_parties_over_http(client: TestClient, make_person: Callable[..., Person]) -> None:
    manager = make_person(Role.RECORDS_MANAGER)
    number = "阜应急罚字〔2023〕40号"
    case = client.post("/api/cases", headers=manager.headers,
                       json={"case_number": number, "case_type": "general_procedure_penalty"})
    assert case.status_code == 201
    assert_error(client.post("/api/cases", headers=manager.headers,
                             json={"case_number": number, "case_type": "licensing"}), 409, "conflict")
    party = client.post("/api/parties", headers=manager.headers, json={
        "kind": "organisation", "name": "阜阳市某化工有限公司", "legal_representative": "周某",
        "phone": "05581234567", "case_number": number})
    assert party.status_code == 201 and party.json()["phone"] == "055****4567"
    found = client.get("/api/cases", headers=manager.headers, params={"case_number": number}).json()
    assert found[0]["parties"][0]["name"] == "阜阳市某化工有限公司"
    closed = client.post(f"/api/cases/{case.json()['id']}/status", headers=manager.headers, json={"status": "closed"})
    assert closed.json()["status"] == "closed" and closed.json()["closed_at"]
    assert_error(client.get("/api/cases", headers=manager.headers, params={"case_number": "无此案号"}), 404,
                 "not_found")


# Which roles each action admits; every other role gets 403 from the service layer.
ROLE_MATRIX: list[tuple[str, str, str, dict[str, Any] | None, set[Role]]] = [
    ("create user", "POST", "/api/users", {"name": "n{i}", "role": "officer"}, {Role.ADMIN}),
    ("list users", "GET", "/api/users", None, {Role.ADMIN}),
    ("add handler", "POST", "/api/handlers", {"certificate_number": "c{i}", "name": "n", "valid_from": "2024-01-01",
                                              "valid_until": "2026-01-01"}, {Role.ADMIN}),
    ("add case", "POST", "/api/cases", {"case_number": "k{i}", "case_type": "licensing"},
     {Role.ADMIN, Role.RECORDS_MANAGER}),
    ("list cases", "GET", "/api/cases", None, set(Role)),
    ("add party", "POST", "/api/parties", {"kind": "person", "name": "p{i}"}, {Role.ADMIN, Role.RECORDS_MANAGER}),
    ("read custody log", "GET", "/api/custody/events", None, {Role.AUDITOR}),
    ("verify custody log", "GET", "/api/custody/verify", None, {Role.AUDITOR}),
]


@pytest.mark.parametrize(("label", "method", "path", "body", "allowed"), ROLE_MATRIX,
                         ids=[row[0] for row in ROLE_MATRIX])
def test_role_matrix(client: TestClient, make_person: Callable[..., Person], label: str, method: str, path: str,
                     body: dict[str, Any] | None, allowed: set[Role]) -> None:
    for i, role in enumerate(Role):
        person = make_person(role)
        payload = {k: v.format(i=i) if isinstance(v, str) else v for k, v in body.items()} if body else None
        response = client.request(method, path, headers=person.headers, json=payload)
        if role in allowed:
            assert response.status_code in (200, 201), f"{role} should {label}: {response.text}"
        else:
            assert_error(response, 403, "permission_denied")


def test_auditor_reads_and_verifies_the_log(client: TestClient, make_person: Callable[..., Person]) -> None:
    auditor = make_person(Role.AUDITOR)
    events = client.get("/api/custody/events", headers=auditor.headers).json()
    assert [e["action"] for e in events][:2] == ["user:created", "token:created"]
    verdict = client.get("/api/custody/verify", headers=auditor.headers).json()
    assert verdict["ok"] is True and verdict["entries"] == len(events)
    proof = client.get("/api/custody/proof/0", headers=auditor.headers).json()
    assert proof["tree_size"] == len(events)
    key = client.get("/api/custody/public-key").json()
    assert key["algorithm"] == "Ed25519" and "BEGIN PUBLIC KEY" in key["pem"]


def test_a_busy_database_is_503_not_500(client: TestClient, context: VaultContext,
                                        make_person: Callable[..., Person], monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    admin = make_person(Role.ADMIN)

    def locked() -> None:
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    monkeypatch.setattr(context, "sessions", locked)
    response = client.get("/api/me", headers=admin.headers)
    assert_error(response, 503, "database_unavailable")
    assert response.headers["retry-after"] == "2"


def test_openapi_declares_the_error_responses_with_the_shared_body(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    error = spec["components"]["schemas"]["ErrorBody"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorDetail")
    assert set(spec["components"]["schemas"]["ErrorDetail"]["required"]) == {"code", "message"}
    declared = {(path, method): {int(s) for s in op["responses"] if s.isdigit() and int(s) >= 400}
                for path, ops in spec["paths"].items() for method, op in ops.items()}
    assert {401, 403, 422} <= declared[("/api/cases", "post")] and 409 in declared[("/api/cases", "post")]
    assert {400, 404, 409, 412, 413, 415, 423, 460} <= declared[("/api/uploads/{upload_id}", "patch")]
    assert {400, 412, 413, 415, 422} <= declared[("/api/uploads", "post")]
    assert {404, 416} <= declared[("/api/evidence/{evidence_id}/download", "get")]
    assert not declared[("/api/custody/public-key", "get")] and declared[("/ready", "get")] == {503}
    # c2sp.org/tlog-witness fixes this one refusal's body: the size the witness holds, as text/x.tlog.size.
    protocol = {("/api/witness/add-checkpoint", "post", 409)}
    for (path, method), statuses in declared.items():
        for status in statuses - {s for p, m, s in protocol if (p, m) == (path, method)}:
            body = spec["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/ErrorBody"}, (path, method, status)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
