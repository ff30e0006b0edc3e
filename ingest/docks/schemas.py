"""API shapes of docking-station status: the report a station sends, and the board records managers read."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from ingest.docks.service import (
    MAX_BYTES,
    MAX_ERRORS,
    MAX_FILES,
    MAX_RECORDERS,
    RecorderTally,
    StationReport,
    StationStatus,
)

# Categories no name needs and each of which can hide or disguise what a name says: controls, format characters
# (zero-width joiners, bidirectional overrides), surrogates, private use, unassigned; line and paragraph separators.
_UNPRINTABLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
# ISO 8601 with a date, a time and a zone (Z or ±hh:mm); pydantic alone would also take a bare Unix timestamp.
_ISO_WITH_ZONE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})")


def _printable(value: str) -> str:
    """Return the name in NFC, refusing blank names, surrounding spaces and characters that print as nothing."""
    value = unicodedata.normalize("NFC", value)
    if not value or value != value.strip():
        raise ValueError("must not be empty or begin or end with a space")
    for character in value:
        if unicodedata.category(character) in _UNPRINTABLE:
            raise ValueError(f"must be printable: U+{ord(character):04X} is not")
    return value


def _iso_time_with_zone(value: Any) -> Any:
    """Let through only an ISO 8601 date and time with a zone; anything else is refused before parsing."""
    if not isinstance(value, str) or not _ISO_WITH_ZONE.fullmatch(value):
        raise ValueError("must be an ISO 8601 time with a zone, such as 2026-12-07T09:30:00+08:00")
    return value


StationName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_printable)]
RecorderSerial = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_printable)]
ClientVersion = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_printable)]
IngestTime = Annotated[AwareDatetime, BeforeValidator(_iso_time_with_zone)]


class RecorderReport(BaseModel):
    """What the station ingested from one recorder that day: its totals so far, not what is new since last time."""

    model_config = ConfigDict(extra="forbid")

    recorder: RecorderSerial = Field(description="the recorder's serial (执法记录仪编号)")
    files: int = Field(strict=True, ge=0, le=MAX_FILES, description="files ingested from it that day, in total")
    bytes: int = Field(strict=True, ge=0, le=MAX_BYTES, description="bytes ingested from it that day, in total")
    ingested_at: IngestTime = Field(description="when the last of them was ingested; its day in the agency's zone "
                                                "is the day these totals belong to")


class StatusReport(BaseModel):
    """A station's status: sent after it ingests, and every few minutes when it has nothing to ingest."""

    model_config = ConfigDict(extra="forbid")

    station: StationName
    client_version: ClientVersion
    recorders: list[RecorderReport] = Field(max_length=MAX_RECORDERS)
    errors: int = Field(strict=True, ge=0, le=MAX_ERRORS,
                        description="errors the station counts now (folders or files it failed to ingest)")

    def plain(self) -> StationReport:
        """Return the report as the service takes it."""
        return StationReport(station=self.station, client_version=self.client_version, errors=self.errors,
                             recorders=[RecorderTally(recorder=r.recorder, files=r.files, bytes=r.bytes,
                                                      ingested_at=r.ingested_at) for r in self.recorders])


class RecorderDayPublic(BaseModel):
    """One recorder's totals at a station on the day shown."""

    recorder: str
    files: int
    bytes: int
    ingested_at: datetime = Field(description="when the last file counted was ingested")


class DockStationPublic(BaseModel):
    """A station's last contact, who reported, whether it has gone silent, and what it ingested on `day`."""

    station: str
    last_contact_at: datetime = Field(description="when the vault last heard from it, by the vault's clock")
    reported_by: str
    client_version: str
    errors: int = Field(description="errors it counted in its last report")
    silent: bool = Field(description="no report for longer than EVAULT_DOCK_SILENT_MINUTES")
    day: date = Field(description="the day of the agency's zone the recorders are counted for")
    recorders: list[RecorderDayPublic]
    files: int
    bytes: int

    @classmethod
    def of(cls, status: StationStatus) -> DockStationPublic:
        """Build the public view."""
        station = status.station
        recorders = [RecorderDayPublic(recorder=r.recorder, files=r.files, bytes=r.bytes,
                                       ingested_at=r.last_ingested_at) for r in status.recorders]
        return cls(station=station.name, last_contact_at=station.last_contact_at, reported_by=station.reported_by,
                   client_version=station.client_version, errors=station.errors, silent=status.silent,
                   day=status.day, recorders=recorders, files=sum(r.files for r in recorders),
                   bytes=sum(r.bytes for r in recorders))
