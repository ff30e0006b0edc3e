"""`evault retention ...`: report, policy, holds, long-term markers, reclassification, disposition, jobs."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from retention import disposition, holds, holidays, policy_approval, reclassification, recovery, service
from retention.jobs import RETENTION_JOBS
from retention.models import DisposalStatus, MarkerKind, PolicyChangeRequest, RetentionClass
from retention.report import ArchivingDeadline, RetentionReport, build_report, list_archiving_deadlines, local_time
from vault.cases.service import find_case
from vault.cli_support import acting_as, acting_session, cli_settings, friendly_errors
from vault.context import build_context
from vault.db import utcnow


@click.group()
def retention() -> None:
    """Retention (保存期限), legal holds, disposition (销毁) and fixity."""


def _print_report(report: RetentionReport) -> None:
    def day(value: datetime | None) -> str:
        return value.date().isoformat() if value else "indefinite"

    click.echo(f"retention report at {report.generated_at.isoformat(timespec='seconds')}")
    for title, lines in (("due for disposition", report.due), ("coming due", report.coming_due),
                         ("under legal hold", report.held), ("failed fixity", report.failed_fixity)):
        click.echo(f"\n{title}: {len(lines)}")
        for line in lines:
            click.echo(f"  {line.evidence_id}\t{line.case_number or '-'}\t{day(line.retain_until)}\t{line.note}")
    click.echo(f"\npending destruction (cancellable until destroyed): {len(report.pending_destruction)}")
    for pending in report.pending_destruction:
        click.echo(f"  {pending.evidence_id}\t{pending.case_number or '-'}\tdestroyed after "
                   f"{pending.destroy_after_local}\tapproved by {pending.approved_by}\trequest {pending.request_id}")
    click.echo(f"\nkept (disposal cancelled): {len(report.kept)}")
    for line in report.kept:
        click.echo(f"  {line.evidence_id}\t{line.case_number or '-'}\t{day(line.retain_until)}\t{line.note}")
    click.echo(f"\noverdue for archiving (归档, {len(report.overdue_archiving)} cases):")
    for item in report.overdue_archiving:
        _print_deadline(item)


def _print_deadline(item: ArchivingDeadline) -> None:
    flag = "PROVISIONAL deadline " if item.provisional else "deadline "
    click.echo(f"  {item.case_number}\tclosed {item.closed_on}\t{flag}{item.deadline}\t"
               f"{item.overdue_working_days} working days overdue\t({item.calendar_note})")


@retention.command("report")
@click.pass_context
@friendly_errors
def report_command(ctx: click.Context) -> None:
    """Show what is due, held, overdue for archiving, and failed fixity."""
    with acting_session(acting_as(ctx)) as (context, session, actor):
        _print_report(build_report(session=session, actor=actor, now=utcnow(), zone=context.settings.zone))


@retention.command("deadlines")
@click.pass_context
@friendly_errors
def deadlines_command(ctx: click.Context) -> None:
    """Show every closed case's archiving deadline (归档期限); provisional ones say why."""
    with acting_session(acting_as(ctx)) as (context, session, actor):
        lines = list_archiving_deadlines(session=session, actor=actor, now=utcnow(), zone=context.settings.zone)
        click.echo(f"archiving deadlines (归档期限, {len(lines)} closed cases):")
        for line in lines:
            _print_deadline(line)


@click.group("calendar")
def calendar_group() -> None:
    """Working days (工作日): load the State Council's holiday notice for a year, and show a year."""


