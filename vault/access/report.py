"""The auditor's trail rendered: readable rows, CSV (details as JSON), a printable HTML report and its PDF."""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from vault.access.trail import ACCESS_ACTIONS, MAX_EXPORT, TrailEntry, TrailFilter, search_trail
from vault.custody.models import CustodyAction, CustodyEvent
from vault.custody.service import latest_checkpoint, record_event
from vault.errors import InvalidInput
from vault.identities.actor import Actor

__all__ = ["ACCESS_ACTIONS", "TrailFilter", "access_trail", "export_trail", "summarise"]

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

CSV_COLUMNS = ("log_index", "at_utc", "at_local", "actor", "action", "subject_type", "subject_id", "subject",
               "record", "case_number", "summary", "details")
PDF_MAX_EVENTS = 2000  # a PDF is for reading and filing: a longer trail is narrowed first, or taken as CSV


def access_trail(
    *, session: Session, actor: Actor, wanted: TrailFilter, now: datetime, idle_seconds: int, limit: int = 5000
) -> list[CustodyEvent]:
    """Return the matching events in log order (auditors); idle playback is summarised first."""
    page = search_trail(session=session, actor=actor, wanted=wanted, now=now, idle_seconds=idle_seconds,
                        limit=min(limit, MAX_EXPORT))
    return [entry.event for entry in page.entries]


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


def _rows(entries: Iterable[TrailEntry], zone: ZoneInfo) -> Iterator[list[str]]:
    for entry in entries:
        e = entry.event
        yield [
            str(e.log_index),
            e.at.isoformat(timespec="seconds"),
            e.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
            entry.actor,
            e.action,
            e.subject_type,
            e.subject_id,
            entry.subject,
            entry.record or "",
            entry.case_number or "",
            summarise(e),
            json.dumps(e.details, ensure_ascii=False, sort_keys=True),
        ]


def trail_csv(entries: Sequence[TrailEntry], zone: ZoneInfo) -> str:
    """Return the trail as CSV, one row per event, details as JSON (UTF-8 with BOM for spreadsheet tools)."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_rows(entries, zone))
    return buffer.getvalue()


# Noto CJK first: WeasyPrint takes glyphs from fontconfig, and a font without Chinese prints empty boxes.
_FONTS = '"Noto Sans CJK SC", "Noto Serif CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", sans-serif'
_STYLE = (
    f"@page{{size:A4 landscape;margin:12mm}}body{{font-family:{_FONTS};margin:2em}}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{border:1px solid #999;padding:4px 6px;font-size:11px;vertical-align:top;overflow-wrap:anywhere}"
    "th{background:#eee}.refused{background:#fde8e8}code{font-size:9px}"
)
_SHOWN = (0, 2, 3, 4, 7, 9, 10)  # the printed columns: index, local time, actor, action, subject, case, summary


def trail_html(
    entries: Sequence[TrailEntry], *, wanted: TrailFilter, agency: str, zone: ZoneInfo, session: Session,
    generated_at: datetime,
) -> str:
    """Return the trail as a self-contained, printable HTML report naming the checkpoint it can be verified against."""
    checkpoint = latest_checkpoint(session)
    anchor = (
        f"custody log checkpoint {checkpoint.tree_size}, root {checkpoint.root_hash}" if checkpoint else "no checkpoint"
    )
    rows = []
    for cells in _rows(entries, zone):
        css = ' class="refused"' if "refused" in cells[4] or "denied" in cells[4] else ""
        shown = "".join(f"<td>{html.escape(cells[i])}</td>" for i in _SHOWN)
        rows.append(f"<tr{css}>{shown}<td><code>{html.escape(cells[11])}</code></td></tr>")
    head = "".join(f"<th>{html.escape(CSV_COLUMNS[i])}</th>" for i in (*_SHOWN, 11))
    title = html.escape(f"Access trail (查阅记录): {wanted.title()}")
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>"
        f"<p>{html.escape(agency)}<br>Generated {generated_at.astimezone(zone).strftime('%Y-%m-%d %H:%M:%S %Z')}; "
        f"{len(entries)} event(s); {html.escape(anchor)}.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></body></html>"
    )


def html_to_pdf(document: str) -> bytes:
    """Return the PDF of a self-contained HTML document (WeasyPrint; no resource is fetched)."""
    import weasyprint  # a heavy import (Pango, fonts): only exports pay for it

    def refuse(url: str) -> dict[str, Any]:
        raise ValueError(f"the report fetches nothing: {url}")

    return weasyprint.HTML(string=document, url_fetcher=refuse).write_pdf() or b""


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
) -> str | bytes:
    """Return the whole trail as "csv", "html" or "pdf" and log the export (auditors)."""
    if fmt not in ("csv", "html", "pdf"):
        raise InvalidInput("report format must be csv, html or pdf", details={"formats": ["csv", "html", "pdf"]})
    most = PDF_MAX_EVENTS if fmt == "pdf" else MAX_EXPORT
    page = search_trail(session=session, actor=actor, wanted=wanted, now=now, idle_seconds=idle_seconds, limit=most)
    if page.total > most:
        raise InvalidInput(f"{page.total} events match; narrow the search to at most {most} for a {fmt} export",
                           details={"matching": page.total, "max": most, "format": fmt})
    record_event(session=session, actor=actor, action=CustodyAction.AUDIT_REPORT_EXPORTED,
                 subject_type="access_trail", subject_id=wanted.title()[:128], now=now,
                 details={"format": fmt, "events": page.total, "filter": wanted.as_details()})
    if fmt == "csv":
        return trail_csv(page.entries, zone)
    document = trail_html(page.entries, wanted=wanted, agency=agency, zone=zone, session=session, generated_at=now)
    return document if fmt == "html" else html_to_pdf(document)
