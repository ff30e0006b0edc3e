"""The access trail for auditors: who saw what, when, why and under whose approval, as rows, CSV or HTML."""

from __future__ import annotations

import csv
import html
import io
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from vault.access.models import AccessRequest, AccessRequestRecord
from vault.access.playback import close_idle_playback
from vault.cases.numbers import canonical_case_number
from vault.cases.service import find_case
from vault.custody.models import CustodyAction, CustodyEvent
from vault.custody.service import latest_checkpoint, record_event
from vault.errors import InvalidInput
from vault.evidence.models import Evidence
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.identities.service import get_user

ACCESS_ACTIONS = frozenset(
    str(a)
    for a in (
        CustodyAction.ACCESS_REQUESTED,
        CustodyAction.ACCESS_APPROVED,
        CustodyAction.ACCESS_DENIED,
        CustodyAction.ACCESS_REVOKED,
        CustodyAction.ACCESS_DECISION_REFUSED,
        CustodyAction.EVIDENCE_VIEWED,
        CustodyAction.EVIDENCE_PLAYBACK_CLOSED,
        CustodyAction.EVIDENCE_DOWNLOADED,
        CustodyAction.EVIDENCE_LINK_ISSUED,
        CustodyAction.EVIDENCE_ACCESS_REFUSED,
        CustodyAction.EVIDENCE_EXPORTED,
        CustodyAction.EXPORT_CREATED,
    )
)

ACTION_LABELS: dict[str, str] = {
    "access:requested": "access requested (查阅申请)",
    "access:approved": "approved (批准)",
    "access:denied": "denied (不予批准)",
    "access:revoked": "grant revoked (撤销)",
    "access:decision_refused": "decision refused",
    "evidence:viewed": "playback started (查阅)",
    "evidence:playback_closed": "playback summary",
    "evidence:downloaded": "downloaded (复制)",
    "evidence:link_issued": "direct link issued",
    "evidence:access_refused": "access refused (拒绝)",
    "evidence:exported": "exported",
    "export:created": "export created",
}

CSV_COLUMNS = ("log_index", "at_utc", "at_local", "actor", "action", "subject_type", "subject_id", "summary", "details")


@dataclass(frozen=True)
class TrailFilter:
    """Which trail an auditor asked for: one record, one case, one user, or everything."""

    evidence_id: uuid.UUID | None = None
    case_number: str | None = None
    user_name: str | None = None

    def title(self) -> str:
        """Return a human description of the filter."""
        if self.evidence_id:
            return f"record {self.evidence_id}"
        if self.case_number:
            return f"case (案号) {canonical_case_number(self.case_number)}"
        if self.user_name:
            return f"user {self.user_name}"
        return "all records"


def _request_ids(session: Session, condition: ColumnElement[bool]) -> list[str]:
    query = select(AccessRequestRecord.request_id).where(condition).distinct()
    return [str(i) for i in session.scalars(query)]


def _condition(session: Session, wanted: TrailFilter) -> ColumnElement[bool] | None:
    if sum(x is not None for x in (wanted.evidence_id, wanted.case_number, wanted.user_name)) > 1:
        raise InvalidInput("filter the trail by one of evidence_id, case_number or user")
    requests = CustodyEvent.subject_type == "access_request"
    if wanted.evidence_id is not None:
        ids = _request_ids(session, AccessRequestRecord.evidence_id == wanted.evidence_id)
        return or_(CustodyEvent.subject_id == str(wanted.evidence_id), requests & CustodyEvent.subject_id.in_(ids))
    if wanted.case_number is not None:
        case = find_case(session=session, case_number=wanted.case_number)
        records = select(Evidence.id).where(Evidence.case_id == case.id)
        ids = _request_ids(session, AccessRequestRecord.evidence_id.in_(records))
        record_ids = [str(i) for i in session.scalars(records)]
        return or_(
            CustodyEvent.case_id == case.id,
            CustodyEvent.subject_id.in_(record_ids),
            requests & CustodyEvent.subject_id.in_(ids),
        )
    if wanted.user_name is not None:
        user = get_user(session=session, name=wanted.user_name)
        own = [str(i) for i in session.scalars(select(AccessRequest.id).where(AccessRequest.requester_id == user.id))]
        return or_(CustodyEvent.actor_id == user.id, requests & CustodyEvent.subject_id.in_(own))
    return None


