"""`evault users|tokens|handlers ...` commands that change people: disable, roles, tokens, certificate history."""

from __future__ import annotations

import sys
import uuid
from datetime import date

import click

from vault.cli_support import acting_as, acting_session, friendly_errors
from vault.db import utcnow
from vault.errors import InvalidInput
from vault.identities import service
from vault.identities.certificates import CertificateChangeInput, certificate_state, change_certificate
from vault.identities.models import CertificateChange
from vault.identities.sign_in import set_password


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option} must be a date YYYY-MM-DD, not '{value}'") from None


@click.command("disable")
@click.argument("name")
@click.option("--reason", default="", help="Why (kept in the custody log).")
@click.pass_context
@friendly_errors
def users_disable(ctx: click.Context, name: str, reason: str) -> None:
    """Disable a user: their tokens are revoked and they can no longer sign in."""
    with acting_session(acting_as(ctx)) as (_, session, actor):
        user = service.get_user(session=session, name=name)
        service.set_user_active(session=session, actor=actor, user=user, active=False, reason=reason, now=utcnow())
        click.echo(f"user '{name}' disabled; their tokens are revoked")


def read_new_password(from_stdin: bool) -> str:
    """Read a new password from one line of stdin, or ask for it twice without echoing it."""
    if from_stdin:
        line: str = sys.stdin.readline()
        return line.rstrip("\r\n")
    return str(click.prompt("新密码 (new password)", hide_input=True, confirmation_prompt=True))


