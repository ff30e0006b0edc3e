"""The docking-station board (issue 14): last contact, today's recorders, and a warning for a silent station."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from ingest.docks.service import RecorderTally, StationReport, report_dock_status
from tests.web.conftest import LiveVault, WebPerson, sign_in
from vault.context import VaultContext
from vault.db import utcnow
from vault.identities.models import Role


def report(context: VaultContext, station: WebPerson, name: str, *, at: datetime,
           recorders: dict[str, int]) -> None:
    """Report a station's pass through the dock service as of `at` (the clock edge is the only thing moved)."""
    settings = context.settings
    tallies = [RecorderTally(recorder=serial, files=files, bytes=files * 48_000_000, ingested_at=at)
               for serial, files in recorders.items()]
    with context.sessions() as session:
        report_dock_status(session=session, actor=station.person.actor, zone=settings.zone, now=at,
                           clock_tolerance=timedelta(seconds=settings.clock_tolerance_seconds),
                           report=StationReport(station=name, client_version="1.4.0", errors=0, recorders=tallies))
        session.commit()


@pytest.fixture
def stations(context: VaultContext, person: Callable[..., WebPerson]) -> None:
    """Seed 一中队-1 (reported just now, two recorders) and 二中队-1 (silent: last heard from an hour ago)."""
    dock = person(Role.OFFICER, name="dock.yizhongdui", certificate="13019001")
    now = utcnow()
    report(context, dock, "一中队-1", at=now - timedelta(minutes=2), recorders={"DSJ-0412": 6, "DSJ-0388": 3})
    report(context, dock, "二中队-1", at=now - timedelta(hours=1), recorders={"DSJ-0501": 2})


def test_officers_managers_admins_and_auditors_see_the_board_and_others_are_refused(
    client: TestClient, person: Callable[..., WebPerson], stations: None,
) -> None:
    expected = {Role.OFFICER: 200, Role.RECORDS_MANAGER: 200, Role.ADMIN: 200, Role.AUDITOR: 200,
                Role.REVIEWER: 403, Role.APPROVER: 403}
    for role, status in expected.items():
        client.cookies.clear()
        who = person(role)
        assert sign_in(client, who.name, who.password) == 303
        answer = client.get("/docks")
        assert answer.status_code == status, role
        shown = "一中队-1" in answer.text and "二中队-1" in answer.text and "DSJ-0412" in answer.text
        assert shown is (status == 200), role


def test_the_silence_follows_the_setting(
    client: TestClient, context: VaultContext, person: Callable[..., WebPerson], stations: None,
) -> None:
    manager = person(Role.RECORDS_MANAGER)
    assert sign_in(client, manager.name, manager.password) == 303
    assert client.get("/docks").text.count('data-testid="silent-warning"') == 1  # 60 min > the default 30
    context.settings.dock_silent_minutes = 90
    assert 'data-testid="silent-warning"' not in client.get("/docks").text


def test_no_station_yet(client: TestClient, person: Callable[..., WebPerson]) -> None:
    officer = person(Role.OFFICER)
    assert sign_in(client, officer.name, officer.password) == 303
    assert 'data-testid="no-stations"' in client.get("/docks").text


def test_the_board_warns_on_the_silent_station_in_the_browser(
    browser: Browser, live_vault: LiveVault, person: Callable[..., WebPerson], stations: None,
    signed_in: Callable[[Browser, WebPerson], Page], screenshot: Callable[[Page, str], Path],
) -> None:
    page = signed_in(browser, person(Role.OFFICER, display_name="张伟"))
    page.goto("/docks")
    expect(page.get_by_test_id("station")).to_have_count(2)
    fresh = page.locator("[data-testid=station][data-station='一中队-1']")
    silent = page.locator("[data-testid=station][data-station='二中队-1']")
    expect(fresh.get_by_test_id("silent-warning")).to_have_count(0)
    expect(fresh.get_by_test_id("last-contact")).to_contain_text("2 分钟前")
    expect(fresh.get_by_test_id("recorder")).to_have_count(2)
    expect(fresh.locator("[data-recorder='DSJ-0412']")).to_contain_text("6")
    expect(silent.get_by_test_id("silent-warning")).to_contain_text("60 分钟没有联系")
    expect(page.get_by_test_id("silent-summary")).to_contain_text("1")
    screenshot(page, "docks")