def access_trail(
    *, session: Session, actor: Actor, wanted: TrailFilter, now: datetime, idle_seconds: int, limit: int = 5000
) -> list[CustodyEvent]:
    """Return the access events for a record, case or user in log order (auditors); idle playback is summarised."""
    require(actor, Permission.READ_AUDIT_LOG)
    close_idle_playback(session=session, now=now, idle_seconds=idle_seconds)
    query = select(CustodyEvent).where(CustodyEvent.action.in_(ACCESS_ACTIONS))
    condition = _condition(session, wanted)
    if condition is not None:
        query = query.where(condition)
    return list(session.scalars(query.order_by(CustodyEvent.log_index).limit(min(limit, 50_000))))


def _ranges_text(ranges: Sequence[Sequence[int]]) -> str:
    shown = ", ".join(f"{low}-{high}" for low, high in ranges[:8])
    return shown + (f" (+{len(ranges) - 8} more)" if len(ranges) > 8 else "")


def summarise(event: CustodyEvent) -> str:
    """Return one readable sentence about an access event."""
    d: dict[str, Any] = event.details or {}
    label = ACTION_LABELS.get(event.action, event.action)
    parts = [f"{event.actor_name}: {label}"]
    if d.get("purpose"):
        parts.append(f"purpose {d['purpose']}")
    if d.get("mode"):
        parts.append(f"mode {d['mode']}")
    if d.get("grant_id"):
        parts.append(f"under grant {d['grant_id']}")
    if d.get("basis") == "uploader_self_view":
        parts.append("as uploader (self-view setting on)")
    if d.get("variant"):
        parts.append(f"{d['variant']}")
    if "bytes_served" in d:
        parts.append(f"{d['requests']} request(s), {d['bytes_served']} bytes, ranges {_ranges_text(d['ranges'])}")
    if d.get("expires_at"):
        parts.append(f"until {d['expires_at']}")
    if d.get("reason"):
        parts.append(f"reason: {d['reason']}")
    return "; ".join(str(p) for p in parts)


def _rows(events: Iterable[CustodyEvent], zone: ZoneInfo) -> Iterator[list[str]]:
    for e in events:
        yield [
            str(e.log_index),
            e.at.isoformat(timespec="seconds"),
            e.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
            e.actor_name,
            e.action,
            e.subject_type,
            e.subject_id,
            summarise(e),
            str(e.details),
        ]


def trail_csv(events: Sequence[CustodyEvent], zone: ZoneInfo) -> str:
    """Return the trail as CSV (UTF-8 with BOM so spreadsheet tools show Chinese correctly)."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_rows(events, zone))
    return buffer.getvalue()


_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
    "th,td{border:1px solid #999;padding:4px 6px;font-size:13px;vertical-align:top}th{background:#eee}"
    ".refused{background:#fde8e8}"
)


def trail_html(
    events: Sequence[CustodyEvent], *, wanted: TrailFilter, agency: str, zone: ZoneInfo, session: Session,
    generated_at: datetime,
) -> str:
    """Return the trail as a self-contained, printable HTML report naming the checkpoint it can be verified against."""
    checkpoint = latest_checkpoint(session)
    anchor = (
        f"custody log checkpoint {checkpoint.tree_size}, root {checkpoint.root_hash}" if checkpoint else "no checkpoint"
    )
    rows = []
    for cells in _rows(events, zone):
        css = ' class="refused"' if "refused" in cells[4] or "denied" in cells[4] else ""
        rows.append(f"<tr{css}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells[:8]) + "</tr>")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in CSV_COLUMNS[:8])
    title = html.escape(f"Access trail (查阅记录): {wanted.title()}")
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>"
        f"<p>{html.escape(agency)}<br>Generated {generated_at.astimezone(zone).strftime('%Y-%m-%d %H:%M:%S %Z')}; "
        f"{len(events)} event(s); {html.escape(anchor)}.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></body></html>"
    )


def _note_report_export(
    *, session: Session, actor: Actor, wanted: TrailFilter, fmt: str, count: int, now: datetime
) -> None:
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.AUDIT_REPORT_EXPORTED,
        subject_type="access_trail",
        subject_id=wanted.title()[:128],
        now=now,
        details={"format": fmt, "events": count},
    )


def export_trail(
    *,
    session: Session,
    actor: Actor,
    wanted: TrailFilter,
    fmt: str,
    now: datetime,
    idle_seconds: int,
    zone: ZoneInfo,
    agency: str,
) -> str:
    """Return the trail rendered as "csv" or "html" and log the export."""
    if fmt not in ("csv", "html"):
        raise InvalidInput("report format must be csv or html")
    events = access_trail(session=session, actor=actor, wanted=wanted, now=now, idle_seconds=idle_seconds)
    _note_report_export(session=session, actor=actor, wanted=wanted, fmt=fmt, count=len(events), now=now)
    if fmt == "csv":
        return trail_csv(events, zone)
    return trail_html(events, wanted=wanted, agency=agency, zone=zone, session=session, generated_at=now)
