"""`evault evidence search|show|tag|retag`, `evault flags ...`: finding records, why flagged, tag changes."""

from __future__ import annotations

from typing import Any

import click

from evault_client.cli import VaultGroup
from evault_client.context import Invocation, current
from evault_client.moments import typed_moment
from evault_client.output import Column, local_time

TAG_KEYS = ("case_number", "party", "handlers", "activity", "recorder_serial", "capture_start", "capture_end",
            "party_informed", "field_return_at", "late_reason", "notes", "confidentiality", "place")
SORT_KEYS = ("uploaded_at", "capture_start", "case_number", "size")
CONFIDENTIALITY = ("none", "state_secret", "trade_secret", "personal_privacy")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no", ""}


@click.group("evidence", cls=VaultGroup)
def evidence() -> None:
    """Evidence records (音像记录): search, metadata with why each flag was raised, tag changes."""


def _show_record(record: dict[str, Any]) -> None:
    run = current()
    captured = " ~ ".join(local_time(record[k], run.zone) for k in ("capture_start", "capture_end") if record.get(k))
    case, party = record.get("case_number") or "-", record.get("party_name") or "-"
    handlers = ", ".join(record.get("handlers") or []) or "-"
    activity, recorder = record.get("activity") or "-", record.get("recorder_serial") or "-"
    uploaded, count = local_time(record["uploaded_at"], run.zone), len(record.get("flag_reasons") or [])
    lines = [
        run.text(f"音像记录 {record['id']}  {record['original_name']}  {record['media_type']}",
                 f"record {record['id']}  {record['original_name']}  {record['media_type']}"),
        run.text(f"案号：{case}  当事人：{party}", f"case: {case}  party: {party}"),
        run.text(f"承办人：{'、'.join(record.get('handlers') or []) or '-'}", f"handlers: {handlers}"),
        run.text(f"执法活动：{activity}  执法记录仪：{recorder}  保密：{record.get('confidentiality')}",
                 f"activity: {activity}  recorder: {recorder}  confidentiality: {record.get('confidentiality')}"),
        run.text(f"拍摄时间：{captured or '不详'}", f"captured: {captured or 'unknown'}"),
        run.text(f"上传：{uploaded}，上传人 {record['uploader']}", f"uploaded: {uploaded} by {record['uploader']}"),
        run.text(f"合规标记（{count} 项）：", f"flags ({count}):"),
    ]
    lines += [f"  {f['flag']}  [{f['code']}]  {f['reason']}" for f in record.get("flag_reasons") or []]
    for line in lines:
        click.echo(line)


@evidence.command("show")
@click.argument("evidence_id", type=click.UUID)
def show(evidence_id: Any) -> None:
    """Show a record's tags and each open flag with the reason it was raised."""
    run = current()
    record = run.api.get(f"/api/evidence/{evidence_id}")
    run.out.document(record, human=lambda: _show_record(record))


def _search_columns(run: Invocation) -> list[Column]:
    return [Column("ID", "id", whole=True), Column(run.text("案号", "CASE"), "case_number"),
            Column(run.text("拍摄时间", "CAPTURED"), "capture_start", time=True),
            Column(run.text("文件名", "NAME"), "original_name"), Column(run.text("标记", "FLAGS"), "flags")]


