"""The `evault` command line: operate a vault on this machine."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from evault.setup import initialise, open_vault
from vault.cases import service as cases
from vault.cases.models import CaseStatus, PartyKind
from vault.cli_support import acting_session, cli_settings, friendly_errors
from vault.custody.browse import cli_actor, record_verification
from vault.custody.verification import verify_anchored_log
from vault.db import utcnow
from vault.identities import service as identities
from vault.identities.cli import read_new_password
from vault.identities.sign_in import set_password


@click.group()
@click.option(
    "--as",
    "acting_as",
    envvar="EVAULT_CLI_USER",
    default="admin",
    show_default=True,
    help="User the command acts as (recorded in the custody log).",
)
@click.pass_context
def main(ctx: click.Context, acting_as: str) -> None:
    """Evidence Vault (evault): write-once store for enforcement audio-visual records (执法音像记录)."""
    ctx.obj = {"as": acting_as}


@main.command()
@click.option("--admin", "admin_name", default="admin", show_default=True, help="Name of the first admin.")
@friendly_errors
def init(admin_name: str) -> None:
    """Create the vault home, database, signing key and first admin."""
    settings = cli_settings()
    result = initialise(settings, admin_name=admin_name)
    click.echo(f"vault home: {settings.home.resolve()}")
    if result.admin_token:
        click.echo(f"admin user '{result.admin_name}' created. Web sign-in password and API token "
                   "(shown once, keep them safe):")
        click.echo(f"password: {result.admin_password}")
        click.echo(result.admin_token)
    else:
        click.echo("already initialised; no new admin created")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--scheduler/--no-scheduler", "embedded_scheduler", default=True, show_default=True,
              help="Run the scheduled jobs in this process too (the embedded default; use `evault worker` instead).")
@friendly_errors
def serve(host: str, port: int, embedded_scheduler: bool) -> None:
    """Run the API (OpenAPI docs at /docs)."""
    import uvicorn

    from evault.app import create_app
    from evault.reconcile import reconcile_in_background
    from evault.scheduler import start_scheduler

    settings = cli_settings(log_level=None)
    if not (settings.keys_dir / "vault-ed25519.pem").exists():
        raise click.ClickException(f"no vault at {settings.home.resolve()}; run `evault init` first")
    context = open_vault(settings)
    context.check_store()
    reconcile_in_background(context)
    click.echo(f"Evidence Vault on http://{host}:{port} (docs: http://{host}:{port}/docs)", err=True)
    scheduler = start_scheduler(context) if embedded_scheduler else None
    try:
        uvicorn.run(create_app(context), host=host, port=port, log_config=None, access_log=False)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)


@main.command("reconcile")
@click.option("--full", is_flag=True, help="Check every stored object, not only the last days' (slow on large stores).")
@friendly_errors
def reconcile_command(full: bool) -> None:
    """Finish stranded uploads, lock committed objects, remove unreferenced ones; print what was done (JSON)."""
    from evault.reconcile import reconcile

    context = open_vault(cli_settings())
    try:
        click.echo(json.dumps(reconcile(context, full=full), ensure_ascii=False, indent=1))
    finally:
        context.close()


@main.command()
@friendly_errors
def worker() -> None:
    """Run the scheduled jobs (retention sweep, fixity audit, lock reconciliation, ...) until stopped."""
    from evault.reconcile import reconcile_in_background
    from evault.scheduler import run_worker

    settings = cli_settings(log_level=None)
    context = open_vault(settings)
    try:
        context.check_store()
        reconcile_in_background(context)
        click.echo("Evidence Vault worker running; stop with Ctrl-C or SIGTERM", err=True)
        run_worker(context)
    finally:
        context.close()


@main.group()
def users() -> None:
    """Manage users."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, help="officer|reviewer|approver|records_manager|auditor|admin")
@click.option("--display-name", default="")
@click.option("--handler", "handler_cert", default=None, help="Certificate number (执法证号) to link.")
@click.option("--password", "with_password", is_flag=True, help="Ask for a web sign-in password.")
@click.option("--password-stdin", is_flag=True, help="Read the web sign-in password from one line of stdin.")
@click.pass_context
@friendly_errors
def users_add(ctx: click.Context, name: str, role: str, display_name: str, handler_cert: str | None,
              with_password: bool, password_stdin: bool) -> None:
    """Add a user with a role, optionally with a password for the web app."""
    parsed = identities.parse_role(role)
    password = read_new_password(password_stdin) if with_password or password_stdin else None
    with acting_session(ctx.obj["as"], open_vault=open_vault) as (_, session, actor):
        user = identities.create_user(
            session=session,
            actor=actor,
            name=name,
            role=parsed,
            display_name=display_name,
            handler_certificate=handler_cert,
        )
        if password is not None:
            set_password(session=session, actor=actor, user=user, password=password, now=utcnow())
        click.echo(f"user '{user.name}' ({user.role.value}) created")


