"""`evault retention ...` and `evault calendar ...`: retention, holds, long-term markers, disposition, working days."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from evault_client.cli import VaultGroup
from evault_client.context import current
from evault_client.errors import CommandFailed
from evault_client.exits import Exit
from evault_client.output import Column, local_time

RETENTION_CLASSES = ["routine_inspection", "default", "case_evidence", "long_term"]
MARKER_KINDS = ["coercive_enforcement", "disputed_enforcement", "obstruction_of_officers", "other"]


@click.group(cls=VaultGroup)
def retention() -> None:
    """Retention (保存期限), legal holds, disposition (销毁) and fixity."""


def _day(value: Any) -> str:
    return str(value)[:10] if value else "indefinite"


DEADLINE_COLUMNS = [
    Column("case", "case_number"), Column("closed", "closed_on"), Column("deadline", "deadline"),
    Column("provisional", "provisional"), Column("overdue_days", "overdue_working_days"),
    Column("calendar", "calendar_note"),
]


@retention.command("report")
def report_command() -> None:
    """Show what is due, held, overdue for archiving, and failed fixity."""
    run = current()
    report = run.api.get("/api/retention/report")

    def human() -> None:
        run.out.message(f"retention report at {local_time(report['generated_at'], run.zone)}")
        line_columns = [Column("record", "evidence_id"), Column("case", "case_number"),
                        Column("retain_until", lambda i: _day(i.get("retain_until"))), Column("note", "note")]
        for title, key in (("due for disposition", "due"), ("coming due", "coming_due"),
                           ("under legal hold", "held"), ("failed fixity", "failed_fixity")):
            run.out.message(f"\n{title}: {len(report[key])}")
            run.out.rows(report[key], line_columns)
        pending = report["pending_destruction"]
        run.out.message(f"\npending destruction (cancellable until destroyed): {len(pending)}")
        run.out.rows(pending, [Column("request", "request_id"), Column("record", "evidence_id"),
                               Column("case", "case_number"), Column("destroyed_after", "destroy_after", time=True),
                               Column("approved_by", "approved_by")])
        run.out.message(f"\nkept (disposal cancelled): {len(report['kept'])}")
        run.out.rows(report["kept"], line_columns)
        run.out.message(f"\noverdue for archiving (归档, {len(report['overdue_archiving'])} cases):")
        run.out.rows(report["overdue_archiving"], DEADLINE_COLUMNS)

    run.out.document(report, human)


@retention.command("deadlines")
def deadlines_command() -> None:
    """Show every closed case's archiving deadline (归档期限); provisional ones say why."""
    run = current()
    lines = run.api.get("/api/retention/archiving-deadlines")
    run.out.rows(lines, DEADLINE_COLUMNS, empty="no closed cases")


@retention.command("show")
@click.argument("evidence_id")
def show_command(evidence_id: str) -> None:
    """Recompute and show one record's retention and its reason."""
    run = current()
    state = run.api.get(f"/api/retention/evidence/{evidence_id}")
    until = local_time(state["retain_until"], run.zone) if state["retain_until"] else "indefinite"
    run.out.document(state, f"{state['retention_class']}  {'held' if state['held'] else 'not held'}  "
                            f"until {until}  {state['reason']}")


@retention.group("policy", cls=VaultGroup)
def policy_group() -> None:
    """Show or change the agency's retention policy (kept with its history)."""


@policy_group.command("show")
def policy_show() -> None:
    """List every policy version, then the changes waiting for a second person."""
    run = current()
    versions = run.api.get("/api/retention/policy")
    requests = run.api.get("/api/retention/policy/requests")
    if run.json_mode:
        run.out.lines([{"kind": "version", **v} for v in versions] + [{"kind": "request", **r} for r in requests])
        return
    if versions:
        run.out.message(json.dumps(versions[-1]["rules"], ensure_ascii=False, indent=2))
    run.out.rows(versions, [Column("version", "version"), Column("effective_from", "effective_from", time=True),
                            Column("by", "created_by"), Column("note", "note")],
                 empty="no policy versions: the shipped defaults apply")
    if requests:
        run.out.message("\npending changes (they shorten a retention default):")
        run.out.rows(requests, [Column("request", "id"), Column("shortens", "shortened"),
                                Column("by", "requested_by"),
                                Column("changes", lambda r: json.dumps(r["changes"], ensure_ascii=False))])


def _parse_changes(changes: tuple[str, ...]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for change in changes:
        name, _, value = change.partition("=")
        try:
            parsed[name.strip()] = json.loads(value)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"{change}: the value must be JSON") from exc
    return parsed


def _effective(effective: str | None) -> str | None:
    if not effective:
        return None  # the vault's own now: the client's clock may run behind it
    try:
        return datetime.fromisoformat(effective).replace(tzinfo=UTC).isoformat()
    except ValueError:
        raise click.BadParameter(f"{effective}: expected a date YYYY-MM-DD", param_hint="--effective") from None