@evidence.command("search")
@click.option("--case", "case_number", default=None, help="Case number (案号), any bracket variant.")
@click.option("--party", default=None, help="Part of a party's name, or a whole ID number (records managers).")
@click.option("--handler", default=None, help="Part of a handler's name, or a whole certificate number.")
@click.option("--recorder", "recorder_serial", default=None, help="Recorder serial, exactly.")
@click.option("--captured-from", default=None, help="Capture started at or after (a date: the agency's day).")
@click.option("--captured-to", default=None, help="Capture started before (a date: up to its end).")
@click.option("--uploaded-from", default=None, help="Uploaded at or after.")
@click.option("--uploaded-to", default=None, help="Uploaded before (a date: up to its end).")
@click.option("--activity", default=None, help="Enforcement activity, e.g. inspection.")
@click.option("--flag", "flags", multiple=True, help="An open flag (repeatable: any of them).")
@click.option("--flagged/--unflagged", default=None, help="Only records with (or without) an open flag.")
@click.option("--confidentiality", type=click.Choice(CONFIDENTIALITY), default=None)
@click.option("--sort", type=click.Choice(SORT_KEYS), default="uploaded_at", show_default=True)
@click.option("--order", type=click.Choice(("asc", "desc")), default="desc", show_default=True)
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 1000), default=50, show_default=True)
def search(flags: tuple[str, ...], flagged: bool | None, captured_from: str | None, captured_to: str | None,
           uploaded_from: str | None, uploaded_to: str | None, **filters: Any) -> None:
    """Search the records you may see (officers: their own uploads), one page at a time, with the total."""
    run = current()
    params = {**filters, "flag": list(flags), "flagged": None if flagged is None else str(flagged).lower(),
              "captured_from": typed_moment(captured_from, run.zone),
              "captured_to": typed_moment(captured_to, run.zone, end=True),
              "uploaded_from": typed_moment(uploaded_from, run.zone),
              "uploaded_to": typed_moment(uploaded_to, run.zone, end=True)}
    answer = run.api.response("GET", "/api/evidence", params=params)
    items, total = answer.json(), int(answer.headers.get("X-Total-Count", "0"))
    pages = max(1, -(-total // filters["page_size"]))
    run.out.message(run.text(f"共 {total} 条（第 {filters['page']}/{pages} 页）",
                             f"{total} record(s) (page {filters['page']} of {pages})"))
    run.out.rows(items, _search_columns(run))


def _change(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or key not in TAG_KEYS:
        raise click.BadParameter(current().text(f"{text}：应为 KEY=VALUE，KEY 取 {', '.join(TAG_KEYS)} 之一",
                                                f"{text}: expected KEY=VALUE with KEY one of {', '.join(TAG_KEYS)}"))
    if key == "handlers":
        return key, list(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    if key == "party_informed":
        if value.strip().lower() not in _TRUE | _FALSE:
            raise click.BadParameter(current().text(f"{text}：party_informed（是否告知当事人）须为 true 或 false",
                                                    f"{text}: party_informed must be true or false"))
        return key, value.strip().lower() in _TRUE
    return key, value.strip() or None


def _tag(evidence_id: Any, changes: tuple[str, ...], reason: str) -> None:
    run = current()
    body = {**dict(_change(c) for c in changes), "reason": reason}
    answer = run.api.response("PATCH", f"/api/evidence/{evidence_id}/tags", json=body)
    result = answer.json()
    if answer.status_code != 202:
        run.out.document(result, human=lambda: _show_record(result))
        return
    flags = ", ".join(c["flag"] for c in result["clears"])
    run.out.document(result, human=run.text(
        f"这次修改会清除合规标记 {flags}：未生效，已提交申请 {result['id']}，等待审批"
        f"（evault flags approve {result['id']} --reason ...）",
        f"the change would clear compliance flags {flags}: not applied; request {result['id']} awaits an approver "
        f"(evault flags approve {result['id']} --reason ...)"))


_TAG_HELP = "Change tags, KEY=VALUE each (handlers=C1,C2; party_informed=true; an empty VALUE clears the tag)."


@evidence.command("tag", help=_TAG_HELP)
@click.argument("evidence_id", type=click.UUID)
@click.argument("changes", nargs=-1, required=True)
@click.option("--reason", default="", help="Why the tags change (required when compliance flags would clear).")
def tag(evidence_id: Any, changes: tuple[str, ...], reason: str) -> None:
    _tag(evidence_id, changes, reason)


@evidence.command("retag", help=_TAG_HELP + " (Same as `tag`.)")
@click.argument("evidence_id", type=click.UUID)
@click.argument("changes", nargs=-1, required=True)
@click.option("--reason", default="", help="Why the tags change (required when compliance flags would clear).")
def retag(evidence_id: Any, changes: tuple[str, ...], reason: str) -> None:
    _tag(evidence_id, changes, reason)


@click.group("flags", cls=VaultGroup)
def flags() -> None:
    """Flag clearance requests: tag changes that would clear compliance flags wait for an approver."""


def _clears(request: dict[str, Any]) -> str:
    return ", ".join(c["flag"] if c["evidence_id"] == str(request["evidence_id"]) else f"{c['flag']}@{c['evidence_id']}"
                     for c in request["clears"])


def _request_columns(run: Invocation) -> list[Column]:
    # the record, the changes and the decision are in --json (and on wide terminals too few)
    return [Column("ID", "id", whole=True), Column(run.text("状态", "STATUS"), "status"),
            Column(run.text("清除标记", "CLEARS"), _clears), Column(run.text("申请人", "BY"), "requested_by"),
            Column(run.text("理由", "REASON"), "reason")]


@flags.command("requests")
@click.option("--all", "everything", is_flag=True, help="Decided requests too.")
@click.option("--record", type=click.UUID, default=None, help="Only the requests on this record.")
def requests(everything: bool, record: Any) -> None:
    """List flag clearance requests (pending ones unless --all)."""
    run = current()
    found = run.api.get("/api/flag-requests", pending_only=str(not everything).lower(), evidence_id=record)
    run.out.message(run.text(f"标记清除申请 {len(found)} 件", f"flag clearance requests: {len(found)}"))
    run.out.rows(found, _request_columns(run))


def _decide(request_id: Any, verb: str, reason: str) -> None:
    run = current()
    decided = run.api.post(f"/api/flag-requests/{request_id}/{verb}", {"reason": reason})
    run.out.document(decided, human=run.text(
        f"申请 {decided['id']}：{decided['status']}（{decided['decided_by']}：{decided['decision_reason']}）",
        f"request {decided['id']} {decided['status']} by {decided['decided_by']}: {decided['decision_reason']}"))


@flags.command("approve")
@click.argument("request_id", type=click.UUID)
@click.option("--reason", required=True)
def approve(request_id: Any, reason: str) -> None:
    """Approve a request (never the uploader's or requester's own): the change applies and the flags clear."""
    _decide(request_id, "approve", reason)


@flags.command("reject")
@click.argument("request_id", type=click.UUID)
@click.option("--reason", required=True)
def reject(request_id: Any, reason: str) -> None:
    """Reject a request: tags and flags stay as they are."""
    _decide(request_id, "reject", reason)
