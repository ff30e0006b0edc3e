"""One report for a period and a unit: every count the page, the CSV, the XLSX and the API show."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from evault.statistics import labels, queries
from evault.statistics.periods import Period
from evault.statistics.queries import HandlerRow, RecordRow
from evault.web.vocabulary import (
    ACCESS_PURPOSE_NAMES,
    ACTIVITY_NAMES,
    CASE_TYPE_NAMES,
    EXPORT_PURPOSE_NAMES,
    REQUEST_STATUS_NAMES,
    RETENTION_CLASS_NAMES,
)
from ingest.continuity import RECORDING_GAP, discontinuities
from vault.errors import InvalidInput, PermissionDenied
from vault.identities.actor import Actor
from vault.identities.models import Role
from vault.text import text_problem

READERS = frozenset({Role.RECORDS_MANAGER, Role.AUDITOR})
DUE_WITHIN = timedelta(days=90)
Value = int | float | str


@dataclass(frozen=True)
class Row:
    """One line of a table: a label (a message id, or a name shown as is) and its numbers."""

    label: str
    values: tuple[Value, ...]
    translate: bool = True


@dataclass(frozen=True)
class Table:
    """One table of the report; its title and columns are message ids."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]

    def value(self, label: str, column: int = 0) -> Value:
        """Return a row's value by its label (for charts and tests)."""
        return next(row.values[column] for row in self.rows if row.label == label)


@dataclass(frozen=True)
class Report:
    """Statistics of one period (and unit): records made in it, and what was done in it."""

    period: Period
    unit: str | None
    generated_at: datetime
    tables: tuple[Table, ...] = field(default=())

    def table(self, key: str) -> Table:
        """Return a table by its key."""
        return next(t for t in self.tables if t.key == key)


def require_reader(actor: Actor) -> None:
    """Refuse everyone but records managers and auditors (and the vault itself)."""
    if actor.id is None and actor.role is None:
        return
    if actor.role not in READERS:
        role = actor.role.value if actor.role else "none"
        raise PermissionDenied("统计仅限档案管理人员和监督人员查看 (statistics are for records managers and auditors)",
                               details={"role": role})


def list_units(*, session: Session, actor: Actor) -> list[str]:
    """Return the handling units a report can be limited to."""
    require_reader(actor)
    return queries.units(session)


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def _counted(counts: Counter[str], known: dict[str, str], missing: str | None = None) -> tuple[Row, ...]:
    """Rows for every known key (zeros included, in order), then any unknown key, then the missing ones."""
    rows = [Row(name, (counts[key],)) for key, name in known.items()]
    rows += [Row(key, (n,), translate=False) for key, n in sorted(counts.items()) if key and key not in known]
    if missing is not None:
        rows.append(Row(missing, (counts[""],)))
    return tuple(rows)


def _table(key: str, columns: Iterable[str], rows: tuple[Row, ...]) -> Table:
    return Table(key, labels.TITLES[key], tuple(labels.COLUMNS[c] for c in columns), rows)


def _hours(records: Iterable[RecordRow]) -> float:
    seconds = sum(float(r.media_info.get("duration") or 0) for r in records if r.media_type.startswith("video/"))
    return round(seconds / 3600, 2)


def _gaps(session: Session, records: list[RecordRow], tolerance: timedelta) -> tuple[int, float]:
    """Count gaps whose later segment is one of these records (each gap once), and their seconds."""
    ours = {r.id for r in records}
    found = [d for serial in sorted({r.recorder_serial for r in records if r.recorder_serial})
             for d in discontinuities(session=session, recorder_serial=serial, tolerance=tolerance)
             if d.kind == RECORDING_GAP and d.after_id in ours]
    return len(found), round(sum(d.seconds for d in found), 1)


def _by_month(period: Period, records: list[RecordRow], zone: ZoneInfo) -> Table:
    months: dict[tuple[int, int], list[RecordRow]] = {month: [] for month in period.months()}
    for record in records:
        local = record.recorded_at.astimezone(zone)
        months[(local.year, local.month)].append(record)
    rows = tuple(Row(f"{y}-{m:02d}", (len(rs), _hours(rs)), translate=False) for (y, m), rs in months.items())
    return _table("by_month", ("month", "records", "hours"), rows)


