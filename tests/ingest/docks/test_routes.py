"""Docking stations report their status (issue 15): officers report, records managers, admins and auditors read.

A station's last contact is the vault's clock; each recorder's totals belong to the agency day of their last
ingest and replace what the station reported before for that day; a station silent past the setting is marked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from tests.conftest import Person
from vault.context import VaultContext
from vault.custody.models import CustodyEvent
from vault.identities.models import Role

NOW = datetime(2026, 12, 7, 1, 30, tzinfo=UTC)  # 09:30 in Asia/Shanghai, the agency's zone
EARLIER = "2026-12-07T09:10:00+08:00"


def _report(station: str = "一号坞站", *recorders: dict[str, Any], errors: int = 0, version: str = "1.4.0") -> Any:
    return {"station": station, "client_version": version, "errors": errors, "recorders": list(recorders)}


def _recorder(recorder: str = "DSJ-0421", files: int = 2, size: int = 4096, at: str = EARLIER) -> dict[str, Any]:
    return {"recorder": recorder, "files": files, "bytes": size, "ingested_at": at}


def _post(client: TestClient, person: Person, body: Any) -> Response:
    # Sent as ASCII JSON, as a client would: a lone surrogate travels as the escape \ud800.
    return client.post("/api/docks/status", headers={**person.headers, "Content-Type": "application/json"},
                       content=json.dumps(body).encode())


def _board(client: TestClient, person: Person, **params: str) -> list[dict[str, Any]]:
    answer = client.get("/api/docks", headers=person.headers, params=params)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Set the vault's clock, the one edge these routes read."""
    def set_to(moment: datetime) -> None:
        monkeypatch.setattr("ingest.docks.routes.utcnow", lambda: moment)
    set_to(NOW)
    return set_to


@pytest.fixture
def officer(make_person: Callable[..., Person]) -> Person:
    """Return the officer a docking station signs in as."""
    return make_person(Role.OFFICER, name="dock-1", certificate="14010219001")


@pytest.fixture
def manager(make_person: Callable[..., Person]) -> Person:
    """Return a records manager."""
    return make_person(Role.RECORDS_MANAGER)


def test_an_officers_report_is_shown_to_a_records_manager_with_the_vaults_clock_and_no_custody_event(
        client: TestClient, context: VaultContext, officer: Person, manager: Person,
        clock: Callable[[datetime], None]) -> None:
    with context.sessions() as session:
        events_before = session.scalar(select(func.count()).select_from(CustodyEvent))
    sent = _post(client, officer, _report("一号坞站", _recorder("DSJ-0421", 2, 4096),
                                          _recorder("DSJ-0007", 5, 10**10, "2026-12-07T01:20:00Z"), errors=1))
    assert sent.status_code == 200, sent.text
    assert sent.json()["last_contact_at"] == "2026-12-07T01:30:00Z" and sent.json()["silent"] is False

    [station] = _board(client, manager)
    assert station == {
        "station": "一号坞站", "last_contact_at": "2026-12-07T01:30:00Z", "reported_by": "dock-1",
        "client_version": "1.4.0", "errors": 1, "silent": False, "day": "2026-12-07",
        "recorders": [{"recorder": "DSJ-0007", "files": 5, "bytes": 10**10, "ingested_at": "2026-12-07T01:20:00Z"},
                      {"recorder": "DSJ-0421", "files": 2, "bytes": 4096, "ingested_at": "2026-12-07T01:10:00Z"}],
        "files": 7, "bytes": 10**10 + 4096}
    assert sent.json() == station
    with context.sessions() as session:  # a report touches no evidence: the custody log does not grow
        assert session.scalar(select(func.count()).select_from(CustodyEvent)) == events_before


