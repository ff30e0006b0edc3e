"""Parties over HTTP, per role: list, show (masked; unmasked only for records managers, logged), update, link."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import Person
from vault.custody.models import CustodyAction, CustodyEvent
from vault.identities.models import Role

ID_NUMBER = "341202198805061234"
READERS = list(Role)  # every role reads cases, and so the parties on them


@pytest.fixture
def manager(make_person: Callable[..., Person]) -> Person:
    """Return a records manager."""
    return make_person(Role.RECORDS_MANAGER)


@pytest.fixture
def party(client: TestClient, manager: Person) -> dict[str, Any]:
    """Return a party on case 阜应急罚字〔2023〕40号, with an ID number."""
    assert client.post("/api/cases", headers=manager.headers, json={
        "case_number": "阜应急罚字〔2023〕40号", "case_type": "general_procedure_penalty"}).status_code == 201
    made = client.post("/api/parties", headers=manager.headers, json={
        "kind": "person", "name": "陈某", "id_number": ID_NUMBER, "case_number": "阜应急罚字[2023]40号"})
    assert made.status_code == 201, made.text
    return dict(made.json())


def logged(session: Session, action: CustodyAction) -> list[CustodyEvent]:
    found = list(session.scalars(select(CustodyEvent).where(CustodyEvent.action == action.value)))
    session.expunge_all()
    session.rollback()  # end the read, so the server's next write is not kept waiting on SQLite's lock
    return found


@pytest.mark.parametrize("role", READERS)
def test_every_reader_lists_and_shows_parties_masked(client: TestClient, make_person: Callable[..., Person],
                                                     party: dict[str, Any], role: Role) -> None:
    person = make_person(role)
    listed = client.get("/api/parties", headers=person.headers, params={"case_number": "阜应急罚字（2023）40号"})
    assert listed.status_code == 200 and [p["id_number"] for p in listed.json()] == ["341***********1234"]
    shown = client.get(f"/api/parties/{party['id']}", headers=person.headers)
    assert shown.status_code == 200
    assert (shown.json()["revealed"], shown.json()["cases"]) == (False, ["阜应急罚字〔2023〕40号"])
    revealed = client.get(f"/api/parties/{party['id']}", headers=person.headers, params={"reveal": "true"})
    assert revealed.status_code == (200 if role == Role.RECORDS_MANAGER else 403)


def test_an_unmasked_read_is_logged_without_the_data(client: TestClient, manager: Person, party: dict[str, Any],
                                                     session: Session) -> None:
    shown = client.get(f"/api/parties/{party['id']}", headers=manager.headers, params={"reveal": "true"})
    assert shown.json()["id_number"] == ID_NUMBER
    (event,) = logged(session, CustodyAction.PARTY_DATA_REVEALED)
    assert event.actor_id == manager.user.id and event.details == {"name": "陈某", "fields": ["id_number"]}
    client.get(f"/api/parties/{party['id']}", headers=manager.headers)
    assert len(logged(session, CustodyAction.PARTY_DATA_REVEALED)) == 1


def test_search_by_name_and_unknown_ids(client: TestClient, manager: Person, party: dict[str, Any]) -> None:
    found = client.get("/api/parties", headers=manager.headers, params={"name": "陈"}).json()
    assert [p["id"] for p in found] == [party["id"]]
    assert client.get("/api/parties", headers=manager.headers, params={"name": "%"}).json() == []
    assert client.get("/api/parties", headers=manager.headers, params={"case_number": "无此案"}).status_code == 404
    assert client.get("/api/parties/00000000-0000-0000-0000-000000000000", headers=manager.headers).status_code == 404


@pytest.mark.parametrize("role", [r for r in Role if r not in (Role.RECORDS_MANAGER, Role.ADMIN)])
def test_only_those_who_manage_parties_change_them(client: TestClient, make_person: Callable[..., Person],
                                                   party: dict[str, Any], role: Role) -> None:
    person = make_person(role)
    path = f"/api/parties/{party['id']}"
    assert client.patch(path, headers=person.headers, json={"name": "x"}).status_code == 403
    assert client.post(f"{path}/cases", headers=person.headers,
                       json={"case_number": "阜应急罚字〔2023〕40号"}).status_code == 403
    assert client.get(path, headers=person.headers).json()["name"] == "陈某"


def test_an_update_is_logged_naming_the_fields_never_the_personal_data(
        client: TestClient, manager: Person, party: dict[str, Any], session: Session) -> None:
    path = f"/api/parties/{party['id']}"
    updated = client.patch(path, headers=manager.headers, json={
        "name": "陈某某", "phone": "13805561234", "id_number": ID_NUMBER})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["name"], updated.json()["phone"]) == ("陈某某", "138****1234")
    (event,) = logged(session, CustodyAction.PARTY_UPDATED)
    assert event.details["changed"] == {"name": {"from": "陈某", "to": "陈某某"}, "phone": None}
    cleared = client.patch(path, headers=manager.headers, json={"phone": ""})
    assert cleared.json()["phone"] is None
    assert client.patch(path, headers=manager.headers, json={"name": ""}).status_code == 422
    assert client.patch(path, headers=manager.headers, json={}).status_code == 200
    assert len(logged(session, CustodyAction.PARTY_UPDATED)) == 2


def test_a_party_is_linked_to_a_second_case_once(client: TestClient, manager: Person, party: dict[str, Any],
                                                 session: Session) -> None:
    client.post("/api/cases", headers=manager.headers, json={"case_number": "阜应急检〔2024〕3号",
                                                             "case_type": "routine_inspection"})
    path = f"/api/parties/{party['id']}/cases"
    linked = client.post(path, headers=manager.headers, json={"case_number": "阜应急检[2024]3号"})
    assert linked.status_code == 201 and linked.json()["cases"] == ["阜应急罚字〔2023〕40号", "阜应急检〔2024〕3号"]
    again = client.post(path, headers=manager.headers, json={"case_number": "阜应急检〔2024〕3号"})
    assert again.status_code == 409
    assert client.post(path, headers=manager.headers, json={"case_number": "无此案"}).status_code == 404
    assert len(logged(session, CustodyAction.PARTY_LINKED)) == 2
