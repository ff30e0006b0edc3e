"""Docking stations (`evault dock`) and what each reported ingesting from each recorder, per agency day."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vault.db import Base, UTCDateTime

# A status report records no access to and no change of evidence, so it is kept here and not in the custody log:
# every file a station uploads is already logged (`evidence:ingested`, under the officer the station signed in as),
# and an event per report (a station reports after every pass, all day) would bury those entries under noise an
# auditor must read past in a log that can never be pruned.


class DockStation(Base):
    """A docking station as it last reported: when the vault heard from it (the vault's clock) and who sent it."""

    __tablename__ = "dock_stations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    first_contact_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_contact_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reported_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    reported_by: Mapped[str] = mapped_column(String(128))
    client_version: Mapped[str] = mapped_column(String(64))
    errors: Mapped[int] = mapped_column(Integer)  # the errors the station counted in its last report


class DockRecorderDay(Base):
    """A station's totals for one recorder on one day of the agency's zone; each report replaces them."""

    __tablename__ = "dock_recorder_days"
    __table_args__ = (UniqueConstraint("station_id", "day", "recorder"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    station_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dock_stations.id"))
    day: Mapped[date] = mapped_column(Date, index=True)
    recorder: Mapped[str] = mapped_column(String(128))
    files: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    last_ingested_at: Mapped[datetime] = mapped_column(UTCDateTime)