@pytest.mark.parametrize("role", [Role.OFFICER, Role.RECORDS_MANAGER, Role.ADMIN, Role.AUDITOR])
def test_officers_records_managers_admins_and_auditors_read_the_board(
        client: TestClient, officer: Person, make_person: Callable[..., Person], clock: Callable[[datetime], None],
        role: Role) -> None:
    assert _post(client, officer, _report("dock-A", _recorder())).status_code == 200
    assert [s["station"] for s in _board(client, make_person(role))] == ["dock-A"]


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.APPROVER])  # officers read it since issue 14: they dock
def test_other_roles_may_not_read_the_board(
        client: TestClient, make_person: Callable[..., Person], clock: Callable[[datetime], None], role: Role) -> None:
    refused = client.get("/api/docks", headers=make_person(role).headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["details"] == {"permission": "read_dock_status", "role": role.value}


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.APPROVER, Role.RECORDS_MANAGER, Role.AUDITOR, Role.ADMIN])
def test_only_officers_report(client: TestClient, make_person: Callable[..., Person], manager: Person,
                              clock: Callable[[datetime], None], role: Role) -> None:
    refused = _post(client, make_person(role), _report("dock-A", _recorder()))
    assert refused.status_code == 403
    assert refused.json()["error"]["details"] == {"permission": "report_dock_status", "role": role.value}
    assert _board(client, manager) == []


def test_signed_out_requests_are_refused(client: TestClient) -> None:
    assert client.post("/api/docks/status", json=_report("dock-A")).status_code == 401
    assert client.get("/api/docks").status_code == 401


def test_a_second_report_the_same_day_replaces_the_totals_and_a_repeated_one_counts_nothing_twice(
        client: TestClient, officer: Person, manager: Person, make_person: Callable[..., Person],
        clock: Callable[[datetime], None]) -> None:
    assert _post(client, officer, _report("dock-A", _recorder("DSJ-1", 2, 100), errors=3)).status_code == 200
    later = _report("dock-A", _recorder("DSJ-1", 5, 900, "2026-12-07T09:25:00+08:00"), errors=0, version="1.5.0")
    clock(NOW + timedelta(minutes=5))
    for _ in range(2):  # the station retried after a lost answer
        assert _post(client, officer, later).status_code == 200
    [station] = _board(client, manager)
    assert (station["files"], station["bytes"], station["errors"], station["client_version"]) == (5, 900, 0, "1.5.0")
    assert station["recorders"][0]["ingested_at"] == "2026-12-07T01:25:00Z"
    assert station["last_contact_at"] == "2026-12-07T01:35:00Z"

    # A late retry of the first report reaches the vault after the second: older totals never replace newer ones.
    other_officer = make_person(Role.OFFICER)
    clock(NOW + timedelta(minutes=6))
    stale = _post(client, other_officer, _report("dock-A", _recorder("DSJ-1", 2, 100), errors=3))
    assert stale.status_code == 200
    assert (stale.json()["files"], stale.json()["bytes"]) == (5, 900)
    [station] = _board(client, manager)
    assert (station["files"], station["reported_by"], station["errors"]) == (5, other_officer.user.name, 3)


def test_totals_belong_to_the_agency_day_of_their_last_ingest(
        client: TestClient, officer: Person, manager: Person, clock: Callable[[datetime], None]) -> None:
    clock(datetime(2026, 12, 6, 16, 10, tzinfo=UTC))  # 00:10 on 7 December in the agency's zone
    report = _report("dock-A", _recorder("DSJ-1", 3, 300, "2026-12-06T15:50:00Z"),  # 23:50 on 6 December there
                     _recorder("DSJ-2", 1, 10, "2026-12-06T16:05:00Z"))
    assert _post(client, officer, report).status_code == 200
    [today] = _board(client, manager)
    assert today["day"] == "2026-12-07" and [r["recorder"] for r in today["recorders"]] == ["DSJ-2"]
    [yesterday] = _board(client, manager, day="2026-12-06")
    assert [(r["recorder"], r["files"]) for r in yesterday["recorders"]] == [("DSJ-1", 3)]
    assert (yesterday["files"], yesterday["bytes"]) == (3, 300)


def test_a_station_is_silent_once_it_has_not_reported_for_the_settings_minutes(
        client: TestClient, context: VaultContext, officer: Person, manager: Person,
        clock: Callable[[datetime], None]) -> None:
    assert context.settings.dock_silent_minutes == 30
    assert _post(client, officer, _report("dock-A")).status_code == 200
    clock(NOW + timedelta(minutes=30))
    assert _board(client, manager)[0]["silent"] is False
    clock(NOW + timedelta(minutes=30, seconds=1))
    [station] = _board(client, manager)
    assert station["silent"] is True and station["last_contact_at"] == "2026-12-07T01:30:00Z"
    assert station["recorders"] == [] and station["files"] == 0


