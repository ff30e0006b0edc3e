"""`evault evidence search|show|tag`, `evault flags ...`: finding records, why flagged, tag changes, clearances."""

from __future__ import annotations

import json
import uuid
from datetime import UTC
from typing import Any

import click

from ingest import clearance
from ingest.metadata import parse_bool, parse_handlers
from ingest.models import FlagClearanceRequest
from ingest.retagging import TAG_KEYS, retag_evidence
from ingest.rules import IngestRules
from vault.cli_support import acting_as, acting_session, friendly_errors
from vault.db import utcnow
from vault.evidence.models import Confidentiality, Evidence
from vault.evidence.search import MAX_PAGE_SIZE, EvidenceQuery, SortKey, SortOrder, search_evidence
from vault.evidence.service import get_evidence, open_flag_rows, open_flags


@click.group("evidence")
def evidence_group() -> None:
    """Evidence records (音像记录): metadata with why each flag was raised, and tag changes."""


def _print_evidence(evidence: Evidence) -> None:
    case = evidence.case.case_number if evidence.case else "-"
    party = evidence.party.name if evidence.party else "-"
    handlers = "、".join(f"{h.name}（{h.certificate_number}）" for h in evidence.handlers) or "-"
    capture = " ~ ".join(t.isoformat() for t in (evidence.capture_start, evidence.capture_end) if t) or "未知 unknown"
    click.echo(f"记录 record {evidence.id}\t{evidence.original_name}\t{evidence.media_type}")
    click.echo(f"案号 case: {case}\t当事人 party: {party}\t承办人 handlers: {handlers}")
    click.echo(f"拍摄 captured: {capture}\t上传 uploaded: {evidence.uploaded_at.isoformat()} by "
               f"{evidence.uploader.name}")
    rows = open_flag_rows(evidence)
    click.echo(f"标记 flags ({len(rows)}):")
    for row in rows:
        click.echo(f"  {row.flag}\t[{row.code or row.flag}]\t{row.detail}")


@evidence_group.command("show")
@click.argument("evidence_id", type=click.UUID)
@click.pass_context
@friendly_errors
def show_command(ctx: click.Context, evidence_id: uuid.UUID) -> None:
    """Show a record's tags and each open flag with the reason it was raised."""
    with acting_session(acting_as(ctx)) as (_, session, actor):
        _print_evidence(get_evidence(session=session, actor=actor, evidence_id=evidence_id))


@evidence_group.command("search")
@click.option("--case", "case_number", default=None, help="Case number (案号), any bracket variant.")
@click.option("--party", default=None, help="Part of a party's name, or a whole ID number (records managers).")
@click.option("--handler", default=None, help="Part of a handler's name, or a whole certificate number.")
@click.option("--recorder", "recorder_serial", default=None, help="Recorder serial, exactly.")
@click.option("--captured-from", type=click.DateTime(), default=None, help="Capture started at or after (UTC).")
@click.option("--captured-to", type=click.DateTime(), default=None, help="Capture started before (UTC).")
@click.option("--uploaded-from", type=click.DateTime(), default=None, help="Uploaded at or after (UTC).")
@click.option("--uploaded-to", type=click.DateTime(), default=None, help="Uploaded before (UTC).")
@click.option("--activity", default=None)
@click.option("--flag", "flags", multiple=True, help="An open flag (repeatable: any of them).")
@click.option("--confidentiality", type=click.Choice([c.value for c in Confidentiality]), default=None)
@click.option("--sort", type=click.Choice([k.value for k in SortKey]), default=SortKey.UPLOADED_AT.value)
@click.option("--order", type=click.Choice([o.value for o in SortOrder]), default=SortOrder.DESC.value)
@click.option("--page", type=click.IntRange(min=1), default=1)
@click.option("--page-size", type=click.IntRange(1, MAX_PAGE_SIZE), default=50)
@click.pass_context
@friendly_errors
def search_command(ctx: click.Context, /, flags: tuple[str, ...], confidentiality: str | None, sort: str, order: str,
                   page: int, page_size: int, **filters: Any) -> None:
    """Search the records you may see: one line each (id, case, party, recorder, captured, name, flags)."""
    for key in ("captured_from", "captured_to", "uploaded_from", "uploaded_to"):
        filters[key] = filters[key].replace(tzinfo=UTC) if filters[key] else None
    query = EvidenceQuery(**filters, flags=flags, sort=SortKey(sort), order=SortOrder(order),
                          confidentiality=Confidentiality(confidentiality) if confidentiality else None)
    with acting_session(acting_as(ctx)) as (context, session, actor):
        found = search_evidence(session=session, actor=actor, query=query, page=page, page_size=page_size,
                                cipher=context.cipher)
        click.echo(f"共 {found.total} 条 records: {found.total} (page {found.page} of {found.pages})")
        for e in found.items:
            captured = e.capture_start.isoformat() if e.capture_start else "-"
            click.echo(f"{e.id}\t{e.case.case_number if e.case else '-'}\t{e.party.name if e.party else '-'}\t"
                       f"{e.recorder_serial or '-'}\t{captured}\t{e.original_name}\t{','.join(open_flags(e)) or '-'}")