@click.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin instead of asking.")
@click.pass_context
@friendly_errors
def users_set_password(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set or reset a user's web sign-in password (Argon2id); an admin may reset anyone's."""
    password = read_new_password(password_stdin)
    with acting_session(acting_as(ctx)) as (_, session, actor):
        user = service.get_user(session=session, name=name)
        set_password(session=session, actor=actor, user=user, password=password, now=utcnow())
        click.echo(f"用户 '{name}' 的密码已设置 (password set; any lockout is cleared)")


@click.command("enable")
@click.argument("name")
@click.option("--reason", default="", help="Why (kept in the custody log).")
@click.pass_context
@friendly_errors
def users_enable(ctx: click.Context, name: str, reason: str) -> None:
    """Enable a disabled user again; issue them a new token with `evault tokens create`."""
    with acting_session(acting_as(ctx)) as (_, session, actor):
        user = service.get_user(session=session, name=name)
        service.set_user_active(session=session, actor=actor, user=user, active=True, reason=reason, now=utcnow())
        click.echo(f"user '{name}' enabled")


@click.command("role")
@click.argument("name")
@click.argument("role")
@click.option("--reason", default="", help="Why (kept in the custody log).")
@click.pass_context
@friendly_errors
def users_role(ctx: click.Context, name: str, role: str, reason: str) -> None:
    """Change a user's role (officer|reviewer|approver|records_manager|auditor|admin)."""
    parsed = service.parse_role(role)
    with acting_session(acting_as(ctx)) as (_, session, actor):
        user = service.get_user(session=session, name=name)
        previous = user.role
        service.change_user_role(session=session, actor=actor, user=user, role=parsed, reason=reason, now=utcnow())
        click.echo(f"user '{name}' is now {parsed.value} (was {previous.value})")


@click.command("list")
@click.argument("name", required=False)
@click.pass_context
@friendly_errors
def tokens_list(ctx: click.Context, name: str | None) -> None:
    """List a user's tokens (default: your own): id, label, created, revoked."""
    with acting_session(acting_as(ctx)) as (_, session, actor):
        user = service.get_user(session=session, name=name or actor.name)
        for token in service.list_tokens(session=session, actor=actor, user=user):
            revoked = f"revoked {token.revoked_at.isoformat(timespec='seconds')}" if token.revoked_at else "active"
            click.echo(f"{token.id}\t{token.label or '-'}\t{token.created_at.isoformat(timespec='seconds')}\t{revoked}")


@click.command("revoke")
@click.argument("token_id")
@click.pass_context
@friendly_errors
def tokens_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke a token by its id (from `evault tokens list`); it stops working at once."""
    try:
        parsed = uuid.UUID(token_id)
    except ValueError:
        raise InvalidInput(f"'{token_id}' is not a token id") from None
    with acting_session(acting_as(ctx)) as (_, session, actor):
        service.revoke_token(session=session, actor=actor, token_id=parsed, now=utcnow())
        click.echo(f"token {parsed} revoked")


@click.command("show")
@click.argument("certificate_number")
@click.option("--on", "on_day", default=None, help="Day to judge validity on, YYYY-MM-DD (default: today).")
@click.pass_context
@friendly_errors
def handlers_show(ctx: click.Context, certificate_number: str, on_day: str | None) -> None:
    """Show a certificate's history and whether it was valid on a day."""
    with acting_session(acting_as(ctx)) as (context, session, _actor):
        handler = service.find_handler(session=session, certificate_number=certificate_number)
        day = _day(on_day, "--on") or utcnow().astimezone(context.settings.zone).date()
        click.echo(f"{handler.certificate_number}\t{handler.name}\t{handler.unit}")
        for e in handler.certificate_changes:
            window = f"\t{e.valid_from}..{e.valid_until}" if e.valid_from else ""
            voids = f"\tvoids {e.voids_id}" if e.voids_id else ""
            click.echo(f"  {e.sequence}. {e.effective_on}\t{e.kind.value}{window}{voids}\t{e.reason}\t"
                       f"({e.recorded_by}, {e.id})")
        state = certificate_state(handler, day)
        verdict = "VALID" if state and state.valid_on(day) else "NOT VALID"
        detail = f"{state.status.value}, {state.valid_from}..{state.valid_until}" if state else "not yet issued"
        click.echo(f"on {day}: {verdict} ({detail})")


def _change_command(name: str, kind: CertificateChange, summary: str, *, window: bool = False) -> click.Command:
    @click.pass_context
    @friendly_errors
    def run(ctx: click.Context, certificate_number: str, effective: str, reason: str,
            valid_from: str | None = None, valid_until: str | None = None, voids: str | None = None) -> None:
        try:
            voided = uuid.UUID(voids) if voids else None
        except ValueError:
            raise InvalidInput(f"--voids must be a history entry id, not '{voids}'") from None
        change = CertificateChangeInput(
            kind=kind, effective_on=_day(effective, "--effective") or date.min, reason=reason,
            valid_from=_day(valid_from, "--valid-from"), valid_until=_day(valid_until, "--valid-until"), voids=voided)
        with acting_session(acting_as(ctx)) as (_, session, actor):
            handler = service.find_handler(session=session, certificate_number=certificate_number)
            event = change_certificate(session=session, actor=actor, handler=handler, change=change, now=utcnow())
            click.echo(f"certificate {handler.certificate_number}: {kind.value} from {event.effective_on} "
                       f"(entry {event.id}); latest status {handler.status.value}")

    params: list[click.Parameter] = [
        click.Argument(["certificate_number"]),
        click.Option(["--effective"], required=True, help="Day the change takes effect, YYYY-MM-DD."),
        click.Option(["--reason"], required=True, help="Why (kept with the history and in the custody log)."),
    ]
    if window:
        params += [click.Option(["--valid-from"], default=None, help="YYYY-MM-DD"),
                   click.Option(["--valid-until"], default=None, required=kind == CertificateChange.RENEWED,
                                help="YYYY-MM-DD")]
    if kind == CertificateChange.CORRECTED:
        params.append(click.Option(["--voids"], default=None, help="Id of the history entry recorded in error."))
    return click.Command(name, callback=run, params=params, help=summary)


HANDLER_COMMANDS = (
    handlers_show,
    _change_command("suspend", CertificateChange.SUSPENDED, "Suspend a certificate (暂扣) from a day."),
    _change_command("reinstate", CertificateChange.REINSTATED, "End a certificate's suspension (发还) from a day."),
    _change_command("revoke", CertificateChange.REVOKED, "Revoke a certificate (吊销) from a day, for good."),
    _change_command("renew", CertificateChange.RENEWED, "Renew a certificate (换证): a new validity window.",
                    window=True),
    _change_command("correct", CertificateChange.CORRECTED,
                    "Correct a registry error: the window, or an entry (--voids).", window=True),
)
USER_COMMANDS = (users_disable, users_enable, users_role, users_set_password)
TOKEN_COMMANDS = (tokens_list, tokens_revoke)
