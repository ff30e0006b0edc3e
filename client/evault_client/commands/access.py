"""`evault access ...`: access requests (查阅申请), the approver's inbox and decisions, grants and revocations."""

from __future__ import annotations

from typing import Any

import click

from evault_client.cli import VaultGroup
from evault_client.context import Invocation, current
from evault_client.output import Column

PURPOSES = ("investigation", "legal_review", "reconsideration", "litigation", "filing_review", "party_copy")
MODES = {"view": "view", "download": "view_download", "view_download": "view_download"}


@click.group("access", cls=VaultGroup)
def access() -> None:
    """Access to footage: file a request, decide it (another approver), list and revoke grants."""


# Tables fit 80 columns with whole ids; everything else the API says is in --json.
def _request_columns(run: Invocation) -> list[Column]:
    return [Column("ID", "id", whole=True), Column(run.text("状态", "STATUS"), "status"),
            Column(run.text("申请人", "REQUESTER"), "requester"), Column(run.text("用途", "PURPOSE"), "purpose"),
            Column(run.text("案号", "CASE"), "case_number")]


def _grant_columns(run: Invocation) -> list[Column]:
    return [Column("ID", "id", whole=True), Column(run.text("被授权人", "GRANTEE"), "grantee"),
            Column(run.text("方式", "MODE"), "mode"), Column(run.text("到期", "EXPIRES"), "expires_at", time=True)]


def _inbox_columns(run: Invocation) -> list[Column]:
    return [Column(run.text("申请", "REQUEST"), "request_id", whole=True),
            Column(run.text("申请人", "REQUESTER"), "requester"), Column(run.text("用途", "PURPOSE"), "purpose"),
            Column(run.text("案号", "CASE"), "case_number"), Column(run.text("本人", "OWN"), "own")]


@access.command("request")
@click.option("--record", "records", type=click.UUID, multiple=True, help="A record to see (repeatable).")
@click.option("--case", "case_number", default=None, help="A whole case (案号) instead of records.")
@click.option("--purpose", type=click.Choice(PURPOSES), required=True)
@click.option("--mode", type=click.Choice(sorted(MODES)), default="view", show_default=True,
              help="view, or download (view and download).")
@click.option("--hours", type=click.IntRange(min=1), required=True, help="How long the grant should last.")
@click.option("--reason", required=True, help="Why you need the footage (kept in the custody log).")
def request(records: tuple[Any, ...], case_number: str | None, purpose: str, mode: str, hours: int,
            reason: str) -> None:
    """File an access request for records or a whole case; an approver decides it."""
    run = current()
    if bool(records) == bool(case_number):
        raise click.UsageError(run.text("请指定记录（--record ID ...）或案件（--case 案号），二者择一",
                                        "name the records (--record ID ...) or a case (--case NUMBER), not both"))
    body = {"evidence_ids": [str(r) for r in records] or None, "case_number": case_number, "purpose": purpose,
            "mode": MODES[mode], "duration_hours": hours, "reason": reason}
    filed = run.api.post("/api/access/requests", body)
    run.out.document(filed, human=run.text(f"已提交查阅申请 {filed['id']}，等待审批",
                                           f"access request {filed['id']} filed: it awaits an approver"))


@access.command("requests")
@click.option("--all", "everyone", is_flag=True, help="Everyone's requests (approvers and auditors).")
@click.option("--status", type=click.Choice(("pending", "approved", "denied", "refused_by_rule")), default=None)
def requests(everyone: bool, status: str | None) -> None:
    """List your access requests (everyone's with --all, for approvers and auditors), newest first."""
    run = current()
    found = run.api.get("/api/access/requests", mine="false" if everyone else "true", status=status)
    run.out.rows(found, _request_columns(run), empty=run.text("没有查阅申请", "no access requests"))


@access.command("inbox")
def inbox() -> None:
    """List the requests waiting for an approver, oldest first, with what they ask for (approvers)."""
    run = current()
    run.out.rows(run.api.get("/api/access/inbox"), _inbox_columns(run),
                 empty=run.text("没有待审批的申请", "no requests are waiting"))


@access.command("approve")
@click.argument("request_id", type=click.UUID)
@click.option("--record", "records", type=click.UUID, multiple=True, help="Grant only these records (repeatable).")
@click.option("--mode", type=click.Choice(sorted(MODES)), default=None, help="Narrow the mode (view).")
@click.option("--hours", type=click.IntRange(min=1), default=None, help="Narrow the duration.")
@click.option("--note", default="", help="A note kept with the decision.")
def approve(request_id: Any, records: tuple[Any, ...], mode: str | None, hours: int | None, note: str) -> None:
    """Approve someone else's request, possibly narrowing records, mode or hours; the grant starts now."""
    run = current()
    body = {"evidence_ids": [str(r) for r in records] or None, "mode": MODES[mode] if mode else None,
            "duration_hours": hours, "note": note}
    grant = run.api.post(f"/api/access/requests/{request_id}/approve", body)
    run.out.document(grant, human=lambda: run.out.rows([grant], _grant_columns(run)))


@access.command("deny")
@click.argument("request_id", type=click.UUID)
@click.option("--reason", required=True)
def deny(request_id: Any, reason: str) -> None:
    """Deny a request with a reason."""
    run = current()
    denied = run.api.post(f"/api/access/requests/{request_id}/deny", {"reason": reason})
    run.out.document(denied, human=lambda: run.out.rows([denied], _request_columns(run)))


@access.command("grants")
@click.option("--all", "everyone", is_flag=True, help="Everyone's grants (approvers and auditors).")
@click.option("--inactive", is_flag=True, help="Expired and revoked grants too.")
def grants(everyone: bool, inactive: bool) -> None:
    """List your grants in force (everyone's with --all, for approvers and auditors)."""
    run = current()
    found = run.api.get("/api/access/grants", mine="false" if everyone else "true",
                        include_inactive=str(inactive).lower())
    run.out.rows(found, _grant_columns(run), empty=run.text("没有授权", "no grants"))


@access.command("revoke")
@click.argument("grant_id", type=click.UUID)
@click.option("--reason", required=True)
def revoke(grant_id: Any, reason: str) -> None:
    """Revoke a grant early (approvers)."""
    run = current()
    revoked = run.api.post(f"/api/access/grants/{grant_id}/revoke", {"reason": reason})
    run.out.document(revoked, human=lambda: run.out.rows([revoked], _grant_columns(run)))
