"""Statistics for annual reports: a period and a unit, tables, charts, and CSV and XLSX downloads."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from evault.statistics import render
from evault.statistics.periods import Period, PeriodKind, make_period
from evault.statistics.service import Report, Table, build_report, list_units
from evault.web.auth import SignedInDep
from evault.web.templating import render_page, request_language
from ingest.rules import IngestRules
from vault.api.deps import ContextDep, SessionDep
from vault.context import VaultContext
from vault.db import utcnow
from vault.errors import InvalidInput
from vault.identities.sign_in import SignedIn

router = APIRouter(include_in_schema=False)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Choice:
    """The period and unit asked for on the form (query string), as typed."""

    def __init__(self, period: str, year: int | None, quarter: int | None, month: int | None, unit: str) -> None:
        self.period, self.year, self.quarter, self.month, self.unit = period, year, quarter, month, unit.strip()

    def resolve(self, context: VaultContext) -> Period:
        """Return the period chosen; this year in the agency's zone when none is."""
        year = self.year or utcnow().astimezone(context.settings.zone).year
        try:
            kind = PeriodKind(self.period)
        except ValueError:
            raise InvalidInput("统计期间应为年、季度或月 (the period is a year, a quarter or a month)") from None
        return make_period(kind, year, {PeriodKind.QUARTER: self.quarter, PeriodKind.MONTH: self.month}.get(kind))

    def query(self, period: Period) -> str:
        """Return the query string of this choice, for the download links."""
        values: dict[str, Any] = {"period": period.kind.value, "year": period.year}
        if period.kind is PeriodKind.QUARTER:
            values["quarter"] = period.number
        if period.kind is PeriodKind.MONTH:
            values["month"] = period.number
        if self.unit:
            values["unit"] = self.unit
        return urlencode(values, quote_via=quote)


def _choice(period: Annotated[str, Query(max_length=16)] = "year", year: int | None = None,
            quarter: int | None = None, month: int | None = None,
            unit: Annotated[str, Query(max_length=256)] = "") -> Choice:
    return Choice(period, year, quarter, month, unit)


ChoiceDep = Annotated[Choice, Depends(_choice)]


def _report(person: SignedIn, session: SessionDep, context: VaultContext, period: Period, unit: str) -> Report:
    return build_report(session=session, actor=person.actor, period=period, unit=unit or None, now=utcnow(),
                        zone=context.settings.zone,
                        gap_tolerance=IngestRules.of(context.settings).continuity_tolerance)


def _chart(table: Table, kind: str, translate: render.Translate, *, skip_zero: bool = False) -> str:
    rows = [row for row in table.rows if not (skip_zero and row.values[0] == 0)]
    return json.dumps({"type": kind, "title": translate(table.title), "label": translate(table.columns[1]),
                       "labels": [render.row_label(row, translate) for row in rows],
                       "values": [row.values[0] for row in rows]}, ensure_ascii=False)


def _charts(report: Report, translate: render.Translate) -> dict[str, str]:
    return {"by_month": _chart(report.table("by_month"), "bar", translate),
            "by_unit": _chart(report.table("by_unit"), "bar", translate),
            "by_class": _chart(report.table("by_class"), "doughnut", translate, skip_zero=True)}


def _translate(request: Request) -> render.Translate:
    return render.translator(request_language(request))


@router.get("/statistics")
def statistics_page(request: Request, person: SignedInDep, session: SessionDep, context: ContextDep,
                    choice: ChoiceDep) -> Response:
    """Show the statistics of the period and unit chosen (this year, all units, by default)."""
    units = list_units(session=session, actor=person.actor)
    try:
        period = choice.resolve(context)
    except InvalidInput as error:
        return render_page(request, "statistics/page.html", status_code=error.status, person=person,
                           error=error.message, choice=choice, units=units, report=None, period=None, charts={},
                           query="")
    report = _report(person, session, context, period, choice.unit)
    return render_page(request, "statistics/page.html", person=person, error=None, choice=choice, units=units,
                       report=report, period=period, charts=_charts(report, _translate(request)),
                       query=choice.query(period))


def _download(request: Request, person: SignedIn, session: SessionDep, context: VaultContext, choice: Choice,
              suffix: str) -> Response:
    period = choice.resolve(context)
    report = _report(person, session, context, period, choice.unit)
    translate, zone = _translate(request), context.settings.zone
    body, media_type = ((render.to_csv(report, translate, zone), "text/csv; charset=utf-8") if suffix == "csv"
                        else (render.to_xlsx(report, translate, zone), XLSX))
    name = f"statistics-{period.label}{'-' + choice.unit if choice.unit else ''}.{suffix}"
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename=\"statistics.{suffix}\"; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "no-store"})


@router.get("/statistics.csv")
def statistics_csv(request: Request, person: SignedInDep, session: SessionDep, context: ContextDep,
                   choice: ChoiceDep) -> Response:
    """Download the same statistics as CSV (UTF-8 with a BOM, for Excel)."""
    return _download(request, person, session, context, choice, "csv")


@router.get("/statistics.xlsx")
def statistics_xlsx(request: Request, person: SignedInDep, session: SessionDep, context: ContextDep,
                    choice: ChoiceDep) -> Response:
    """Download the same statistics as an Excel workbook."""
    return _download(request, person, session, context, choice, "xlsx")