def _change(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or key not in TAG_KEYS:
        raise click.BadParameter(f"{text}: expected KEY=VALUE with KEY one of {', '.join(TAG_KEYS)}")
    if key == "handlers":
        return key, list(parse_handlers(value))
    if key == "party_informed":
        return key, parse_bool(value, key)
    return key, value.strip() or None


def _print_request(request: FlagClearanceRequest) -> None:
    clears = ", ".join(c["flag"] if c["evidence_id"] == str(request.evidence_id) else f"{c['flag']}@{c['evidence_id']}"
                       for c in request.clears)
    decided = (f"\t{request.decided_by} {request.decided_at.isoformat()}: {request.decision_reason}"
               if request.decided_at else "")
    click.echo(f"{request.id}\t{request.status.value}\trecord {request.evidence_id}\t清除 clears: {clears}\t"
               f"by {request.requested_by}: {request.reason}\t{json.dumps(request.changes, ensure_ascii=False)}"
               f"{decided}")


@evidence_group.command("tag")
@click.argument("evidence_id", type=click.UUID)
@click.argument("changes", nargs=-1, required=True)
@click.option("--reason", default="", help="Why the tags change (required when compliance flags would clear).")
@click.pass_context
@friendly_errors
def tag_command(ctx: click.Context, evidence_id: uuid.UUID, changes: tuple[str, ...], reason: str) -> None:
    """Change tags, KEY=VALUE each (handlers=C1,C2; party_informed=true; an empty VALUE clears the tag)."""
    parsed = dict(_change(c) for c in changes)
    with acting_session(acting_as(ctx)) as (context, session, actor):
        outcome = retag_evidence(session=session, actor=actor, evidence_id=evidence_id, changes=parsed,
                                 rules=IngestRules.of(context.settings), now=utcnow(), reason=reason)
        if isinstance(outcome, FlagClearanceRequest):
            flags = ", ".join(c["flag"] for c in outcome.clears)
            click.echo(f"这次修改会清除合规标记 {flags}：未生效，已提交申请 {outcome.id}，由审批人决定 "
                       f"(the change awaits an approver: `evault flags approve {outcome.id} --reason ...`)")
        else:
            _print_evidence(outcome)


@click.group("flags")
def flags_group() -> None:
    """Flag clearance requests: tag changes that would clear compliance flags wait for an approver."""


@flags_group.command("requests")
@click.option("--all", "everything", is_flag=True, help="Decided requests too.")
@click.option("--record", type=click.UUID, default=None, help="Only the requests on this record.")
@click.pass_context
@friendly_errors
def requests_command(ctx: click.Context, everything: bool, record: uuid.UUID | None) -> None:
    """List flag clearance requests (pending ones unless --all)."""
    with acting_session(acting_as(ctx)) as (_, session, actor):
        found = clearance.list_clearance_requests(session=session, actor=actor, pending_only=not everything,
                                                  evidence_id=record)
        click.echo(f"flag clearance requests: {len(found)}")
        for request in found:
            _print_request(request)


@flags_group.command("approve")
@click.argument("request_id", type=click.UUID)
@click.option("--reason", required=True)
@click.pass_context
@friendly_errors
def approve_command(ctx: click.Context, request_id: uuid.UUID, reason: str) -> None:
    """Approve a request (never the uploader's or requester's own): the change applies and the flags clear."""
    with acting_session(acting_as(ctx)) as (context, session, actor):
        request = clearance.approve_clearance(session=session, actor=actor, request_id=request_id, reason=reason,
                                              rules=IngestRules.of(context.settings), now=utcnow())
        _print_request(request)


@flags_group.command("reject")
@click.argument("request_id", type=click.UUID)
@click.option("--reason", required=True)
@click.pass_context
@friendly_errors
def reject_command(ctx: click.Context, request_id: uuid.UUID, reason: str) -> None:
    """Reject a request: tags and flags stay as they are."""
    with acting_session(acting_as(ctx)) as (_, session, actor):
        _print_request(clearance.reject_clearance(session=session, actor=actor, request_id=request_id, reason=reason,
                                                  now=utcnow()))