@policy_group.command("set")
@click.argument("changes", nargs=-1, required=True)
@click.option("--effective", default=None, help="YYYY-MM-DD (UTC midnight); default: now.")
@click.option("--note", default="")
def policy_set(changes: tuple[str, ...], effective: str | None, note: str) -> None:
    """Add a policy version: NAME=JSON pairs, e.g. default_years=6 'case_file_years={"licensing": 30}'."""
    run = current()
    body = {"changes": _parse_changes(changes), "effective_from": _effective(effective), "note": note}
    row = run.api.post("/api/retention/policy", body)
    if "shortened" in row:
        run.out.document(row, f"policy change {row['id']} shortens {', '.join(row['shortened'])}: it waits for a "
                              f"second person (`evault retention policy approve {row['id']}`)")
        return
    run.out.document(row, _version_line(row))


def _version_line(row: dict[str, Any]) -> str:
    return f"policy version {row['version']} effective from {local_time(row['effective_from'], current().zone)}"


@policy_group.command("approve")
@click.argument("request_id")
def policy_approve(request_id: str) -> None:
    """Approve a policy change that shortens a retention default (a second person)."""
    row = current().api.post(f"/api/retention/policy/requests/{request_id}/approve")
    current().out.document(row, _version_line(row))


@policy_group.command("reject")
@click.argument("request_id")
@click.option("--reason", required=True)
def policy_reject(request_id: str, reason: str) -> None:
    """Reject (or withdraw) a pending policy change."""
    row = current().api.post(f"/api/retention/policy/requests/{request_id}/reject", {"reason": reason})
    current().out.document(row, f"policy change {request_id} rejected")


def _target(record: str | None, case_number: str | None) -> dict[str, Any]:
    if (record is None) == (case_number is None):
        raise click.UsageError("name either --record or --case")
    if record is not None:
        return {"evidence_id": record}
    cases = current().api.get("/api/cases", case_number=case_number)
    return {"case_id": cases[0]["id"]}


@retention.command("hold")
@click.option("--record", default=None, help="Evidence record ID.")
@click.option("--case", "case_number", default=None, help="Case number (案号).")
@click.option("--reason", required=True)
def hold_command(record: str | None, case_number: str | None, reason: str) -> None:
    """Place a legal hold on a record or a whole case."""
    hold = current().api.post("/api/retention/holds", {**_target(record, case_number), "reason": reason})
    current().out.document(hold, f"legal hold {hold['id']} placed")


@retention.command("holds")
@click.option("--all", "show_all", is_flag=True, help="Released holds too.")
def holds_command(show_all: bool) -> None:
    """List legal holds in force (all of them with --all)."""
    rows = current().api.get("/api/retention/holds", active_only=str(not show_all).lower())
    current().out.rows(rows, [Column("hold", "id"), Column("record", "evidence_id"), Column("case", "case_id"),
                              Column("placed_by", "placed_by"), Column("placed_at", "placed_at", time=True),
                              Column("reason", "reason")], empty="no legal holds")


@retention.command("release")
@click.argument("hold_id")
@click.option("--reason", required=True)
def release_command(hold_id: str, reason: str) -> None:
    """Release a legal hold."""
    hold = current().api.post(f"/api/retention/holds/{hold_id}/release", {"reason": reason})
    current().out.document(hold, f"legal hold {hold_id} released")


@retention.command("mark")
@click.option("--record", default=None, help="Evidence record ID.")
@click.option("--case", "case_number", default=None, help="Case number (案号).")
@click.option("--kind", type=click.Choice(MARKER_KINDS), required=True)
@click.option("--note", default="")
def mark_command(record: str | None, case_number: str | None, kind: str, note: str) -> None:
    """Mark a record or case for long-term preservation (长期保存)."""
    answer = current().api.post("/api/retention/markers", {**_target(record, case_number), "kind": kind,
                                                           "note": note})
    current().out.document(answer, "marked for long-term preservation")


@retention.command("reclassify")
@click.argument("evidence_id")
@click.argument("to_class", type=click.Choice(RETENTION_CLASSES))
@click.option("--reason", required=True)
def reclassify_command(evidence_id: str, to_class: str, reason: str) -> None:
    """Reclassify a record; a shortening waits for `approve-reclassification` by a second person."""
    row = current().api.post(f"/api/retention/evidence/{evidence_id}/reclassify",
                             {"to_class": to_class, "reason": reason})
    current().out.document(row, f"reclassification {row['id']}: {row['status']}")


@retention.command("approve-reclassification")
@click.argument("request_id")
def approve_reclassification_command(request_id: str) -> None:
    """Approve a pending shortening (second person)."""
    state = current().api.post(f"/api/retention/reclassifications/{request_id}/approve")
    current().out.document(state, state["reason"])