@calendar_group.command("load")
@click.argument("notice_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
@friendly_errors
def calendar_load(ctx: click.Context, notice_file: Path) -> None:
    """Load (or replace) one year of holidays from a JSON notice file (see docs/holiday-calendar-2025.json)."""
    try:
        text = notice_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {notice_file}: {exc}") from None
    notice = holidays.parse_notice_text(text)
    with acting_session(acting_as(ctx)) as (_, session, actor):
        holidays.load_holiday_year(session=session, actor=actor, notice=notice, now=utcnow())
    click.echo(f"{notice.year}: {len(notice.holidays)} days off and {len(notice.working_days)} make-up working days "
               f"loaded from {notice.source}")


@calendar_group.command("show")
@click.argument("year", type=int)
@click.pass_context
@friendly_errors
def calendar_show(ctx: click.Context, year: int) -> None:
    """Show a year's weekdays off and working weekends as deadlines count them, and where they come from."""
    with acting_session(acting_as(ctx)) as (_, session, actor):
        shown = holidays.describe_year(session=session, actor=actor, year=year)
    if shown.provisional:
        click.echo(f"{year}: no holiday calendar; deadlines in {year} count Monday-Friday only and are PROVISIONAL "
                   "until the State Council's notice is loaded (`evault calendar load FILE`)")
        return
    click.echo(f"{year}: {shown.source}")
    click.echo("weekdays off (放假): " + (", ".join(d.isoformat() for d in shown.holidays) or "none"))
    click.echo("working weekends (调休上班): " + (", ".join(d.isoformat() for d in shown.working_days) or "none"))


@retention.command("run")
@click.argument("job", type=click.Choice(sorted(RETENTION_JOBS)))
@friendly_errors
def run_command(job: str) -> None:
    """Run one retention job now, outside the scheduler, and print its summary."""
    context = build_context(cli_settings())
    try:
        click.echo(json.dumps(RETENTION_JOBS[job](context), ensure_ascii=False, indent=2, default=str))
    finally:
        context.close()


@retention.command("show")
@click.argument("evidence_id", type=click.UUID)
@click.pass_context
@friendly_errors
def show_command(ctx: click.Context, evidence_id: uuid.UUID) -> None:
    """Recompute and show one record's retention and its reason."""
    with acting_session(acting_as(ctx)) as (context, session, actor):
        evidence = service.get_evidence_for_retention(session, evidence_id)
        state = service.recompute_retention(session, evidence, utcnow(), store=context.store, actor=actor,
                                            zone=context.settings.zone)
        click.echo(f"{state.retention_class.value}\t{'held' if state.held else 'not held'}\t{state.reason}")


@retention.group("policy")
def policy_group() -> None:
    """Show or change the agency's retention policy (kept with its history)."""


@policy_group.command("show")
@click.pass_context
@friendly_errors
def policy_show(ctx: click.Context) -> None:
    """Print the policy in effect and every version."""
    with acting_session(acting_as(ctx)) as (_, session, actor):
        click.echo(json.dumps(service.current_policy(session, utcnow()).rules(), ensure_ascii=False, indent=2))
        for row in service.policy_history(session=session, actor=actor):
            click.echo(f"version {row.version}\tfrom {row.effective_from.isoformat()}\tby {row.created_by}\t{row.note}")
        for request in policy_approval.list_policy_requests(session=session, actor=actor):
            click.echo(f"pending {request.id}\tshortens {', '.join(request.shortened)}\tby {request.requested_by}\t"
                       f"{json.dumps(request.changes, ensure_ascii=False)}")


@policy_group.command("set")
@click.argument("changes", nargs=-1, required=True)
@click.option("--effective", default=None, help="YYYY-MM-DD (UTC midnight); default: now.")
@click.option("--note", default="")
@click.pass_context
@friendly_errors
def policy_set(ctx: click.Context, changes: tuple[str, ...], effective: str | None, note: str) -> None:
    """Add a policy version: NAME=JSON pairs, e.g. default_years=6 'case_file_years={"licensing": 30}'."""
    parsed: dict[str, Any] = {}
    for change in changes:
        name, _, value = change.partition("=")
        try:
            parsed[name.strip()] = json.loads(value)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"{change}: the value must be JSON") from exc
    now = utcnow()
    try:
        start = datetime.combine(date.fromisoformat(effective), time(), tzinfo=now.tzinfo) if effective else now
    except ValueError:
        raise click.BadParameter(f"{effective}: expected a date YYYY-MM-DD", param_hint="--effective") from None
    with acting_session(acting_as(ctx)) as (_, session, actor):
        row = service.set_policy(session=session, actor=actor, changes=parsed, effective_from=start, note=note,
                                 now=now)
        if isinstance(row, PolicyChangeRequest):
            click.echo(f"policy change {row.id} shortens {', '.join(row.shortened)}: it waits for a second person "
                       f"(`evault retention policy approve {row.id}`)")
        else:
            click.echo(f"policy version {row.version} effective from {row.effective_from.isoformat()}")


