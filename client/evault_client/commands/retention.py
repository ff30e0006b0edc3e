"""`evault retention ...` and `evault calendar ...`: retention, holds, long-term markers, disposition, working days."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from evault_client.cli import VaultGroup
from evault_client.commands import segment
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
    return str(value)[:10] if value else current().text("无限期", "indefinite")


def _deadline_columns() -> list[Column]:
    text = current().text
    return [
        Column(text("案号", "case"), "case_number"), Column(text("结案日期", "closed"), "closed_on"),
        Column(text("归档期限", "deadline"), "deadline"), Column(text("暂定", "provisional"), "provisional"),
        Column(text("逾期工作日", "overdue_days"), "overdue_working_days"),
        Column(text("日历说明", "calendar"), "calendar_note"),
    ]


@retention.command("report")
def report_command() -> None:
    """Show what is due, held, overdue for archiving, and failed fixity."""
    run = current()
    report = run.api.get("/api/retention/report")

    def human() -> None:
        generated = local_time(report["generated_at"], run.zone)
        run.out.message(run.text(f"保存期限报告（{generated}）", f"retention report at {generated}"))
        line_columns = [Column(run.text("证据记录", "record"), "evidence_id"),
                        Column(run.text("案号", "case"), "case_number"),
                        Column(run.text("保存至", "retain_until"), lambda i: _day(i.get("retain_until"))),
                        Column(run.text("备注", "note"), "note")]
        for title, key in ((run.text("到期待销毁", "due for disposition"), "due"),
                           (run.text("即将到期", "coming due"), "coming_due"),
                           (run.text("保全中", "under legal hold"), "held"),
                           (run.text("完整性校验失败", "failed fixity"), "failed_fixity")):
            run.out.message(run.text(f"\n{title}：{len(report[key])}", f"\n{title}: {len(report[key])}"))
            run.out.rows(report[key], line_columns)
        pending = report["pending_destruction"]
        run.out.message(run.text(f"\n待销毁（销毁前可取消）：{len(pending)}",
                                 f"\npending destruction (cancellable until destroyed): {len(pending)}"))
        run.out.rows(pending, [Column(run.text("申请", "request"), "request_id"),
                               Column(run.text("证据记录", "record"), "evidence_id"),
                               Column(run.text("案号", "case"), "case_number"),
                               Column(run.text("销毁时间", "destroyed_after"), "destroy_after", time=True),
                               Column(run.text("审批人", "approved_by"), "approved_by")])
        kept = len(report["kept"])
        run.out.message(run.text(f"\n继续保存（已取消销毁）：{kept}", f"\nkept (disposal cancelled): {kept}"))
        run.out.rows(report["kept"], line_columns)
        overdue = len(report["overdue_archiving"])
        run.out.message(run.text(f"\n逾期未归档（{overdue} 件案件）：",
                                 f"\noverdue for archiving (归档, {overdue} cases):"))
        run.out.rows(report["overdue_archiving"], _deadline_columns())

    run.out.document(report, human)


@retention.command("deadlines")
def deadlines_command() -> None:
    """Show every closed case's archiving deadline (归档期限); provisional ones say why."""
    run = current()
    lines = run.api.get("/api/retention/archiving-deadlines")
    run.out.rows(lines, _deadline_columns(), empty=run.text("没有已结案件", "no closed cases"))


