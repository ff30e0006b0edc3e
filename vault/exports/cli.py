"""`evault export`: build an evidence bundle from the host (the bundle check is evault_client.verify_bundle)."""

from __future__ import annotations

import os
import re
import sys
import uuid
from pathlib import Path

import click

from vault.cli_support import OpenVault, acting_as, cli_settings
from vault.context import VaultContext
from vault.db import utcnow
from vault.errors import InvalidInput, VaultError
from vault.exports import service
from vault.exports.bundle import ExportPlan
from vault.exports.models import ExportPurpose
from vault.exports.stream import ExportRun
from vault.identities.actor import Actor
from vault.identities.service import get_active_user


def parse_record_ids(values: tuple[str, ...]) -> list[uuid.UUID]:
    """Return the record IDs given as repeated, comma- or space-separated values."""
    ids = []
    for token in (t for value in values for t in re.split(r"[\s,]+", value) if t):
        try:
            ids.append(uuid.UUID(token))
        except ValueError:
            raise InvalidInput(f"'{token}' is not an evidence record ID") from None
    return ids


def _prepare(context: VaultContext, acting_as: str, request: service.ExportRequest) -> tuple[Actor, ExportPlan]:
    session = context.sessions()
    try:
        actor = Actor.of(get_active_user(session=session, name=acting_as))
        plan = service.prepare_export(session=session, actor=actor, context=context, request=request, now=utcnow())
        session.commit()
        return actor, plan
    except VaultError as exc:
        # A refusal the custody log must keep (e.g. no approval) is committed, like the API does.
        session.commit() if exc.record_kept else session.rollback()
        raise
    finally:
        session.close()


def _write(run: ExportRun, out: Path) -> None:
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("xb") as handle:
            for chunk in run:
                handle.write(chunk)
        # No fsync, like zip: a torn file after a crash fails verify-bundle and the retained SHA-256, never silently.
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def export_command(open_vault: OpenVault) -> click.Command:
    """Return the `export` command; the composition root hands in how to open (and migrate) the vault."""

    @click.command("export")
    @click.argument("case_number")
    @click.option("--purpose", required=True, type=click.Choice([p.value for p in ExportPurpose]))
    @click.option("--recipient", required=True, help="Who receives the bundle (接收方).")
    @click.option("--records", "records", multiple=True, help="Record IDs (repeat, or comma-separated); default: all.")
    @click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Bundle file (.zip).")
    @click.pass_context
    def export(
        ctx: click.Context, case_number: str, purpose: str, recipient: str, records: tuple[str, ...], out: Path
    ) -> None:
        """Build an evidence bundle (证据包) of a case (案号) for court, reconsideration, filing review or a party."""
        if out.exists():
            raise click.ClickException(f"{out} already exists; a bundle never overwrites a file")
        settings = cli_settings()
        user_name = acting_as(ctx)
        try:
            ids = parse_record_ids(records)
            request = service.ExportRequest(case_number, ExportPurpose(purpose), recipient, ids or None)
            context = open_vault(settings)
            try:
                actor, plan = _prepare(context, user_name, request)
                run = ExportRun(context=context, actor=actor, plan=plan)
                _write(run, out)
            finally:
                context.close()
        except VaultError as exc:
            click.echo(f"error ({exc.code}): {exc.message}", err=True)
            sys.exit(2)
        assert run.result is not None
        click.echo(f"bundle {out}: {len(plan.records)} record(s), {plan.payload_bytes} bytes of originals")
        if plan.withheld:
            withheld = ", ".join(map(str, plan.withheld))
            click.echo(f"confidential records withheld from this party copy (000 第九条): {len(plan.withheld)}: "
                       f"{withheld}")
        click.echo(
            f"export id {plan.export_id}; bundle SHA-256 {run.result.bundle_sha256} ({run.result.bundle_size} bytes)"
        )
        click.echo("retained copy (复制留存) recorded; check the bundle with `evault verify-bundle`")

    return export

