"""`GET /api/statistics`: the statistics page's numbers as JSON, for records managers and auditors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from evault.statistics.periods import PeriodKind, make_period
from evault.statistics.service import build_report
from ingest.rules import IngestRules
from vault.api.deps import ActorDep, ContextDep, SessionDep
from vault.api.errors import SIGNED_IN
from vault.db import utcnow

router = APIRouter(prefix="/api/statistics", tags=["statistics"], responses=SIGNED_IN)


@router.get("")
def statistics(
    actor: ActorDep, session: SessionDep, context: ContextDep,
    period: PeriodKind | None = None, year: Annotated[int | None, Query()] = None,
    number: Annotated[int | None, Query(description="the quarter (1-4) or month (1-12)")] = None,
    unit: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    """Return the statistics of a year, quarter or month (default: the agency's current year), of one unit if given."""
    now = utcnow()
    zone = context.settings.zone
    chosen = make_period(period or PeriodKind.YEAR, year or now.astimezone(zone).year, number)
    report = build_report(session=session, actor=actor, period=chosen, unit=unit or None, now=now, zone=zone,
                          gap_tolerance=IngestRules.of(context.settings).continuity_tolerance)
    return {
        "period": {"kind": chosen.kind.value, "label": chosen.label, "first_day": chosen.first_day.isoformat(),
                   "last_day": chosen.last_day.isoformat()},
        "unit": report.unit, "generated_at": report.generated_at.isoformat(),
        "tables": [{"key": t.key, "title": t.title, "columns": list(t.columns),
                    "rows": [{"label": r.label, "values": list(r.values)} for r in t.rows]} for t in report.tables],
    }
