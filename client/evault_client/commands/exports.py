"""`evault export`, `evault exports ...` and `evault callups ...`: evidence bundles, their retained copies, call-ups."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

import click

from evault_client.cli import VaultGroup
from evault_client.commands import segment
from evault_client.context import current
from evault_client.errors import CommandFailed
from evault_client.exits import Exit
from evault_client.output import Column, local_time

PURPOSES = ["court", "reconsideration", "filing-review", "party-copy"]
CALLUP_STATES = ["open", "overdue", "fulfilled"]
CHUNK_BYTES = 1 << 20


def parse_ids(values: tuple[str, ...], what_zh: str, what_en: str) -> list[str]:
    """Return the IDs given as repeated, comma- or space-separated values; refuse one that is not an ID."""
    ids = []
    for token in (t for value in values for t in re.split(r"[\s,]+", value) if t):
        try:
            ids.append(str(uuid.UUID(token)))
        except ValueError:
            message = current().text(f"'{token}' 不是{what_zh}", f"'{token}' is not {what_en}")
            raise CommandFailed("invalid_id", message, exit_status=Exit.INVALID_INPUT) from None
    return ids


def _download(method: str, path: str, out: Path, body: Any = None) -> dict[str, str]:
    """Stream an answer into out through a .partial file, renamed only once complete; return its headers."""
    if out.exists():
        raise CommandFailed("file_exists", current().text(f"{out} 已存在；证据包从不覆盖已有文件",
                                                          f"{out} already exists; a bundle never overwrites a file"),
                            exit_status=Exit.CONFLICT)
    partial = out.with_name(out.name + ".partial")
    try:
        with current().api.stream(method, path, json=body) as response, partial.open("xb") as handle:
            for chunk in response.iter_bytes(CHUNK_BYTES):
                handle.write(chunk)
            headers = dict(response.headers)
        # No fsync, like zip: a torn file after a crash fails verify-bundle and the retained SHA-256, never silently.
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return headers


@click.command("export", cls=VaultGroup.command_class)
@click.argument("case_number")
@click.option("--purpose", required=True, type=click.Choice(PURPOSES))
@click.option("--recipient", required=True, help="Who receives the bundle (接收方).")
@click.option("--records", "records", multiple=True, help="Record IDs (repeat, or comma-separated); default: all.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Bundle file (.zip).")
@click.option("--party", default=None, help="Party copy: the applying party (当事人); default the case's only party.")
@click.option("--include-redacted", is_flag=True, help="Carry approved redacted versions beside their originals.")
@click.option("--watermark", is_flag=True, help="Burn recipient, export id and date into every video and photo.")
def export(case_number: str, purpose: str, recipient: str, records: tuple[str, ...], out: Path, party: str | None,
           include_redacted: bool, watermark: bool) -> None:
    """Build an evidence bundle (证据包) of a case (案号) for court, reconsideration, filing review or a party."""
    run = current()
    ids = parse_ids(records, "有效的证据记录 ID", "an evidence record ID")
    body = {"case_number": case_number, "purpose": purpose, "recipient": recipient, "evidence_ids": ids or None,
            "party": party, "include_redacted": include_redacted, "watermark": watermark}
    headers = _download("POST", "/api/exports", out, body)
    copy = run.api.get(f"/api/exports/{headers['x-export-id']}")

    def human() -> None:
        run.out.message(run.text(
            f"证据包 {out}：{copy['record_count']} 条证据，原件 {copy['payload_bytes']} 字节",
            f"bundle {out}: {copy['record_count']} record(s), {copy['payload_bytes']} bytes of originals"))
        if copy["withheld_ids"]:
            run.out.message(run.text(
                f"不得复制的证据，本当事人复制件未含（000 第九条、003 第二十四条）{copy['withheld_count']} 条："
                f"{'、'.join(copy['withheld_ids'])}",
                f"records withheld from this party copy (000 第九条): "
                f"{copy['withheld_count']}: {', '.join(copy['withheld_ids'])}"))
        run.out.message(run.text(
            f"导出编号 {copy['id']}；证据包 SHA-256 {copy['bundle_sha256']}（{copy['bundle_size']} 字节）",
            f"export id {copy['id']}; bundle SHA-256 {copy['bundle_sha256']} ({copy['bundle_size']} bytes)"))
        run.out.message(run.text("已登记复制留存；可用 `evault verify-bundle` 核验证据包",
                                 "retained copy (复制留存) recorded; check the bundle with `evault verify-bundle`"))

    run.out.document({**copy, "file": str(out)}, human)


def _export_columns(run: Any) -> list[Column]:
    return [
        Column(run.text("导出编号", "export"), "id"), Column(run.text("用途", "purpose"), "purpose"),
        Column(run.text("接收方", "recipient"), "recipient"), Column(run.text("证据数", "records"), "record_count"),
        Column(run.text("制作人", "by"), "actor_name"),
        Column(run.text("制作时间", "made"), "completed_at", time=True),
    ]


# What `exports show` calls each field in Chinese; in English the API's own field name.
SHOWN_FIELDS = {
    "id": "导出编号", "bundle_name": "证据包文件名", "purpose": "用途", "recipient": "接收方",
    "actor_name": "制作人", "grant_id": "审批授权", "completed_at": "制作时间", "record_count": "证据数",
    "withheld_count": "未提供的涉密证据数", "payload_bytes": "原件字节数", "bundle_sha256": "证据包 SHA-256",
    "bundle_size": "证据包字节数", "key_id": "签名密钥", "timestamped": "已加盖时间戳",
}


@click.group("exports", cls=VaultGroup)
def exports() -> None:
    """Retained copies (复制留存) of the bundles made: what was handed over, to whom, under which approval."""


@exports.command("list")
@click.option("--case", "case_number", default=None, help="Only this case (案号).")
def exports_list(case_number: str | None) -> None:
    """List retained copies, newest first."""
    run = current()
    rows = run.api.get("/api/exports", case_number=case_number)
    run.out.rows(rows, _export_columns(run), empty=run.text("没有导出记录", "no exports"))


@exports.command("show")
@click.argument("export_id")
def exports_show(export_id: str) -> None:
    """Show one retained copy: the bundle's SHA-256, size, signature, recipient and approval."""
    run = current()
    copy = run.api.get(f"/api/exports/{segment(export_id)}")
    rows = [{"field": run.text(label, name), "value": copy.get(name)} for name, label in SHOWN_FIELDS.items()]

    def human() -> None:
        run.out.rows([{**row, "value": local_time(row["value"], run.zone)} for row in rows],
                     [Column(run.text("字段", "field"), "field"), Column(run.text("值", "value"), "value")])

    run.out.document(copy, human)