@policy_group.command("approve")
@click.argument("request_id", type=click.UUID)
@click.pass_context
@friendly_errors
def policy_approve(ctx: click.Context, request_id: uuid.UUID) -> None:
    """Approve a policy change that shortens a retention default (a second person)."""
    with acting_session(acting_as(ctx)) as (_, session, actor):
        row = policy_approval.approve_policy_change(session=session, actor=actor, request_id=request_id,
                                                    now=utcnow())
        click.echo(f"policy version {row.version} effective from {row.effective_from.isoformat()}")


@policy_group.command("reject")
@click.argument("request_id", type=click.UUID)
@click.option("--reason", required=True)
@click.pass_context
@friendly_errors
def policy_reject(ctx: click.Context, request_id: uuid.UUID, reason: str) -> None:
    """Reject (or withdraw) a pending policy change."""
    with acting_session(acting_as(ctx)) as (_, session, actor):
        policy_approval.reject_policy_change(session=session, actor=actor, request_id=request_id, reason=reason,
                                             now=utcnow())
        click.echo(f"policy change {request_id} rejected")


def _target(session: Session, record: uuid.UUID | None, case_number: str | None) -> tuple[uuid.UUID | None, Any]:
    if (record is None) == (case_number is None):
        raise click.UsageError("name either --record or --case")
    return record, find_case(session=session, case_number=case_number) if case_number else None


@retention.command("hold")
@click.option("--record", type=click.UUID, default=None)
@click.option("--case", "case_number", default=None, help="Case number (案号).")
@click.option("--reason", required=True)
@click.pass_context
@friendly_errors
def hold_command(ctx: click.Context, record: uuid.UUID | None, case_number: str | None, reason: str) -> None:
    """Place a legal hold on a record or a whole case."""
    with acting_session(acting_as(ctx)) as (context, session, actor):
        evidence_id, case = _target(session, record, case_number)
        hold = holds.place_hold(session=session, actor=actor, reason=reason, now=utcnow(), store=context.store,
                                evidence_id=evidence_id, case_id=case.id if case else None)
        click.echo(f"legal hold {hold.id} placed")


@retention.command("release")
@click.argument("hold_id", type=click.UUID)
@click.option("--reason", required=True)
@click.pass_context
@friendly_errors
def release_command(ctx: click.Context, hold_id: uuid.UUID, reason: str) -> None:
    """Release a legal hold."""
    with acting_session(acting_as(ctx)) as (context, session, actor):
        holds.release_hold(session=session, actor=actor, hold_id=hold_id, reason=reason, now=utcnow(),
                           store=context.store)
        click.echo(f"legal hold {hold_id} released")


@retention.command("mark")
@click.option("--record", type=click.UUID, default=None)
@click.option("--case", "case_number", default=None, help="Case number (案号).")
@click.option("--kind", type=click.Choice([k.value for k in MarkerKind]), required=True)
@click.option("--note", default="")
@click.pass_context
@friendly_errors
def mark_command(ctx: click.Context, record: uuid.UUID | None, case_number: str | None, kind: str, note: str) -> None:
    """Mark a record or case for long-term preservation (长期保存)."""
    with acting_session(acting_as(ctx)) as (context, session, actor):
        evidence_id, case = _target(session, record, case_number)
        service.mark_long_term(session=session, actor=actor, kind=MarkerKind(kind), note=note, now=utcnow(),
                               store=context.store, evidence_id=evidence_id, case_id=case.id if case else None,
                               zone=context.settings.zone)
        click.echo("marked for long-term preservation")


