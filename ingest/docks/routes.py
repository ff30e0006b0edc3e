"""HTTP routes of docking-station status: a station reports after each pass; records managers read the board."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter

from ingest.docks.schemas import DockStationPublic, StatusReport
from ingest.docks.service import list_dock_stations, report_dock_status
from vault.api.deps import ActorDep, ContextDep, SessionDep
from vault.api.errors import SIGNED_IN
from vault.db import utcnow

router = APIRouter(prefix="/api/docks", tags=["docks"])


@router.post("/status", response_model=DockStationPublic, responses=SIGNED_IN)
def report_status(body: StatusReport, session: SessionDep, actor: ActorDep, context: ContextDep) -> DockStationPublic:
    """Record a docking station's status (officers: a station signs in as one); answers the station as now shown.

    Each recorder's `files` and `bytes` are the station's totals for the agency day of `ingested_at`, and replace
    what it reported before for that day: sending a report twice counts nothing twice.
    """
    settings = context.settings
    status = report_dock_status(session=session, actor=actor, report=body.plain(), zone=settings.zone, now=utcnow(),
                                clock_tolerance=timedelta(seconds=settings.clock_tolerance_seconds))
    session.commit()
    return DockStationPublic.of(status)


@router.get("", response_model=list[DockStationPublic], responses=SIGNED_IN)
def list_stations(session: SessionDep, actor: ActorDep, context: ContextDep,
                  day: date | None = None) -> list[DockStationPublic]:
    """List every docking station: last contact, reporter, silence, and its recorders' totals today (or on `day`)."""
    found = list_dock_stations(session=session, actor=actor, zone=context.settings.zone, now=utcnow(), day=day,
                               silent_after=timedelta(minutes=context.settings.dock_silent_minutes))
    return [DockStationPublic.of(s) for s in found]
