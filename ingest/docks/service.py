"""Docking-station status: stations report what they ingested; records managers see who has gone silent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ingest.docks.models import DockRecorderDay, DockStation
from vault.errors import InvalidInput
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require

log = structlog.get_logger(__name__)

# Bounds well past any real station (a dock has a few dozen slots; a recorder holds a few hundred GB) that keep
# every count inside its column and every report small.
MAX_RECORDERS = 256
MAX_FILES = 1_000_000
MAX_BYTES = 2**50
MAX_ERRORS = 1_000_000
# A station reports right after it ingests (ingesting needs the vault reachable); a time older than this is not a
# status, and refusing it keeps far-off dates from overflowing when converted to the agency's zone.
MAX_REPORT_AGE = timedelta(days=30)


@dataclass(frozen=True)
class RecorderTally:
    """A station's totals for one recorder on the agency day of `ingested_at` (its last ingest)."""

    recorder: str
    files: int
    bytes: int
    ingested_at: datetime


@dataclass(frozen=True)
class StationReport:
    """One status report as a station sent it."""

    station: str
    client_version: str
    errors: int
    recorders: list[RecorderTally]


@dataclass(frozen=True)
class StationStatus:
    """A station, whether it has gone silent, and its recorders' totals on `day`."""

    station: DockStation
    silent: bool
    day: date
    recorders: list[DockRecorderDay]


def report_dock_status(*, session: Session, actor: Actor, report: StationReport, zone: ZoneInfo, now: datetime,
                       clock_tolerance: timedelta) -> StationStatus:
    """Record a station's report: its last contact (the vault's clock) and each recorder's totals for its day.

    A recorder's totals replace what the station reported before for that day, so a report sent again (a retry
    after a lost answer) counts nothing twice; totals older than the ones kept (a late retry) are ignored.
    """
    require(actor, Permission.REPORT_DOCK_STATUS)
    days = _days_of(report.recorders, zone=zone, now=now, clock_tolerance=clock_tolerance)
    _upsert(session, DockStation, keys=("name",), keep=("first_contact_at",), values={
        "name": report.station, "first_contact_at": now, "last_contact_at": now, "reported_by_id": actor.id,
        "reported_by": actor.name, "client_version": report.client_version, "errors": report.errors})
    station = session.scalars(select(DockStation).where(DockStation.name == report.station)
                              .execution_options(populate_existing=True)).one()
    for tally, day in zip(report.recorders, days, strict=True):
        _upsert(session, DockRecorderDay, keys=("station_id", "day", "recorder"), newer_only="last_ingested_at",
                values={"station_id": station.id, "day": day, "recorder": tally.recorder, "files": tally.files,
                        "bytes": tally.bytes, "last_ingested_at": tally.ingested_at})
    log.info("dock.status_reported", station=report.station, recorders=len(report.recorders),
             errors=report.errors, client_version=report.client_version)
    today = now.astimezone(zone).date()
    return StationStatus(station=station, silent=False, day=today, recorders=_recorders_on(session, today, station))


def _days_of(tallies: list[RecorderTally], *, zone: ZoneInfo, now: datetime, clock_tolerance: timedelta) -> list[date]:
    """Return each tally's agency day; refuse times ahead of the clock or too old, and a recorder twice a day."""
    days, seen = [], set()
    for index, tally in enumerate(tallies):
        where = {"field": f"recorders[{index}].ingested_at", "recorder": tally.recorder}
        if tally.ingested_at > now + clock_tolerance:
            raise InvalidInput("an ingest time lies ahead of the vault's clock", details=where)
        if tally.ingested_at < now - MAX_REPORT_AGE:
            raise InvalidInput(f"an ingest time is more than {MAX_REPORT_AGE.days} days old", details=where)
        day = tally.ingested_at.astimezone(zone).date()
        if (tally.recorder, day) in seen:
            raise InvalidInput("a recorder is reported twice for one day; send its totals once",
                               details={**where, "day": day.isoformat()})
        seen.add((tally.recorder, day))
        days.append(day)
    return days


def _upsert(session: Session, model: type[DockStation | DockRecorderDay], *, keys: tuple[str, ...],
            values: dict[str, Any], keep: tuple[str, ...] = (), newer_only: str | None = None) -> None:
    """Insert a row, or update the one with the same keys, in one statement: two reports at once cannot collide.

    `keep` names columns an update leaves alone; with `newer_only`, an update that
    would move that column back is skipped.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(model).values(id=uuid.uuid4(), **values)
    changed = {name: statement.excluded[name] for name in values if name not in (*keys, *keep)}
    where = None if newer_only is None else model.__table__.c[newer_only] <= statement.excluded[newer_only]
    session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changed, where=where))


def list_dock_stations(*, session: Session, actor: Actor, zone: ZoneInfo, now: datetime, silent_after: timedelta,
                       day: date | None = None) -> list[StationStatus]:
    """List every station by name with its silence and its recorders' totals on `day` (today in the agency zone)."""
    require(actor, Permission.READ_DOCK_STATUS)
    shown = day or now.astimezone(zone).date()
    stations = session.scalars(select(DockStation).order_by(DockStation.name)).all()
    by_station: dict[uuid.UUID, list[DockRecorderDay]] = {}
    for row in _recorders_on(session, shown):
        by_station.setdefault(row.station_id, []).append(row)
    return [StationStatus(station=s, silent=now - s.last_contact_at > silent_after, day=shown,
                          recorders=by_station.get(s.id, [])) for s in stations]


def _recorders_on(session: Session, day: date, station: DockStation | None = None) -> list[DockRecorderDay]:
    """Return the recorders' totals on a day, by recorder serial: every station's, or one station's."""
    query = select(DockRecorderDay).where(DockRecorderDay.day == day).order_by(DockRecorderDay.recorder)
    if station is not None:
        query = query.where(DockRecorderDay.station_id == station.id)
    return list(session.scalars(query.execution_options(populate_existing=True)))
