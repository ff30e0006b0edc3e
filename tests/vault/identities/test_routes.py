"""People over HTTP: certificate history, disabling users, roles, and tokens, per role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Person
from tests.ingest.conftest import tus_create, tus_patch
from vault.identities.models import Role

NON_ADMINS = [r for r in Role if r != Role.ADMIN]
CERT = {"certificate_number": "14010219001", "name": "张伟", "unit": "阜阳市应急管理局", "valid_from": "2022-01-01",
        "valid_until": "2026-12-31"}


def error_code(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["code"])


@pytest.fixture
def admin(make_person: Callable[..., Person]) -> Person:
    """Return an administrator."""
    return make_person(Role.ADMIN, name="admin")


def test_a_certificate_is_suspended_and_reinstated_over_http(client: TestClient, admin: Person) -> None:
    # A certificate can be suspended (`001` 第十五、十六条); validity on a day follows the dated history.
    assert client.post("/api/handlers", headers=admin.headers, json=CERT).status_code == 201
    path = "/api/handlers/14010219001"
    suspended = client.post(f"{path}/changes", headers=admin.headers,
                            json={"kind": "suspended", "effective_on": "2025-03-01", "reason": "暂扣执法证"})
    assert suspended.status_code == 201, suspended.text
    assert suspended.json()["recorded_by"] == "admin" and suspended.json()["reason"] == "暂扣执法证"
    assert client.post(f"{path}/changes", headers=admin.headers,
                       json={"kind": "reinstated", "effective_on": "2025-04-01", "reason": "发还"}).status_code == 201
    during = client.get(path, headers=admin.headers, params={"on": "2025-03-15"}).json()
    assert (during["valid_on"], during["status_on"]) == (False, "suspended")
    after = client.get(path, headers=admin.headers, params={"on": "2025-04-01"}).json()
    assert (after["valid_on"], after["status_on"], after["status"]) == (True, "valid", "valid")
    assert [e["kind"] for e in after["history"]] == ["issued", "suspended", "reinstated"]


def test_a_renewal_and_a_correction_over_http(client: TestClient, admin: Person) -> None:
    client.post("/api/handlers", headers=admin.headers, json=CERT)
    path = "/api/handlers/14010219001"
    renewed = client.post(f"{path}/changes", headers=admin.headers, json={
        "kind": "renewed", "effective_on": "2027-01-01", "valid_until": "2031-12-31", "reason": "期满换证"})
    assert renewed.json()["valid_from"] == "2027-01-01" and renewed.json()["valid_until"] == "2031-12-31"
    assert client.get(path, headers=admin.headers, params={"on": "2030-01-01"}).json()["valid_on"] is True
    corrected = client.post(f"{path}/changes", headers=admin.headers, json={
        "kind": "corrected", "effective_on": "2027-01-01", "voids": renewed.json()["id"], "reason": "换证录错"})
    assert corrected.status_code == 201, corrected.text
    assert client.get(path, headers=admin.headers, params={"on": "2030-01-01"}).json()["valid_on"] is False


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"kind": "reinstated", "effective_on": "2025-03-01", "reason": "x"}, 409, "conflict"),
    ({"kind": "suspended", "effective_on": "2025-03-01", "reason": ""}, 422, "invalid_request"),
    ({"kind": "lost", "effective_on": "2025-03-01", "reason": "x"}, 422, "invalid_request"),
    ({"kind": "renewed", "effective_on": "2025-03-01", "reason": "x"}, 422, "invalid_input"),
])
def test_bad_certificate_changes_get_a_4xx(client: TestClient, admin: Person, body: dict[str, str], status: int,
                                           code: str) -> None:
    client.post("/api/handlers", headers=admin.headers, json=CERT)
    response = client.post("/api/handlers/14010219001/changes", headers=admin.headers, json=body)
    assert error_code(response, status) == code
    unknown = client.post("/api/handlers/nope/changes", headers=admin.headers,
                          json={"kind": "suspended", "effective_on": "2025-03-01", "reason": "x"})
    assert error_code(unknown, 404) == "not_found"


@pytest.mark.parametrize("role", NON_ADMINS)
def test_only_admins_change_certificates_but_everyone_reads_them(
        client: TestClient, admin: Person, make_person: Callable[..., Person], role: Role) -> None:
    person = make_person(role)
    client.post("/api/handlers", headers=admin.headers, json=CERT)
    refused = client.post("/api/handlers/14010219001/changes", headers=person.headers,
                          json={"kind": "suspended", "effective_on": "2025-03-01", "reason": "x"})
    assert error_code(refused, 403) == "permission_denied"
    assert client.get("/api/handlers/14010219001", headers=person.headers).json()["history"][0]["kind"] == "issued"


def test_a_disabled_users_token_and_upload_stop_at_once(
        client: TestClient, admin: Person, make_person: Callable[..., Person]) -> None:
    # Issue 12 item 4: a disabled user's tokens and sessions (here a resumable upload) stop working at once.
    officer = make_person(Role.OFFICER, certificate="C001")
    created = tus_create(client, officer, 64, filename="clip.mp4")
    assert created.status_code == 201, created.text
    disabled = client.post(f"/api/users/{officer.user.name}/disable", headers=admin.headers, json={"reason": "离职"})
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    assert error_code(client.get("/api/me", headers=officer.headers), 401) == "unauthenticated"
    assert error_code(tus_patch(client, officer, created.headers["Location"], 0, b"x" * 64), 401) == "unauthenticated"
    tokens = client.get(f"/api/users/{officer.user.name}/tokens", headers=admin.headers).json()
    assert all(t["revoked_at"] for t in tokens)
    enabled = client.post(f"/api/users/{officer.user.name}/enable", headers=admin.headers)
    assert enabled.json()["active"] is True
    assert error_code(client.get("/api/me", headers=officer.headers), 401) == "unauthenticated"  # needs a new one


def test_roles_change_over_http_but_never_the_last_admin_or_ones_own(
        client: TestClient, admin: Person, make_person: Callable[..., Person]) -> None:
    # Issue 12 item 4: role changes are admin only, logged; nobody removes the last admin or locks themselves out.
    officer = make_person(Role.OFFICER)
    changed = client.post(f"/api/users/{officer.user.name}/role", headers=admin.headers,
                          json={"role": "approver", "reason": "任科长"})
    assert changed.json()["role"] == "approver"
    assert client.get("/api/me", headers=officer.headers).json()["role"] == "approver"
    own = client.post("/api/users/admin/role", headers=admin.headers, json={"role": "auditor"})
    assert error_code(own, 409) == "self_lockout"
    assert error_code(client.post("/api/users/admin/disable", headers=admin.headers), 409) == "self_lockout"
    second = make_person(Role.ADMIN)
    assert client.post("/api/users/admin/disable", headers=second.headers).status_code == 200
    last = client.post(f"/api/users/{second.user.name}/role", headers=make_person(Role.ADMIN).headers,
                       json={"role": "auditor"})
    assert last.status_code == 200  # a third admin remains
    assert error_code(client.post("/api/users/nobody/disable", headers=second.headers), 404) == "not_found"


@pytest.mark.parametrize("role", NON_ADMINS)
def test_only_admins_disable_users_and_change_roles_over_http(
        client: TestClient, admin: Person, make_person: Callable[..., Person], role: Role) -> None:
    person = make_person(role)
    for path, body in (("disable", {}), ("enable", {}), ("role", {"role": "reviewer"})):
        response = client.post(f"/api/users/{admin.user.name}/{path}", headers=person.headers, json=body)
        assert error_code(response, 403) == "permission_denied"


@pytest.mark.parametrize("role", list(Role))
def test_everyone_lists_and_revokes_their_own_tokens_over_http(
        client: TestClient, admin: Person, make_person: Callable[..., Person], role: Role) -> None:
    # Issue 12 item 4: tokens can be listed and revoked through the API.
    person = make_person(role)
    second = client.post(f"/api/users/{person.user.name}/tokens", headers=person.headers,
                         json={"label": "dock"}).json()["token"]
    listed = client.get("/api/me/tokens", headers=person.headers).json()
    assert sorted(t["label"] for t in listed) == ["", "dock"] and all("token" not in t for t in listed)
    first = next(t for t in listed if t["label"] == "")
    revoked = client.post(f"/api/tokens/{first['id']}/revoke", headers={"Authorization": f"Bearer {second}"})
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert error_code(client.get("/api/me", headers=person.headers), 401) == "unauthenticated"
    again = client.post(f"/api/tokens/{first['id']}/revoke", headers={"Authorization": f"Bearer {second}"})
    assert error_code(again, 409) == "conflict"


@pytest.mark.parametrize("role", NON_ADMINS)
def test_only_admins_see_and_revoke_other_peoples_tokens(
        client: TestClient, admin: Person, make_person: Callable[..., Person], role: Role) -> None:
    person = make_person(role)
    (admin_token,) = client.get("/api/me/tokens", headers=admin.headers).json()
    assert error_code(client.get("/api/users/admin/tokens", headers=person.headers), 403) == "permission_denied"
    refused = client.post(f"/api/tokens/{admin_token['id']}/revoke", headers=person.headers)
    assert error_code(refused, 403) == "permission_denied"
    (theirs,) = client.get(f"/api/users/{person.user.name}/tokens", headers=admin.headers).json()
    assert client.post(f"/api/tokens/{theirs['id']}/revoke", headers=admin.headers).status_code == 200
    assert error_code(client.get("/api/me", headers=person.headers), 401) == "unauthenticated"


def test_an_admin_corrects_a_handler_without_touching_the_certificate_history(client: TestClient,
                                                                              admin: Person) -> None:
    client.post("/api/handlers", headers=admin.headers, json=CERT)
    path = "/api/handlers/14010219001"
    client.post(f"{path}/changes", headers=admin.headers,
                json={"kind": "suspended", "effective_on": "2025-03-01", "reason": "暂扣执法证"})
    updated = client.patch(path, headers=admin.headers, json={"name": "张伟", "unit": "阜阳市应急管理局执法支队"})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["unit"], updated.json()["status"]) == ("阜阳市应急管理局执法支队", "suspended")
    detail = client.get(path, headers=admin.headers, params={"on": "2025-03-15"}).json()
    assert [e["kind"] for e in detail["history"]] == ["issued", "suspended"]
    assert (detail["valid_from_on"], detail["valid_until_on"]) == ("2022-01-01", "2026-12-31")
    assert client.patch(path, headers=admin.headers, json={"name": ""}).status_code == 422
    assert client.patch(path, headers=admin.headers, json={"valid_until": "2040-01-01"}).json()["valid_until"] == \
        "2026-12-31"  # validity is changed through the history only
    assert client.patch("/api/handlers/nope", headers=admin.headers, json={"unit": "x"}).status_code == 404


@pytest.mark.parametrize("role", NON_ADMINS)
def test_only_an_admin_corrects_a_handler_or_links_a_user(client: TestClient, admin: Person,
                                                          make_person: Callable[..., Person], role: Role) -> None:
    client.post("/api/handlers", headers=admin.headers, json=CERT)
    person = make_person(role)
    assert error_code(client.patch("/api/handlers/14010219001", headers=person.headers,
                                   json={"name": "王五"}), 403) == "permission_denied"
    assert error_code(client.post(f"/api/users/{person.user.name}/handler", headers=person.headers,
                                  json={"certificate_number": "14010219001"}), 403) == "permission_denied"


def test_an_admin_links_a_user_to_a_handler(client: TestClient, admin: Person,
                                            make_person: Callable[..., Person]) -> None:
    client.post("/api/handlers", headers=admin.headers, json=CERT)
    officer = make_person(Role.OFFICER)
    linked = client.post(f"/api/users/{officer.user.name}/handler", headers=admin.headers,
                         json={"certificate_number": "14010219001"})
    assert linked.status_code == 200 and linked.json()["handler_certificate"] == "14010219001"
    assert client.post(f"/api/users/{officer.user.name}/handler", headers=admin.headers,
                       json={"certificate_number": "nope"}).status_code == 404
