"""Docking stations: each station's last contact and the recorders it ingested today, and silent ones."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from evault.web.auth import SignedInDep
from evault.web.templating import render_page
from ingest.docks.service import list_dock_stations
from vault.api.deps import ContextDep, SessionDep
from vault.db import utcnow

router = APIRouter(include_in_schema=False)


@router.get("/docks")
def dock_board(request: Request, person: SignedInDep, session: SessionDep, context: ContextDep) -> Response:
    """Show every station's last contact (and how long ago), today's recorders, and a warning for silent ones."""
    now, settings = utcnow(), context.settings
    stations = list_dock_stations(session=session, actor=person.actor, zone=settings.zone, now=now,
                                  silent_after=timedelta(minutes=settings.dock_silent_minutes))
    return render_page(request, "docks/board.html", person=person, now=now, stations=stations,
                       silent_minutes=settings.dock_silent_minutes, day=now.astimezone(settings.zone).date(),
                       silent_count=sum(1 for s in stations if s.silent))