@retention.command("reclassify")
@click.argument("evidence_id", type=click.UUID)
@click.argument("to_class", type=click.Choice([c.value for c in RetentionClass]))
@click.option("--reason", required=True)
@click.pass_context
@friendly_errors
def reclassify_command(ctx: click.Context, evidence_id: uuid.UUID, to_class: str, reason: str) -> None:
    """Reclassify a record; a shortening waits for `approve-reclassification` by a second person."""
    with acting_session(acting_as(ctx)) as (context, session, actor):
        request = reclassification.request_reclassification(
            session=session, actor=actor, evidence_id=evidence_id, to_class=RetentionClass(to_class), reason=reason,
            now=utcnow(), store=context.store, zone=context.settings.zone)
        click.echo(f"reclassification {request.id}: {request.status.value}")


@retention.command("approve-reclassification")
@click.argument("request_id", type=click.UUID)
@click.pass_context
@friendly_errors
def approve_reclassification_command(ctx: click.Context, request_id: uuid.UUID) -> None:
    """Approve a pending shortening (second person)."""
    with acting_session(acting_as(ctx)) as (context, session, actor):
        state = reclassification.approve_reclassification(session=session, actor=actor, request_id=request_id,
                                                          now=utcnow(), store=context.store)
        click.echo(state.reason)


@retention.command("propose")
@click.argument("evidence_id", type=click.UUID)
@click.option("--reason", default="retention ended")
@click.pass_context
@friendly_errors
def propose_command(ctx: click.Context, evidence_id: uuid.UUID, reason: str) -> None:
    """Propose destroying a due record (records manager)."""
    with acting_session(acting_as(ctx)) as (context, session, actor):
        request = disposition.propose_disposal(session=session, actor=actor, evidence_id=evidence_id, reason=reason,
                                               now=utcnow(), store=context.store, zone=context.settings.zone)
        click.echo(f"disposal request {request.id} proposed")


@retention.command("approve")
@click.argument("request_id", type=click.UUID)
@click.pass_context
@friendly_errors
def approve_command(ctx: click.Context, request_id: uuid.UUID) -> None:
    """Approve a disposal (second person): pending destruction for the recovery window, then destroyed."""
    with acting_session(acting_as(ctx)) as (context, session, actor):
        request = disposition.approve_disposal(session=session, actor=actor, request_id=request_id, now=utcnow(),
                                               store=context.store, signer=context.signer,
                                               recovery_days=context.settings.disposal_recovery_days,
                                               zone=context.settings.zone)
        if request.status is DisposalStatus.PENDING_DESTRUCTION and request.destroy_after is not None:
            click.echo(f"disposal request {request.id} approved: pending destruction, destroyed after "
                       f"{local_time(request.destroy_after, context.settings.zone)} unless cancelled "
                       f"(`evault retention cancel {request.id} --reason ...`)")
            return
        certificate = disposition.get_certificate(session=session, actor=actor, evidence_id=request.evidence_id)
        click.echo(certificate.body)
        click.echo(f"signature ({certificate.key_id}): {certificate.signature}")


@retention.command("cancel")
@click.argument("request_id", type=click.UUID)
@click.option("--reason", required=True)
@click.pass_context
@friendly_errors
def cancel_command(ctx: click.Context, request_id: uuid.UUID, reason: str) -> None:
    """Cancel a disposal not carried out yet (records manager): the record is kept."""
    with acting_session(acting_as(ctx)) as (_, session, actor):
        request = recovery.cancel_disposal(session=session, actor=actor, request_id=request_id, reason=reason,
                                           now=utcnow())
        click.echo(f"disposal request {request.id} cancelled: record {request.evidence_id} is kept")


@retention.command("disposals")
@click.pass_context
@friendly_errors
def disposals_command(ctx: click.Context) -> None:
    """List open disposals: awaiting approval, and pending destruction with the time they will be destroyed."""
    with acting_session(acting_as(ctx)) as (context, session, actor):
        rows = disposition.list_requests(session=session, actor=actor)
        click.echo(f"open disposal requests: {len(rows)}")
        for row in rows:
            when = (f"destroyed after {local_time(row.destroy_after, context.settings.zone)}"
                    if row.destroy_after else "awaiting approval")
            click.echo(f"  {row.id}\t{row.evidence_id}\t{row.status.value}\t{when}\tproposed by {row.proposed_by}"
                       f"\t{row.reason}")