@retention.command("show")
@click.argument("evidence_id")
def show_command(evidence_id: str) -> None:
    """Recompute and show one record's retention and its reason."""
    run = current()
    state = run.api.get(f"/api/retention/evidence/{segment(evidence_id)}")
    until = local_time(state["retain_until"], run.zone) if state["retain_until"] else run.text("无限期", "indefinite")
    held = run.text("保全中", "held") if state["held"] else run.text("未保全", "not held")
    run.out.document(state, run.text(f"{state['retention_class']}  {held}  保存至 {until}  {state['reason']}",
                                     f"{state['retention_class']}  {held}  until {until}  {state['reason']}"))


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
    run.out.rows(versions, [Column(run.text("版本", "version"), "version"),
                            Column(run.text("生效时间", "effective_from"), "effective_from", time=True),
                            Column(run.text("制定人", "by"), "created_by"), Column(run.text("备注", "note"), "note")],
                 empty=run.text("尚无保存期限规则版本：适用默认规则", "no policy versions: the shipped defaults apply"))
    if requests:
        run.out.message(run.text("\n待审批的变更（缩短默认保存期限）：",
                                 "\npending changes (they shorten a retention default):"))
        run.out.rows(requests, [Column(run.text("申请", "request"), "id"),
                                Column(run.text("缩短项", "shortens"), "shortened"),
                                Column(run.text("申请人", "by"), "requested_by"),
                                Column(run.text("变更", "changes"),
                                       lambda r: json.dumps(r["changes"], ensure_ascii=False))])


