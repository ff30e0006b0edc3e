"""The report as CSV (UTF-8 with a BOM, so Excel reads the Chinese) and as an XLSX workbook, in one language."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from functools import cache
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font

from evault.statistics.service import Report, Row, Table, Value
from evault.web.i18n import N_, load_translations

Translate = Callable[[str], str]
HEADING = N_("Statistics for annual reports")
PERIOD = N_("Period")
UNIT = N_("Unit")
ALL_UNITS = N_("All units")
GENERATED = N_("Generated at")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


@cache
def translator(language: str) -> Translate:
    """Return the gettext of a language (compiled once)."""
    return load_translations(language).gettext


def row_label(row: Row, translate: Translate) -> str:
    """Return a row's label as shown."""
    return translate(row.label) if row.translate else row.label


def heading_lines(report: Report, translate: Translate, zone: ZoneInfo) -> list[list[Value]]:
    """Return the lines above the tables: title, period, unit, when generated."""
    generated = report.generated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    return [[translate(HEADING)],
            [translate(PERIOD), report.period.label,
             f"{report.period.first_day.isoformat()} – {report.period.last_day.isoformat()}"],
            [translate(UNIT), report.unit or translate(ALL_UNITS)],
            [translate(GENERATED), f"{generated} ({zone.key})"]]


def table_lines(table: Table, translate: Translate) -> Iterator[list[Value]]:
    """Yield a table's header line, then one line per row."""
    yield [translate(c) for c in table.columns]
    for row in table.rows:
        yield [row_label(row, translate), *row.values]


def to_csv(report: Report, translate: Translate, zone: ZoneInfo) -> bytes:
    """Render the report as CSV: the heading, then each table under its title, a blank line between."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows(heading_lines(report, translate, zone))
    for table in report.tables:
        writer.writerow([])
        writer.writerow([translate(table.title)])
        writer.writerows(table_lines(table, translate))
    return out.getvalue().encode("utf-8-sig")


def sheet_name(table: Table, translate: Translate) -> str:
    """Return a table's sheet name: its title, without the characters Excel forbids, at most 31 characters."""
    return _SHEET_FORBIDDEN.sub(" ", translate(table.title))[:31]


def to_xlsx(report: Report, translate: Translate, zone: ZoneInfo) -> bytes:
    """Render the report as a workbook: the heading and summary on the first sheet, then a sheet per table."""
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    first.title = sheet_name(report.tables[0], translate)
    for line in heading_lines(report, translate, zone):
        first.append(line)
    first.append([])
    first["A1"].font = Font(bold=True, size=14)
    for index, table in enumerate(report.tables):
        sheet = first if index == 0 else workbook.create_sheet(sheet_name(table, translate))
        for number, line in enumerate(table_lines(table, translate)):
            sheet.append(line)
            if number == 0:
                for cell in sheet[sheet.max_row]:
                    cell.font = Font(bold=True)
        sheet.column_dimensions["A"].width = 40
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