@users.command("link")
@click.argument("name")
@click.argument("certificate_number")
@click.pass_context
@friendly_errors
def users_link(ctx: click.Context, name: str, certificate_number: str) -> None:
    """Link a user to a registered handler by certificate number (执法证号)."""
    with acting_session(ctx.obj["as"], open_vault=open_vault) as (_, session, actor):
        user = identities.get_user(session=session, name=name)
        identities.link_user_to_handler(session=session, actor=actor, user=user, certificate_number=certificate_number)
        click.echo(f"user '{name}' linked to handler {certificate_number}")


@users.command("list")
@click.pass_context
@friendly_errors
def users_list(ctx: click.Context) -> None:
    """List users."""
    with acting_session(ctx.obj["as"], open_vault=open_vault) as (_, session, actor):
        for user in identities.list_users(session=session, actor=actor):
            click.echo(f"{user.name}\t{user.role.value}\t{'active' if user.active else 'disabled'}")


@main.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("create")
@click.argument("name")
@click.option("--label", default="")
@click.pass_context
@friendly_errors
def tokens_create(ctx: click.Context, name: str, label: str) -> None:
    """Create an API token for a user; it is shown once."""
    with acting_session(ctx.obj["as"], open_vault=open_vault) as (_, session, actor):
        user = identities.get_user(session=session, name=name)
        click.echo(identities.issue_token(session=session, actor=actor, user=user, label=label))


@main.group()
def handlers() -> None:
    """Manage the handler registry (执法人员及执法证)."""


@handlers.command("add")
@click.option("--cert", "certificate_number", required=True, help="Certificate number (执法证号).")
@click.option("--name", required=True)
@click.option("--unit", default="")
@click.option("--category", default="")
@click.option("--valid-from", required=True, help="YYYY-MM-DD")
@click.option("--valid-until", required=True, help="YYYY-MM-DD")
@click.option("--status", default="valid", show_default=True, help="valid|suspended|revoked")
@click.pass_context
@friendly_errors
def handlers_add(ctx: click.Context, /, **fields: str) -> None:
    """Register one handler and their certificate."""
    data = identities.parse_handler(fields)
    with acting_session(ctx.obj["as"], open_vault=open_vault) as (_, session, actor):
        handler = identities.add_handler(session=session, actor=actor, data=data)
        click.echo(f"handler {handler.name} ({handler.certificate_number}) registered")


@handlers.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
@friendly_errors
def handlers_import(ctx: click.Context, csv_file: Path) -> None:
    """Import handlers from CSV: certificate_number,name,unit,category,valid_from,valid_until,status."""
    text = csv_file.read_text(encoding="utf-8-sig")
    with acting_session(ctx.obj["as"], open_vault=open_vault) as (_, session, actor):
        imported = identities.import_handlers_csv(session=session, actor=actor, text=text)
        click.echo(f"{len(imported)} handlers imported")


@handlers.command("list")
@click.pass_context
@friendly_errors
def handlers_list(ctx: click.Context) -> None:
    """List handlers."""
    with acting_session(ctx.obj["as"], open_vault=open_vault) as (_, session, _actor):
        for h in identities.list_handlers(session=session):
            click.echo(f"{h.certificate_number}\t{h.name}\t{h.unit}\t{h.valid_from}..{h.valid_until}\t{h.status.value}")


@main.group("cases")
def cases_group() -> None:
    """Manage cases (案件)."""


@cases_group.command("add")
@click.argument("case_number")
@click.option(
    "--type",
    "case_type",
    required=True,
    help="routine_inspection|simple_procedure|"
    "general_procedure_penalty|administrative_coercion|licensing|complaint_verification",
)
@click.option("--title", default="")
@click.pass_context
@friendly_errors
def cases_add(ctx: click.Context, case_number: str, case_type: str, title: str) -> None:
    """Add a case by its case number (案号)."""
    parsed = cases.parse_case_type(case_type)
    with acting_session(ctx.obj["as"], open_vault=open_vault) as (_, session, actor):
        case = cases.add_case(session=session, actor=actor, case_number=case_number, case_type=parsed, title=title)
        click.echo(f"case {case.case_number} created")