def _parse_changes(changes: tuple[str, ...]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for change in changes:
        name, _, value = change.partition("=")
        try:
            parsed[name.strip()] = json.loads(value)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(current().text(f"{change}：值必须是 JSON",
                                                    f"{change}: the value must be JSON")) from exc
    return parsed


def _effective(effective: str | None) -> str | None:
    if not effective:
        return None  # the vault's own now: the client's clock may run behind it
    try:
        return datetime.fromisoformat(effective).replace(tzinfo=UTC).isoformat()
    except ValueError:
        raise click.BadParameter(current().text(f"{effective}：应为日期 YYYY-MM-DD",
                                                f"{effective}: expected a date YYYY-MM-DD"),
                                 param_hint="--effective") from None


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
        approve = f"`evault retention policy approve {row['id']}`"
        run.out.document(row, run.text(
            f"保存期限规则变更 {row['id']} 缩短了 {'、'.join(row['shortened'])}：须由第二人审批（{approve}）",
            f"policy change {row['id']} shortens {', '.join(row['shortened'])}: it waits for a "
            f"second person ({approve})"))
        return
    run.out.document(row, _version_line(row))


def _version_line(row: dict[str, Any]) -> str:
    run = current()
    effective = local_time(row["effective_from"], run.zone)
    return run.text(f"保存期限规则第 {row['version']} 版，自 {effective} 起生效",
                    f"policy version {row['version']} effective from {effective}")


@policy_group.command("approve")
@click.argument("request_id")
def policy_approve(request_id: str) -> None:
    """Approve a policy change that shortens a retention default (a second person)."""
    row = current().api.post(f"/api/retention/policy/requests/{segment(request_id)}/approve")
    current().out.document(row, _version_line(row))


@policy_group.command("reject")
@click.argument("request_id")
@click.option("--reason", required=True)
def policy_reject(request_id: str, reason: str) -> None:
    """Reject (or withdraw) a pending policy change."""
    row = current().api.post(f"/api/retention/policy/requests/{segment(request_id)}/reject", {"reason": reason})
    current().out.document(row, current().text(f"保存期限规则变更 {request_id} 已驳回",
                                               f"policy change {request_id} rejected"))


def _target(record: str | None, case_number: str | None) -> dict[str, Any]:
    if (record is None) == (case_number is None):
        raise click.UsageError(current().text("请指定 --record 或 --case（二者选一）",
                                              "name either --record or --case"))
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
    current().out.document(hold, current().text(f"已采取保全 {hold['id']}", f"legal hold {hold['id']} placed"))


@retention.command("holds")
@click.option("--all", "show_all", is_flag=True, help="Released holds too.")
def holds_command(show_all: bool) -> None:
    """List legal holds in force (all of them with --all)."""
    run = current()
    rows = run.api.get("/api/retention/holds", active_only=str(not show_all).lower())
    run.out.rows(rows, [Column(run.text("保全", "hold"), "id"), Column(run.text("证据记录", "record"), "evidence_id"),
                        Column(run.text("案件", "case"), "case_id"),
                        Column(run.text("采取人", "placed_by"), "placed_by"),
                        Column(run.text("采取时间", "placed_at"), "placed_at", time=True),
                        Column(run.text("理由", "reason"), "reason")], empty=run.text("没有保全", "no legal holds"))


@retention.command("release")
@click.argument("hold_id")
@click.option("--reason", required=True)
def release_command(hold_id: str, reason: str) -> None:
    """Release a legal hold."""
    hold = current().api.post(f"/api/retention/holds/{segment(hold_id)}/release", {"reason": reason})
    current().out.document(hold, current().text(f"保全 {hold_id} 已解除", f"legal hold {hold_id} released"))


@retention.command("mark")
@click.option("--record", default=None, help="Evidence record ID.")
@click.option("--case", "case_number", default=None, help="Case number (案号).")
@click.option("--kind", type=click.Choice(MARKER_KINDS), required=True)
@click.option("--note", default="")
def mark_command(record: str | None, case_number: str | None, kind: str, note: str) -> None:
    """Mark a record or case for long-term preservation (长期保存)."""
    answer = current().api.post("/api/retention/markers", {**_target(record, case_number), "kind": kind,
                                                           "note": note})
    current().out.document(answer, current().text("已标记为长期保存", "marked for long-term preservation"))


@retention.command("reclassify")
@click.argument("evidence_id")
@click.argument("to_class", type=click.Choice(RETENTION_CLASSES))
@click.option("--reason", required=True)
def reclassify_command(evidence_id: str, to_class: str, reason: str) -> None:
    """Reclassify a record; a shortening waits for `approve-reclassification` by a second person."""
    row = current().api.post(f"/api/retention/evidence/{segment(evidence_id)}/reclassify",
                             {"to_class": to_class, "reason": reason})
    current().out.document(row, current().text(f"重新分类申请 {row['id']}：{row['status']}",
                                               f"reclassification {row['id']}: {row['status']}"))


@retention.command("approve-reclassification")
@click.argument("request_id")
def approve_reclassification_command(request_id: str) -> None:
    """Approve a pending shortening (second person)."""
    state = current().api.post(f"/api/retention/reclassifications/{segment(request_id)}/approve")
    current().out.document(state, state["reason"])


@retention.command("propose")
@click.argument("evidence_id")
@click.option("--reason", default="retention ended")
def propose_command(evidence_id: str, reason: str) -> None:
    """Propose destroying a due record (records manager)."""
    row = current().api.post("/api/retention/disposals", {"evidence_id": evidence_id, "reason": reason})
    current().out.document(row, current().text(f"销毁申请 {row['id']} 已提出",
                                               f"disposal request {row['id']} proposed"))


@retention.command("approve")
@click.argument("request_id")
def approve_command(request_id: str) -> None:
    """Approve a disposal (second person): pending destruction for the recovery window, then destroyed."""
    run = current()
    row = run.api.post(f"/api/retention/disposals/{segment(request_id)}/approve")
    if row["status"] == "pending_destruction" and row.get("destroy_after"):
        after = local_time(row["destroy_after"], run.zone)
        cancel = f"`evault retention cancel {row['id']} --reason ...`"
        run.out.document(row, run.text(
            f"销毁申请 {row['id']} 已审批：待销毁，{after} 之后销毁，此前可取消（{cancel}）",
            f"disposal request {row['id']} approved: pending destruction, destroyed after {after} unless cancelled "
            f"({cancel})"))
        return
    certificate = run.api.get(f"/api/retention/certificates/{row['evidence_id']}")
    run.out.document(certificate, run.text(
        f"{certificate['body']}\n签名（{certificate['key_id']}）：{certificate['signature']}",
        f"{certificate['body']}\nsignature ({certificate['key_id']}): {certificate['signature']}"))


@retention.command("cancel")
@click.argument("request_id")
@click.option("--reason", required=True)
def cancel_command(request_id: str, reason: str) -> None:
    """Cancel a disposal not carried out yet (records manager): the record is kept."""
    row = current().api.post(f"/api/retention/disposals/{segment(request_id)}/cancel", {"reason": reason})
    current().out.document(row, current().text(
        f"销毁申请 {row['id']} 已取消：证据记录 {row['evidence_id']} 继续保存",
        f"disposal request {row['id']} cancelled: record {row['evidence_id']} is kept"))


@retention.command("disposals")
@click.option("--status", default=None, help="Only this status (e.g. pending, pending_destruction).")
def disposals_command(status: str | None) -> None:
    """List disposals: awaiting approval, and pending destruction with the time they will be destroyed."""
    run = current()
    rows = run.api.get("/api/retention/disposals", status=status)
    run.out.rows(rows, [
        Column(run.text("申请", "request"), "id"), Column(run.text("证据记录", "record"), "evidence_id"),
        Column(run.text("状态", "status"), "status"),
        Column(run.text("销毁时间", "destroyed_after"),
               lambda r: local_time(r["destroy_after"], run.zone) if r.get("destroy_after")
               else run.text("待审批", "awaiting approval") if r["status"] == "pending" else "-"),
        Column(run.text("提出人", "proposed_by"), "proposed_by"), Column(run.text("理由", "reason"), "reason"),
    ], empty=run.text("没有销毁申请", "no disposal requests"))


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
        raise CommandFailed("unreadable_file", run.text(f"无法读取 {notice_file}：{exc}",
                                                        f"cannot read {notice_file}: {exc}"),
                            exit_status=Exit.INVALID_INPUT) from None
    if not isinstance(notice, dict) or not isinstance(notice.get("year"), int):
        raise CommandFailed("invalid_notice", run.text(f"{notice_file}：通知应为含 year（年份）的 JSON 对象",
                                                       f"{notice_file}: a notice is a JSON object with a year"),
                            exit_status=Exit.INVALID_INPUT)
    year = run.api.put(f"/api/retention/calendar/{notice['year']}", notice)
    off, working = len(year["holidays"]), len(year["working_days"])
    run.out.document(year, run.text(
        f"{year['year']}：已导入 {off} 个放假工作日、{working} 个调休上班日：{year['source']}",
        f"{year['year']}: {off} weekdays off and {working} make-up working days loaded: {year['source']}"))


@calendar.command("show")
@click.argument("year", type=int)
def calendar_show(year: int) -> None:
    """Show a year's weekdays off and working weekends as deadlines count them, and where they come from."""
    run = current()
    shown = run.api.get(f"/api/retention/calendar/{year}")

    def human() -> None:
        if shown["provisional"]:
            run.out.message(run.text(
                f"{year}：尚无节假日安排；{year} 年的期限只按周一至周五计算，导入国务院通知前均为暂定"
                "（`evault calendar load FILE`）",
                f"{year}: no holiday calendar; deadlines in {year} count Monday-Friday only and are "
                "PROVISIONAL until the State Council's notice is loaded (`evault calendar load FILE`)"))
            return
        run.out.message(run.text(f"{year}：{shown['source']}", f"{year}: {shown['source']}"))
        none = run.text("无", "none")
        run.out.message(run.text("放假（工作日）：", "weekdays off (放假): ") + (", ".join(shown["holidays"]) or none))
        run.out.message(run.text("调休上班（周末）：", "working weekends (调休上班): ")
                        + (", ".join(shown["working_days"]) or none))

    run.out.document(shown, human)


@calendar.command("list")
def calendar_list() -> None:
    """List the years whose holiday notice is loaded."""
    run = current()
    rows = run.api.get("/api/retention/calendar")
    run.out.rows(rows, [Column(run.text("年份", "year"), "year"), Column(run.text("依据", "source"), "source"),
                        Column(run.text("导入人", "loaded_by"), "loaded_by"),
                        Column(run.text("导入时间", "loaded_at"), "loaded_at", time=True)],
                 empty=run.text("尚未导入节假日安排", "no holiday calendars loaded"))
