"""`evault handlers ...`: the registry of handlers and their enforcement certificates (执法证), with its history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from evault_client.cli import VaultGroup
from evault_client.commands import segment
from evault_client.context import current
from evault_client.output import Column

# The columns `handlers import` reads, with two example rows; docs/handlers-sample.csv is the same text.
SAMPLE_CSV = """certificate_number,name,unit,category,valid_from,valid_until,status
65230219001,马建国,阜康市应急管理局应急综合行政执法大队,安全生产,2024-01-01,2028-12-31,valid
65230219002,古丽娜尔·艾力,阜康市应急管理局应急综合行政执法大队,安全生产,2024-03-01,2029-02-28,valid
"""

DATE = click.DateTime(formats=["%Y-%m-%d"])


def _day(value: Any) -> str | None:
    return value.date().isoformat() if value is not None else None


def _columns(run: Any) -> list[Column]:
    return [Column(run.text("执法证号", "CERTIFICATE"), "certificate_number"), Column(run.text("姓名", "NAME"), "name"),
            Column(run.text("单位", "UNIT"), "unit"), Column(run.text("有效期起", "VALID FROM"), "valid_from"),
            Column(run.text("有效期止", "VALID UNTIL"), "valid_until"), Column(run.text("状态", "STATUS"), "status")]


@click.group(cls=VaultGroup)
def handlers() -> None:
    """The handler registry (执法人员及执法证): certificates and their dated history."""


@handlers.command("list")
def handlers_list() -> None:
    """List registered handlers and their certificates."""
    run = current()
    run.out.rows(run.api.get("/api/handlers"), _columns(run))


@handlers.command("sample")
def handlers_sample() -> None:
    """Print a CSV for `evault handlers import`: its header and two example rows."""
    click.echo(SAMPLE_CSV, nl=False)


@handlers.command("add")
@click.option("--cert", "certificate_number", required=True, help="Certificate number (执法证号).")
@click.option("--name", required=True)
@click.option("--unit", default="")
@click.option("--category", default="")
@click.option("--valid-from", required=True, type=DATE, help="YYYY-MM-DD")
@click.option("--valid-until", required=True, type=DATE, help="YYYY-MM-DD")
@click.option("--status", default="valid", show_default=True, type=click.Choice(["valid", "suspended", "revoked"]))
def handlers_add(certificate_number: str, name: str, unit: str, category: str, valid_from: Any, valid_until: Any,
                 status: str) -> None:
    """Register one handler and their certificate."""
    run = current()
    handler = run.api.post("/api/handlers", {
        "certificate_number": certificate_number, "name": name, "unit": unit, "category": category,
        "valid_from": _day(valid_from), "valid_until": _day(valid_until), "status": status})
    run.out.document(handler, run.text(f"已登记执法人员 {handler['name']}（{handler['certificate_number']}）",
                                       f"handler {handler['name']} ({handler['certificate_number']}) registered"))


@handlers.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def handlers_import(csv_file: Path) -> None:
    """Import handlers from CSV (see `evault handlers sample`); every row is checked before any is stored."""
    run = current()
    body = csv_file.read_text(encoding="utf-8-sig").encode()
    imported = run.api.request("POST", "/api/handlers/import", content=body, headers={"Content-Type": "text/csv"})
    if run.json_mode:
        run.out.lines(imported)
    else:
        run.out.message(run.text(f"已导入 {len(imported)} 名执法人员", f"{len(imported)} handlers imported"))


@handlers.command("show")
@click.argument("certificate_number")
@click.option("--on", "on_day", type=DATE, default=None, help="Day to judge validity on, YYYY-MM-DD (default: today).")
def handlers_show(certificate_number: str, on_day: Any) -> None:
    """Show a certificate's history and whether it was valid on a day."""
    run = current()
    detail = run.api.get(f"/api/handlers/{segment(certificate_number)}", on=_day(on_day))

    def human() -> None:
        click.echo(f"{detail['certificate_number']}  {detail['name']}  {detail['unit']}".rstrip())
        for entry in detail["history"]:  # one line each: the entry id must stay whole for `correct --voids`
            window = f"  {entry['valid_from']}..{entry['valid_until']}" if entry["valid_from"] else ""
            voids = f"  voids {entry['voids_id']}" if entry["voids_id"] else ""
            click.echo(f"  {entry['sequence']}. {entry['effective_on']}  {entry['kind']}{window}{voids}  "
                       f"{entry['reason']}  ({entry['recorded_by']}, {entry['id']})")
        verdict = "VALID" if detail["valid_on"] else "NOT VALID"
        state = (f"{detail['status_on']}, {detail['valid_from_on']}..{detail['valid_until_on']}"
                 if detail["status_on"] else "not yet issued")
        click.echo(f"on {detail['on']}: {verdict} ({state})")

    run.out.document(detail, human)


@handlers.command("update")
@click.argument("certificate_number")
@click.option("--name", default=None)
@click.option("--unit", default=None)
@click.option("--category", default=None)
def handlers_update(certificate_number: str, name: str | None, unit: str | None, category: str | None) -> None:
    """Correct a handler's name, unit or category (admins; logged); validity changes go through the history."""
    run = current()
    body = {key: value for key, value in (("name", name), ("unit", unit), ("category", category)) if value is not None}
    handler = run.api.patch(f"/api/handlers/{segment(certificate_number)}", body)
    run.out.document(handler, run.text(
        f"已更新执法证 {handler['certificate_number']}：{handler['name']}，{handler['unit']}",
        f"handler {handler['certificate_number']} updated: {handler['name']}, {handler['unit']}"))


def _change_command(name: str, kind: str, summary: str, *, window: bool = False) -> click.Command:
    def change(certificate_number: str, effective: Any, reason: str, valid_from: Any = None,
               valid_until: Any = None, voids: str | None = None) -> None:
        run = current()
        path = f"/api/handlers/{segment(certificate_number)}"
        event = run.api.post(f"{path}/changes", {
            "kind": kind, "effective_on": _day(effective), "reason": reason, "valid_from": _day(valid_from),
            "valid_until": _day(valid_until), "voids": voids})
        latest = run.api.get(path)["status"]
        run.out.document(event, run.text(
            f"执法证 {certificate_number}：自 {event['effective_on']} 起 {kind}（条目 {event['id']}）；"
            f"当前状态 {latest}",
            f"certificate {certificate_number}: {kind} from {event['effective_on']} (entry {event['id']}); "
            f"latest status {latest}"))

    params: list[click.Parameter] = [
        click.Argument(["certificate_number"]),
        click.Option(["--effective"], required=True, type=DATE, help="Day the change takes effect, YYYY-MM-DD."),
        click.Option(["--reason"], required=True, help="Why (kept with the history and in the custody log)."),
    ]
    if window:
        params += [click.Option(["--valid-from"], type=DATE, default=None, help="YYYY-MM-DD"),
                   click.Option(["--valid-until"], type=DATE, default=None, required=kind == "renewed",
                                help="YYYY-MM-DD")]
    if kind == "corrected":
        params.append(click.Option(["--voids"], default=None, help="Id of the history entry recorded in error."))
    return handlers.command(name, help=summary, params=params)(change)


_change_command("suspend", "suspended", "Suspend a certificate (暂扣) from a day.")
_change_command("reinstate", "reinstated", "End a certificate's suspension (发还) from a day.")
_change_command("revoke", "revoked", "Revoke a certificate (吊销) from a day, for good.")
_change_command("renew", "renewed", "Renew a certificate (换证): a new validity window.", window=True)
_change_command("correct", "corrected", "Correct a registry error: the window, or an entry (--voids).", window=True)
