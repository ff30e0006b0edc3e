"""Docking-station status at the service: silence after the agency's setting, and totals replaced per report."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.docks.models import DockRecorderDay, DockStation
from ingest.docks.service import RecorderTally, StationReport, list_dock_stations, report_dock_status
from tests.conftest import Person
from vault.config import Settings, load_settings
from vault.context import VaultContext
from vault.identities.models import Role

NOW = datetime(2026, 12, 7, 1, 30, tzinfo=UTC)
TOLERANCE = timedelta(minutes=5)


def _report(station: str, files: int, at: datetime = NOW) -> StationReport:
    return StationReport(station=station, client_version="1.4.0", errors=0,
                         recorders=[RecorderTally(recorder="DSJ-1", files=files, bytes=files * 10, ingested_at=at)])


def test_the_silence_setting_is_read_from_the_environment_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVAULT_DOCK_SILENT_MINUTES", raising=False)
    assert load_settings().dock_silent_minutes == 30
    monkeypatch.setenv("EVAULT_DOCK_SILENT_MINUTES", "5")
    assert load_settings().dock_silent_minutes == 5
    monkeypatch.setenv("EVAULT_DOCK_SILENT_MINUTES", "0")
    with pytest.raises(ValidationError):
        load_settings()


def test_silence_follows_the_minutes_given_and_counts_from_each_stations_own_last_contact(
        session: Session, settings: Settings, make_person: Callable[..., Person]) -> None:
    officer, manager = make_person(Role.OFFICER).actor, make_person(Role.RECORDS_MANAGER).actor
    zone = settings.zone
    report_dock_status(session=session, actor=officer, report=_report("dock-A", 1), zone=zone, now=NOW,
                       clock_tolerance=TOLERANCE)
    report_dock_status(session=session, actor=officer, report=_report("dock-B", 1), zone=zone,
                       now=NOW + timedelta(minutes=4), clock_tolerance=TOLERANCE)
    session.commit()

    def silent_at(moment: datetime) -> dict[str, bool]:
        found = list_dock_stations(session=session, actor=manager, zone=zone, now=moment,
                                   silent_after=timedelta(minutes=5))
        return {s.station.name: s.silent for s in found}

    assert silent_at(NOW + timedelta(minutes=5)) == {"dock-A": False, "dock-B": False}
    assert silent_at(NOW + timedelta(minutes=5, microseconds=1)) == {"dock-A": True, "dock-B": False}
    assert silent_at(NOW + timedelta(minutes=9, seconds=1)) == {"dock-A": True, "dock-B": True}


def test_a_report_replaces_the_days_totals_and_keeps_the_first_contact(
        session: Session, settings: Settings, make_person: Callable[..., Person]) -> None:
    officer = make_person(Role.OFFICER).actor
    zone = settings.zone
    first = report_dock_status(session=session, actor=officer, report=_report("dock-A", 3), zone=zone, now=NOW,
                               clock_tolerance=TOLERANCE)
    later = NOW + timedelta(hours=2)
    second = report_dock_status(session=session, actor=officer, report=_report("dock-A", 8, later), zone=zone,
                                now=later, clock_tolerance=TOLERANCE)
    session.commit()
    assert second.station.id == first.station.id and second.station.first_contact_at == NOW
    assert second.station.last_contact_at == later
    assert [(r.recorder, r.files, r.bytes, r.last_ingested_at) for r in second.recorders] == [
        ("DSJ-1", 8, 80, later)]


def test_reports_at_once_from_a_new_station_make_one_station_and_no_error(
        context: VaultContext, settings: Settings, make_person: Callable[..., Person]) -> None:
    # Two docks named alike, or one retrying while its first report is still open: the upsert cannot collide.
    officer = make_person(Role.OFFICER).actor
    start = threading.Barrier(6)

    def report(files: int) -> None:
        with context.sessions() as session:
            start.wait()
            report_dock_status(session=session, actor=officer, report=_report("dock-new", files), zone=settings.zone,
                               now=NOW, clock_tolerance=TOLERANCE)
            session.commit()

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(report, range(1, 7)))
    with context.sessions() as session:
        assert session.scalar(select(func.count()).select_from(DockStation)) == 1
        assert session.scalar(select(func.count()).select_from(DockRecorderDay)) == 1