@retention.command("propose")
@click.argument("evidence_id")
@click.option("--reason", default="retention ended")
def propose_command(evidence_id: str, reason: str) -> None:
    """Propose destroying a due record (records manager)."""
    row = current().api.post("/api/retention/disposals", {"evidence_id": evidence_id, "reason": reason})
    current().out.document(row, f"disposal request {row['id']} proposed")


@retention.command("approve")
@click.argument("request_id")
def approve_command(request_id: str) -> None:
    """Approve a disposal (second person): pending destruction for the recovery window, then destroyed."""
    run = current()
    row = run.api.post(f"/api/retention/disposals/{request_id}/approve")
    if row["status"] == "pending_destruction" and row.get("destroy_after"):
        run.out.document(row, f"disposal request {row['id']} approved: pending destruction, destroyed after "
                              f"{local_time(row['destroy_after'], run.zone)} unless cancelled "
                              f"(`evault retention cancel {row['id']} --reason ...`)")
        return
    certificate = run.api.get(f"/api/retention/certificates/{row['evidence_id']}")
    run.out.document(certificate, f"{certificate['body']}\nsignature ({certificate['key_id']}): "
                                  f"{certificate['signature']}")


@retention.command("cancel")
@click.argument("request_id")
@click.option("--reason", required=True)
def cancel_command(request_id: str, reason: str) -> None:
    """Cancel a disposal not carried out yet (records manager): the record is kept."""
    row = current().api.post(f"/api/retention/disposals/{request_id}/cancel", {"reason": reason})
    current().out.document(row, f"disposal request {row['id']} cancelled: record {row['evidence_id']} is kept")


@retention.command("disposals")
@click.option("--status", default=None, help="Only this status (e.g. pending, pending_destruction).")
def disposals_command(status: str | None) -> None:
    """List disposals: awaiting approval, and pending destruction with the time they will be destroyed."""
    run = current()
    rows = run.api.get("/api/retention/disposals", status=status)
    run.out.rows(rows, [
        Column("request", "id"), Column("record", "evidence_id"), Column("status", "status"),
        Column("destroyed_after", lambda r: local_time(r["destroy_after"], run.zone) if r.get("destroy_after")
               else "awaiting approval" if r["status"] == "pending" else "-"),
        Column("proposed_by", "proposed_by"), Column("reason", "reason"),
    ], empty="no disposal requests")


@click.group("calendar", cls=VaultGroup)
def calendar() -> None:
    """Working days (工作日): load the State Council's holiday notice for a year, and show a year."""


@calendar.command("load")
@click.argument("notice_file", type=click.Path(dir_okay=False, path_type=Path))
def calendar_load(notice_file: Path) -> None:
    """Load (or replace) one year of holidays from a JSON notice file (see docs/holiday-calendar-2025.json)."""
    run = current()
    try:
        notice = json.loads(notice_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandFailed("unreadable_file", f"cannot read {notice_file}: {exc}",
                            exit_status=Exit.INVALID_INPUT) from None
    if not isinstance(notice, dict) or not isinstance(notice.get("year"), int):
        raise CommandFailed("invalid_notice", f"{notice_file}: a notice is a JSON object with a year",
                            exit_status=Exit.INVALID_INPUT)
    year = run.api.put(f"/api/retention/calendar/{notice['year']}", notice)
    run.out.document(year, f"{year['year']}: {len(year['holidays'])} weekdays off and {len(year['working_days'])} "
                           f"make-up working days loaded: {year['source']}")


@calendar.command("show")
@click.argument("year", type=int)
def calendar_show(year: int) -> None:
    """Show a year's weekdays off and working weekends as deadlines count them, and where they come from."""
    run = current()
    shown = run.api.get(f"/api/retention/calendar/{year}")

    def human() -> None:
        if shown["provisional"]:
            run.out.message(f"{year}: no holiday calendar; deadlines in {year} count Monday-Friday only and are "
                            "PROVISIONAL until the State Council's notice is loaded (`evault calendar load FILE`)")
            return
        run.out.message(f"{year}: {shown['source']}")
        run.out.message("weekdays off (放假): " + (", ".join(shown["holidays"]) or "none"))
        run.out.message("working weekends (调休上班): " + (", ".join(shown["working_days"]) or "none"))

    run.out.document(shown, human)


@calendar.command("list")
def calendar_list() -> None:
    """List the years whose holiday notice is loaded."""
    rows = current().api.get("/api/retention/calendar")
    current().out.rows(rows, [Column("year", "year"), Column("source", "source"), Column("loaded_by", "loaded_by"),
                              Column("loaded_at", "loaded_at", time=True)], empty="no holiday calendars loaded")
