"""`evault audit trail|verify`: the custody trail with readable names (auditors), and the log's remote check."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click

from evault_client.cli import VaultGroup
from evault_client.context import Invocation, current
from evault_client.errors import CommandFailed
from evault_client.exits import Exit
from evault_client.moments import typed_moment
from evault_client.output import Column, Output

EXPORTS = ("csv", "pdf", "html")


def _trail_columns(run: Invocation) -> list[Column]:
    return [Column("#", "log_index"), Column(run.text("时间", "AT"), "at", time=True),
            Column(run.text("操作人", "ACTOR"), "actor"), Column(run.text("操作", "ACTION"), "action"),
            Column(run.text("对象", "SUBJECT"), "subject"), Column(run.text("摘要", "SUMMARY"), "summary")]


@click.group("audit", cls=VaultGroup)
def audit() -> None:
    """The custody trail (auditors) and the remote check of the custody log."""


@audit.command("trail")
@click.option("--record", "evidence_id", type=click.UUID, default=None, help="Evidence record id.")
@click.option("--case", "case_number", default=None, help="Case number (案号), any bracket variant, as written.")
@click.option("--user", default=None, help="User name: their acts and decisions on their requests.")
@click.option("--since", default=None, help="From this date or time (a date is the agency's local day).")
@click.option("--until", default=None, help="Up to this date (inclusive) or time (exclusive).")
@click.option("--action", "actions", multiple=True, help="Custody action (evidence:viewed); repeatable; * for all. "
                                                          "Default: the access events.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", *EXPORTS]), default=None,
              help="table (default), json (JSON lines), or an export: csv (details as JSON), pdf, html; exports "
                   "are logged in the custody log.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of standard output (needed for pdf).")
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True, help="Skip this many events.")
@click.option("--limit", type=click.IntRange(1, 5000), default=100, show_default=True,
              help="Show at most this many events (table and json).")
def trail(evidence_id: Any, case_number: str | None, user: str | None, since: str | None, until: str | None,
          actions: tuple[str, ...], fmt: str | None, output: Path | None, offset: int, limit: int) -> None:
    """Search the custody trail by record, case, user, time and action (auditors), with readable names."""
    run = current()
    fmt = fmt or ("json" if run.json_mode else "table")
    if fmt == "pdf" and output is None:
        raise click.UsageError(run.text("导出 PDF 须指定 --output 文件", "a PDF export needs --output FILE"))
    params = {"evidence_id": evidence_id, "case_number": case_number, "user": user,
              "since": typed_moment(since, run.zone), "until": typed_moment(until, run.zone, end=True),
              "action": list(actions)}
    if fmt in EXPORTS:
        _export(fmt, params, output)
        return
    answer = run.api.response("GET", "/api/access/trail", params={**params, "offset": offset, "limit": limit})
    entries, total = answer.json(), int(answer.headers.get("X-Total-Count", "0"))
    with output.open("w", encoding="utf-8") if output else nullcontext() as stream:
        printer = Output(json_mode=fmt == "json", zone=run.zone, stream=stream, width=1000 if output else None)
        printer.rows(entries, _trail_columns(run))
    click.echo(run.text(f"共 {total} 条，显示 {len(entries)} 条", f"{len(entries)} of {total} event(s)"), err=True)


def _export(fmt: str, params: dict[str, Any], output: Path | None) -> None:
    run = current()
    with run.api.stream("GET", f"/api/access/trail.{fmt}", params=params) as answer:
        if output is None:
            sys.stdout.flush()
            stdout = sys.stdout.buffer
            for chunk in answer.iter_bytes():
                stdout.write(chunk)
            stdout.flush()
            return
        with output.open("wb") as handle:
            for chunk in answer.iter_bytes():
                handle.write(chunk)
    run.out.message(run.text(f"已导出到 {output}（导出已记入保管日志）",
                             f"exported to {output} (the export is logged in the custody log)"))


@audit.command("verify")
def verify() -> None:
    """Ask the vault to verify its whole custody log now (auditors); exit 1 when the log is broken."""
    run = current()
    verdict = run.api.get("/api/custody/verify")
    if run.json_mode:
        run.out.document(verdict)
    else:
        _print_verdict(verdict)
    if not verdict["ok"]:
        broken = "; ".join(verdict["problems"]) or run.text("保管日志已损坏", "the custody log is broken")
        raise CommandFailed("custody_log_broken", broken, exit_status=Exit.CHECK_FAILED, details=verdict)


def _print_verdict(verdict: dict[str, Any]) -> None:
    run = current()
    for lost in verdict.get("lost", []):  # older servers send none
        run.out.message(run.text(f"恢复时确认丢失的分支：{lost}", f"lost in an acknowledged restore: {lost}"))
    if verdict["ok"]:
        run.out.message(run.text(
            f"保管日志完好：已验证 {verdict['entries']} 条记录、{verdict['checkpoints']} 个签名检查点和 "
            f"{len(verdict['anchored'])} 个外部锚定检查点",
            f"custody log OK: {verdict['entries']} entries, {verdict['checkpoints']} signed checkpoints and "
            f"{len(verdict['anchored'])} anchored checkpoints verified"))
        return
    for problem in verdict["problems"]:
        run.out.message(run.text(f"保管日志已损坏：{problem}", f"custody log BROKEN: {problem}"))
