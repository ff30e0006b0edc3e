"""`evault callups`: register a call-up (调阅) for filing review, list it, fulfil it with exports, report overdue."""

from __future__ import annotations

import uuid
from datetime import datetime

import click

from vault.callups import service
from vault.cli_support import acting_as, acting_session, friendly_errors
from vault.db import utcnow
from vault.errors import InvalidInput
from vault.exports.cli import parse_record_ids


def _print(view: service.CallUpView) -> None:
    c = view.callup
    due = f"{'PROVISIONAL ' if view.provisional else ''}due {view.due_on}"
    if view.state == service.CallUpState.FULFILLED:
        state = f"fulfilled{' LATE' if view.fulfilled_late else ''} by export(s) {', '.join(c.export_ids)}"
    elif view.state == service.CallUpState.OVERDUE:
        state = f"OVERDUE by {view.working_days_overdue} working day(s)"
    else:
        state = "open"
    click.echo(f"{c.id}\t{c.department}\t{c.document_number}\t{', '.join(c.case_numbers)}\t"
               f"received {c.received_on}\t{due}\t{state}")
    if view.provisional_reason:
        click.echo(f"  ({view.provisional_reason})")


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(f"'{value}' is not {what}") from None


@click.group("callups")
def callups_group() -> None:
    """Call-ups (调阅) of case materials by a higher-level department: due in 5 working days (001 备案规定)."""


@callups_group.command("register")
@click.option("--department", required=True, help="Requesting department (调阅机关).")
@click.option("--doc-number", "document_number", required=True, help="The notice's document number (文号).")
@click.option("--case", "case_numbers", required=True, multiple=True, help="Case number (案号) called up; repeat.")
@click.option("--records", multiple=True, help="Only these record IDs (repeat, or comma-separated); default: all.")
@click.option("--received", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Day received (default: today).")
@click.option("--note", default="")
@click.pass_context
@friendly_errors
def register_command(ctx: click.Context, department: str, document_number: str, case_numbers: tuple[str, ...],
                     records: tuple[str, ...], received: datetime | None, note: str) -> None:
    """Register a call-up notice; prints its due date (5 working days from receipt)."""
    received_on = received.date() if received is not None else None
    notice = service.CallUpInput(department, document_number, case_numbers, received_on,
                                 parse_record_ids(records) or None, note)
    with acting_session(acting_as(ctx)) as (context, session, actor):
        view = service.register_callup(session=session, actor=actor, notice=notice, now=utcnow(),
                                       working_days=context.settings.callup_working_days, zone=context.settings.zone)
        _print(view)


@callups_group.command("list")
@click.option("--state", type=click.Choice([s.value for s in service.CallUpState]), default=None)
@click.pass_context
@friendly_errors
def list_command(ctx: click.Context, state: str | None) -> None:
    """List call-ups by due date."""
    with acting_session(acting_as(ctx)) as (context, session, actor):
        views = service.list_callups(session=session, actor=actor, now=utcnow(), zone=context.settings.zone,
                                     state=service.CallUpState(state) if state else None)
        click.echo(f"call-ups (调阅): {len(views)}")
        for view in views:
            _print(view)


@callups_group.command("overdue")
@click.pass_context
@friendly_errors
def overdue_command(ctx: click.Context) -> None:
    """Report open call-ups past their due date (exit status 1 when there are any)."""
    with acting_session(acting_as(ctx)) as (context, session, actor):
        views = service.list_callups(session=session, actor=actor, now=utcnow(), zone=context.settings.zone,
                                     state=service.CallUpState.OVERDUE)
        click.echo(f"overdue call-ups (逾期未报送的调阅): {len(views)}")
        for view in views:
            _print(view)
    if views:
        ctx.exit(1)


@callups_group.command("fulfil")
@click.argument("callup_id")
@click.option("--export", "export_ids", required=True, multiple=True, help="Filing-review export ID; repeat.")
@click.pass_context
@friendly_errors
def fulfil_command(ctx: click.Context, callup_id: str, export_ids: tuple[str, ...]) -> None:
    """Mark a call-up fulfilled by the filing-review export(s) that hold what it asks for."""
    target, ids = _uuid(callup_id, "a call-up ID"), [_uuid(i, "an export ID") for i in export_ids]
    with acting_session(acting_as(ctx)) as (context, session, actor):
        view = service.fulfil_callup(session=session, actor=actor, callup_id=target, export_ids=ids, now=utcnow(),
                                     zone=context.settings.zone)
        _print(view)