@exports.command("download")
@click.argument("export_id")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File for the retained copy (JSON).")
def exports_download(export_id: str, out: Path) -> None:
    """Download a retained copy's record (digest, manifests, explanation, signature) to a file."""
    _download("GET", f"/api/exports/{segment(export_id)}/retained", out)
    run = current()
    run.out.document({"id": export_id, "file": str(out)}, run.text(f"{export_id} 的复制留存已写入 {out}",
                                                                   f"retained copy of {export_id} written to {out}"))


def _callup_state(item: dict[str, Any]) -> str:
    run = current()
    if item["state"] == "fulfilled":
        by = ", ".join(item["export_ids"])
        late = item["fulfilled_late"]
        return run.text(f"已提供{'（逾期）' if late else ''}，证据包 {by}",
                        f"fulfilled{' LATE' if late else ''} by {by}")
    if item["state"] == "overdue":
        days = item["working_days_overdue"]
        return run.text(f"已逾期 {days} 个工作日", f"OVERDUE by {days} working day(s)")
    return run.text("待提供", "open")


def _callup_columns(run: Any) -> list[Column]:
    def due(c: dict[str, Any]) -> str:
        return f"{run.text('暂定 ', 'PROVISIONAL ') if c['provisional'] else ''}{c['due_on']}"

    return [
        Column(run.text("调阅编号", "callup"), "id"), Column(run.text("调阅机关", "department"), "department"),
        Column(run.text("文号", "doc_number"), "document_number"), Column(run.text("案号", "cases"), "case_numbers"),
        Column(run.text("收到日期", "received"), "received_on"), Column(run.text("期限", "due"), due),
        Column(run.text("状态", "state"), _callup_state),
    ]


def _print_callups(items: list[dict[str, Any]], empty: str) -> None:
    run = current()
    run.out.rows(items, _callup_columns(run), empty=empty)
    if not run.json_mode:
        for reason in sorted({c["provisional_reason"] for c in items if c.get("provisional_reason")}):
            run.out.message(run.text(f"（{reason}）", f"({reason})"))


@click.group("callups", cls=VaultGroup)
def callups() -> None:
    """Call-ups (调阅) of case materials by a higher-level department: due in 5 working days (001 备案规定)."""


@callups.command("register")
@click.option("--department", required=True, help="Requesting department (调阅机关).")
@click.option("--doc-number", "document_number", required=True, help="The notice's document number (文号).")
@click.option("--case", "case_numbers", required=True, multiple=True, help="Case number (案号) called up; repeat.")
@click.option("--records", multiple=True, help="Only these record IDs (repeat, or comma-separated); default: all.")
@click.option("--received", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Day received (default: today).")
@click.option("--note", default="")
def callups_register(department: str, document_number: str, case_numbers: tuple[str, ...],
                     records: tuple[str, ...], received: Any, note: str) -> None:
    """Register a call-up notice; prints its due date (5 working days from receipt)."""
    run = current()
    body = {"department": department, "document_number": document_number, "case_numbers": list(case_numbers),
            "evidence_ids": parse_ids(records, "有效的证据记录 ID", "an evidence record ID") or None,
            "received_on": received.date().isoformat() if received is not None else None, "note": note}
    item = run.api.post("/api/callups", body)
    run.out.document(item, lambda: _print_callups([item], ""))


@callups.command("list")
@click.option("--state", type=click.Choice(CALLUP_STATES), default=None)
def callups_list(state: str | None) -> None:
    """List call-ups by due date."""
    run = current()
    _print_callups(run.api.get("/api/callups", state=state), run.text("没有调阅", "no call-ups"))


@callups.command("overdue")
def callups_overdue() -> None:
    """Report open call-ups past their due date (exit status 1 when there are any)."""
    run = current()
    items = run.api.get("/api/callups/overdue")
    _print_callups(items, run.text("没有逾期的调阅", "no overdue call-ups"))
    if items:
        click.get_current_context().exit(int(Exit.CHECK_FAILED))


@callups.command("fulfil")
@click.argument("callup_id")
@click.option("--export", "export_ids", required=True, multiple=True, help="Filing-review export ID; repeat.")
def callups_fulfil(callup_id: str, export_ids: tuple[str, ...]) -> None:
    """Mark a call-up fulfilled by the filing-review export(s) that hold what it asks for."""
    target = parse_ids((callup_id,), "有效的调阅 ID", "a call-up ID")[0]
    item = current().api.post(f"/api/callups/{target}/fulfil",
                              {"export_ids": parse_ids(export_ids, "有效的导出编号", "an export ID")})
    current().out.document(item, lambda: _print_callups([item], ""))