@cases_group.command("list")
@click.pass_context
@friendly_errors
def cases_list(ctx: click.Context) -> None:
    """List cases."""
    with acting_session(ctx.obj["as"], open_vault=open_vault) as (_, session, actor):
        for case in cases.list_cases(session=session, actor=actor):
            click.echo(f"{case.case_number}\t{case.case_type.value}\t{case.status.value}")


@cases_group.command("status")
@click.argument("case_number")
@click.argument("status", type=click.Choice([s.value for s in CaseStatus]))
@click.pass_context
@friendly_errors
def cases_status(ctx: click.Context, case_number: str, status: str) -> None:
    """Close (closed), archive (archived) or reopen (open) a case."""
    with acting_session(ctx.obj["as"], open_vault=open_vault) as (_, session, actor):
        case = cases.find_case(session=session, case_number=case_number)
        cases.change_case_status(session=session, actor=actor, case=case, status=CaseStatus(status))
        click.echo(f"case {case.case_number} is now {status}")


@main.group("parties")
def parties_group() -> None:
    """Manage parties (当事人)."""


@parties_group.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice([k.value for k in PartyKind]), default="person", show_default=True)
@click.option("--legal-representative", default="")
@click.option("--id-number", default=None, help="Stored encrypted, shown masked.")
@click.option("--phone", default=None, help="Stored encrypted, shown masked.")
@click.option("--address", default=None, help="Stored encrypted, shown masked.")
@click.option("--case", "case_number", default=None, help="Case number (案号) to link the party to.")
@click.pass_context
@friendly_errors
def parties_add(
    ctx: click.Context,
    name: str,
    kind: str,
    legal_representative: str,
    id_number: str | None,
    phone: str | None,
    address: str | None,
    case_number: str | None,
) -> None:
    """Add a party, optionally linked to a case."""
    data = cases.PartyInput(
        kind=PartyKind(kind),
        name=name,
        legal_representative=legal_representative,
        id_number=id_number,
        phone=phone,
        address=address,
    )
    with acting_session(ctx.obj["as"], open_vault=open_vault) as (context, session, actor):
        case = cases.find_case(session=session, case_number=case_number) if case_number else None
        party = cases.add_party(session=session, actor=actor, cipher=context.cipher, data=data, case=case)
        click.echo(f"party {party.name} created ({party.id})")


@main.group()
def audit() -> None:
    """Check the custody log."""


@audit.command("verify")
@click.pass_context
@friendly_errors
def audit_verify(ctx: click.Context) -> None:
    """Re-check every custody entry against the catalog's checkpoints and every anchored one; exit 1 naming each
    broken entry or range. The verdict is kept as the log's last verification, with who ran it (--as)."""
    settings = cli_settings()
    context = open_vault(settings)
    try:
        with context.sessions() as session:
            started, at = time.monotonic(), utcnow()
            verdict = verify_anchored_log(session=session, anchors=context.anchors)
            record_verification(session=session, verdict=verdict, ran_by=cli_actor(session, ctx.obj["as"]),
                                via="cli", at=at, seconds=time.monotonic() - started)
            session.commit()
    finally:
        context.close()
    for anchored in verdict.anchored:
        click.echo(f"  {anchored}")
    if verdict.unanchored:
        click.echo(f"  {verdict.unanchored} newest checkpoints are not anchored yet (the anchor job catches up)")
    if verdict.ok:
        click.echo(f"custody log OK: {verdict.entries} entries, {verdict.checkpoints} signed checkpoints and "
                   f"{len(verdict.anchored)} anchored checkpoints verified")
        return
    for problem in verdict.problems:
        click.echo(f"custody log BROKEN: {problem}", err=True)
    sys.exit(1)


from ingest.cli import dock as ingest_dock  # noqa: E402 - commands of other packages join the group last
from ingest.cli import upload as ingest_upload  # noqa: E402

main.add_command(ingest_upload)
main.add_command(ingest_dock)

from retention.cli import calendar_group  # noqa: E402
from retention.cli import retention as retention_group  # noqa: E402

main.add_command(retention_group)
main.add_command(calendar_group)

from vault.identities.cli import HANDLER_COMMANDS, TOKEN_COMMANDS, USER_COMMANDS  # noqa: E402

for _group, _commands in ((users, USER_COMMANDS), (tokens, TOKEN_COMMANDS), (handlers, HANDLER_COMMANDS)):
    for _command in _commands:
        _group.add_command(_command)

from vault.exports.cli import export_command, verify_bundle_command  # noqa: E402

main.add_command(export_command(open_vault))
main.add_command(verify_bundle_command)

from vault.callups.cli import callups_group  # noqa: E402

main.add_command(callups_group)

from vault.custody.witness_cli import witness_group  # noqa: E402

main.add_command(witness_group)