def _by_people(records: list[RecordRow], handlers: list[HandlerRow]) -> tuple[Table, Table]:
    units: dict[str, set[uuid.UUID]] = {}
    people: dict[uuid.UUID, tuple[HandlerRow, set[uuid.UUID]]] = {}
    for h in handlers:
        units.setdefault(h.unit, set()).add(h.evidence_id)
        people.setdefault(h.handler_id, (h, set()))[1].add(h.evidence_id)
    unit_rows = [Row(unit, (len(ids),), translate=False) for unit, ids in sorted(units.items()) if unit]
    with_unit = {h.evidence_id for h in handlers if h.unit}
    without = sum(1 for r in records if r.id not in with_unit)
    unit_rows.append(Row(labels.NO_UNIT, (without,)))
    people_rows = sorted(((f"{h.name} ({h.certificate_number})", h.unit, len(ids)) for h, ids in people.values()),
                         key=lambda row: (-row[2], row[0]))
    return (_table("by_unit", ("unit", "records"), tuple(unit_rows)),
            _table("by_handler", ("handler", "unit", "records"),
                   tuple(Row(name, (unit, n), translate=False) for name, unit, n in people_rows)))


def _records_tables(period: Period, records: list[RecordRow], handlers: list[HandlerRow],
                    zone: ZoneInfo) -> list[Table]:
    classes = Counter(r.retention_class or "" for r in records)
    case_types = Counter(r.case_type or "" for r in records)
    activities = Counter(r.activity or "" for r in records)
    return [
        _by_month(period, records, zone),
        _table("by_class", ("class", "records"), _counted(classes, RETENTION_CLASS_NAMES, labels.NOT_CLASSIFIED)),
        _table("by_case_type", ("case_type", "records"), _counted(case_types, CASE_TYPE_NAMES, labels.NO_CASE)),
        _table("by_activity", ("activity", "records"), _counted(activities, ACTIVITY_NAMES, labels.NOT_GIVEN)),
        *_by_people(records, handlers),
    ]


def _summary(records: list[RecordRow], gaps: tuple[int, float], requests: int, exports: int, disposals: int,
             due: int) -> Table:
    late = sum(1 for r in records if r.handover_deadline is not None and r.uploaded_at > r.handover_deadline)
    informed = sum(1 for r in records if r.party_informed)
    values: dict[str, Value] = {
        "records": len(records), "footage_hours": _hours(records),
        "late": late, "late_percent": _percent(late, len(records)),
        "informed": informed, "informed_percent": _percent(informed, len(records)),
        "gaps": gaps[0], "gap_seconds": gaps[1], "access_requests": requests, "exports": exports,
        "disposals": disposals, "due_soon": due,
    }
    return _table("summary", ("measure", "value"),
                  tuple(Row(labels.SUMMARY[key], (value,)) for key, value in values.items()))


def build_report(
    *, session: Session, actor: Actor, period: Period, unit: str | None, now: datetime, zone: ZoneInfo,
    gap_tolerance: timedelta,
) -> Report:
    """Count the records made in the period (by capture time, else upload time) and what was done in it.

    A unit limits it to records with a handler of that unit, and to requests, exports and disposals touching
    them. Retention coming due is counted from now, whatever the period.
    """
    require_reader(actor)
    if unit is not None and text_problem(unit):
        raise InvalidInput(f"执法单位名称无效 (the unit {text_problem(unit)})")
    start, end = period.bounds(zone)
    records = queries.records_in(session, start, end)
    handlers = queries.handlers_in(session, start, end)
    if unit is not None:
        ours = {h.evidence_id for h in handlers if h.unit == unit}
        records = [r for r in records if r.id in ours]
        handlers = [h for h in handlers if h.evidence_id in ours]
    requests = queries.access_requests_in(session, start, end, unit)
    exports = queries.exports_in(session, start, end, unit)
    disposals = queries.disposals_in(session, start, end, unit)
    due = queries.coming_due(session, now, now + DUE_WITHIN, unit)
    export_rows = [Row(name, (sum(1 for p, _n in exports if p == key), sum(n for p, n in exports if p == key)))
                   for key, name in EXPORT_PURPOSE_NAMES.items()]
    tables = [
        _summary(records, _gaps(session, records, gap_tolerance), len(requests), len(exports), len(disposals),
                 len(due)),
        *_records_tables(period, records, handlers, zone),
        _table("access_by_purpose", ("purpose", "requests"),
               _counted(Counter(p for p, _s in requests), ACCESS_PURPOSE_NAMES)),
        _table("access_by_decision", ("decision", "requests"),
               _counted(Counter(s for _p, s in requests), REQUEST_STATUS_NAMES)),
        _table("exports_by_purpose", ("purpose", "exports", "records"), tuple(export_rows)),
        _table("disposals_by_class", ("class", "disposals"),
               _counted(Counter(disposals), RETENTION_CLASS_NAMES)),
        _table("due_by_class", ("class", "records"), _counted(Counter(due), RETENTION_CLASS_NAMES)),
    ]
    return Report(period=period, unit=unit, generated_at=now, tables=tuple(tables))
