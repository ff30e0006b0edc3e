"""The configurable numbers behind the ingest rules (DOMAIN.md, Ingest), and the handover deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from vault.config import Settings


@dataclass(frozen=True)
class IngestRules:
    """Agency settings the ingest applies; built once from Settings."""

    zone: ZoneInfo
    continuity_tolerance: timedelta = timedelta(seconds=1)
    field_handover: timedelta = timedelta(hours=24)
    minimum_officers: int = 2
    minimum_retention: timedelta = timedelta(days=183)
    clock_tolerance: timedelta = timedelta(minutes=5)
    crash_at: str | None = None  # test-only kill switch (vault/faults.py)

    @classmethod
    def of(cls, settings: Settings) -> IngestRules:
        """Return the rules configured by settings."""
        return cls(
            zone=settings.zone,
            continuity_tolerance=timedelta(seconds=settings.continuity_tolerance_seconds),
            field_handover=timedelta(hours=settings.field_handover_hours),
            minimum_officers=settings.minimum_certified_officers,
            minimum_retention=timedelta(days=settings.minimum_retention_days),
            clock_tolerance=timedelta(seconds=settings.clock_tolerance_seconds),
            crash_at=settings.crash_at,
        )


def handover_deadline(
    *, capture_end: datetime | None, field_return_at: datetime | None, rules: IngestRules
) -> datetime | None:
    """Return when the footage was due: 24 h after a declared field return, else the end of the capture day.

    The capture day is the agency's local day (003 第十八条); None when no capture time is known.
    """
    if field_return_at is not None:
        return (field_return_at + rules.field_handover).astimezone(UTC)
    if capture_end is None:
        return None
    local_day = capture_end.astimezone(rules.zone).date()
    return datetime.combine(local_day + timedelta(days=1), time(0), tzinfo=rules.zone).astimezone(UTC)