def test_unicode_names_are_kept_in_one_normal_form(
        client: TestClient, officer: Person, manager: Person, clock: Callable[[datetime], None]) -> None:
    decomposed, composed = "Poste-e\u0301 3", "Poste-\u00e9 3"
    assert _post(client, officer, _report(decomposed, _recorder("DSJ-1", 1, 1))).status_code == 200
    assert _post(client, officer, _report(composed, _recorder("DSJ-1", 4, 4))).status_code == 200
    assert _post(client, officer, _report("二号　坞站", _recorder("执法仪-07"))).status_code == 200  # ideographic space
    board = _board(client, manager)
    assert [(s["station"], s["files"]) for s in board] == [(composed, 4), ("二号　坞站", 2)]


def test_a_time_within_the_clock_tolerance_ahead_is_accepted(
        client: TestClient, officer: Person, clock: Callable[[datetime], None]) -> None:
    ahead = (NOW + timedelta(minutes=4, seconds=59)).isoformat()
    assert _post(client, officer, _report("dock-A", _recorder(at=ahead))).status_code == 200


def _with(**changes: Any) -> Any:
    body = _report("dock-A", _recorder())
    for key, value in changes.items():
        if key.startswith("r_"):
            body["recorders"][0][key[2:]] = value
        else:
            body[key] = value
    return body


INVALID = {
    "empty station": _with(station=""),
    "blank station": _with(station="   "),
    "station with a leading space": _with(station=" dock-A"),
    "long station": _with(station="坞" * 65),
    "right-to-left override": _with(station="dock\u202e1-A"),
    "zero-width space": _with(station="dock\u200b-A"),
    "NUL": _with(station="dock\x00"),
    "lone surrogate": _with(station="dock\ud800"),
    "line separator": _with(station="dock\u2028A"),
    "private use": _with(station="dock\ue000"),
    "unassigned": _with(station="dock\U000e0080"),
    "station a number": _with(station=7),
    "control in the version": _with(client_version="1.4\x07beta"),
    "empty version": _with(client_version=""),
    "tab in a serial": _with(r_recorder="DSJ\t1"),
    "empty serial": _with(r_recorder=""),
    "long serial": _with(r_recorder="D" * 129),
    "negative files": _with(r_files=-1),
    "huge files": _with(r_files=10**30),
    "fractional files": _with(r_files=1.5),
    "files as text": _with(r_files="3"),
    "files as true": _with(r_files=True),
    "huge bytes": _with(r_bytes=2**60),
    "negative bytes": _with(r_bytes=-1),
    "negative errors": _with(errors=-1),
    "huge errors": _with(errors=10**12),
    "naive time": _with(r_ingested_at="2026-12-07T09:10:00"),
    "a date only": _with(r_ingested_at="2026-12-07"),
    "a Unix time as text": _with(r_ingested_at="1765071000"),
    "a Unix time as a number": _with(r_ingested_at=1765071000),
    "an offset out of range": _with(r_ingested_at="2026-12-07T09:10:00+24:00"),
    "beyond the clock tolerance ahead": _with(r_ingested_at="2026-12-07T01:35:01Z"),
    "year one": _with(r_ingested_at="0001-01-01T00:00:00+05:00"),
    "year 9999": _with(r_ingested_at="9999-12-31T23:59:59-23:59"),
    "a recorder twice a day": _report("dock-A", _recorder("DSJ-1"), _recorder("DSJ-1", 3)),
    "too many recorders": _report("dock-A", *(_recorder(f"DSJ-{n}") for n in range(257))),
    "an unknown field": _with(last_contact_at="2026-12-07T01:30:00Z"),
    "a missing field": {"station": "dock-A", "client_version": "1.4.0", "recorders": []},
    "not an object": [_report("dock-A")],
}


@pytest.mark.parametrize("body", INVALID.values(), ids=INVALID.keys())
def test_odd_reports_are_refused_with_422_in_the_one_error_shape_and_nothing_is_kept(
        client: TestClient, officer: Person, manager: Person, clock: Callable[[datetime], None], body: Any) -> None:
    refused = _post(client, officer, body)
    assert refused.status_code == 422, refused.text
    assert list(refused.json()) == ["error"] and set(refused.json()["error"]) == {"code", "message", "details"}
    assert refused.json()["error"]["code"] in {"invalid_request", "invalid_input"}
    assert _board(client, manager) == []


def test_a_day_that_is_no_date_is_refused(client: TestClient, manager: Person) -> None:
    refused = client.get("/api/docks", headers=manager.headers, params={"day": "2026-02-30"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"
