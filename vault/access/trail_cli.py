"""`evault audit trail`: search the custody trail, or export it as CSV or PDF (auditors)."""

from __future__ import annotations

import uuid
from pathlib import Path

import click

from vault.access import report
from vault.access.trail import TrailFilter, local_moment, search_trail
from vault.cli_support import OpenVault, acting_session, friendly_errors
from vault.db import utcnow


def trail_command(open_vault: OpenVault) -> click.Command:
    """Return the `audit trail` command; the composition root hands in how to open (and migrate) the vault."""

    @click.command("trail")
    @click.option("--record", "evidence_id", type=click.UUID, default=None, help="Evidence record id.")
    @click.option("--case", "case_number", default=None, help="Case number (案号), any bracket variant.")
    @click.option("--user", "user_name", default=None, help="User name: their acts and decisions on their requests.")
    @click.option("--since", default=None, help="From this date or time (a date is the agency's local day).")
    @click.option("--until", default=None, help="Up to this date (inclusive) or time (exclusive).")
    @click.option("--action", "actions", multiple=True, help="Custody action (evidence:viewed); repeatable; * for all. "
                                                              "Default: the access events.")
    @click.option("--format", "fmt", type=click.Choice(["table", "csv", "pdf", "html"]), default="table",
                  show_default=True, help="csv, pdf and html are exports, logged in the custody log.")
    @click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="File to write the export to (needed for pdf; csv and html go to standard output otherwise).")
    @click.option("--offset", type=int, default=0, show_default=True, help="Table: skip this many events.")
    @click.option("--limit", type=int, default=100, show_default=True, help="Table: show at most this many events.")
    @click.pass_context
    @friendly_errors
    def trail(
        ctx: click.Context, evidence_id: uuid.UUID | None, case_number: str | None, user_name: str | None,
        since: str | None, until: str | None, actions: tuple[str, ...], fmt: str, output: Path | None, offset: int,
        limit: int,
    ) -> None:
        """Search the custody trail by record, case, user, time and action (auditors), with readable names."""
        if fmt == "pdf" and output is None:
            raise click.UsageError("a PDF export needs --output FILE")
        with acting_session(ctx.obj["as"], open_vault=open_vault) as (context, session, actor):
            zone, settings = context.settings.zone, context.settings
            wanted = TrailFilter(evidence_id=evidence_id, case_number=case_number, user_name=user_name,
                                 since=local_moment(since, zone) if since else None,
                                 until=local_moment(until, zone, end=True) if until else None, actions=actions)
            if fmt == "table":
                page = search_trail(session=session, actor=actor, wanted=wanted, now=utcnow(),
                                    idle_seconds=settings.playback_idle_seconds, offset=offset, limit=limit)
                for entry in page.entries:
                    at = entry.event.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
                    click.echo(f"{entry.event.log_index}\t{at}\t{entry.actor}\t{entry.event.action}\t{entry.subject}\t"
                               f"{report.summarise(entry.event)}")
                click.echo(f"{len(page.entries)} of {page.total} event(s) (共 {page.total} 条)", err=True)
                return
            body = report.export_trail(session=session, actor=actor, wanted=wanted, fmt=fmt, now=utcnow(),
                                       idle_seconds=settings.playback_idle_seconds, zone=zone,
                                       agency=settings.agency_name)
        data = body.encode("utf-8") if isinstance(body, str) else body
        if output is None:
            click.echo(data.decode("utf-8"), nl=False)
            return
        output.write_bytes(data)
        click.echo(f"exported to {output} (已导出，导出已记入监督日志)", err=True)

    return trail
