"""`evault login`, `evault logout` and `evault whoami`: signing in as a person, and out again.

Only click and the foundation load with this module. Exit statuses: 0 done; 3 a wrong name or password (a disabled
account answers the same), an expired or refused token; 5 the account is locked; 75 the vault stayed away; 78 no
server. Two people on one machine each keep their own credentials: their own OS user, or their own
EVAULT_CLIENT_DIR."""

from __future__ import annotations

import socket
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from evault_client.cli import VaultCommand
from evault_client.context import Invocation, current
from evault_client.credentials import StoredCredential
from evault_client.errors import CommandFailed
from evault_client.exits import Exit
from evault_client.output import local_time

if TYPE_CHECKING:
    from evault_client.http import ApiClient

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@click.command(cls=VaultCommand)
@click.option("--server", "server", metavar="URL", help="The vault to sign in to (default: as for every command).")
@click.option("--user", "name", metavar="NAME", help="Your user name (asked for when left out).")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of standard input.")
@click.option("--device", is_flag=True, help="Sign in through the agency's identity provider (OIDC device code).")
def login(server: str | None, name: str | None, password_stdin: bool, device: bool) -> None:
    """Sign in to a vault; later commands act as you until the sign-in expires or you log out."""
    run = current()
    if server:
        run.server_option = server
    _warn_if_plain_http(run)
    public = run.public_api()
    try:
        about = public.get("/api/about")
        if device:
            from evault_client.device_flow import device_sign_in

            token, user, expires_at = device_sign_in(run, about)
            method = "oidc"
        else:
            token, user, expires_at = _password_sign_in(run, public, name, password_stdin)
            method = "password"
    finally:
        public.close()
    credential = StoredCredential(server=run.server, user=str(user["name"]), token=token, expires_at=expires_at,
                                  method=method, timezone=about.get("timezone"))
    where = run.credentials.put(credential)
    _signed_in_message(run, user, expires_at, where, about.get("timezone"))


def _password_sign_in(run: Invocation, public: ApiClient, name: str | None,
                      password_stdin: bool) -> tuple[str, dict[str, Any], str]:
    if not name:
        name = click.prompt(run.text("用户名", "User name"), err=True).strip()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(run.text("密码", "Password"), hide_input=True, err=True)
    if not password:
        raise CommandFailed("no_password", run.text("未提供密码", "no password given"), exit_status=Exit.USAGE)
    label = f"evault login on {socket.gethostname()}"[:128]
    answer = public.post("/api/sign-in/token", {"name": name, "password": password, "label": label})
    return str(answer["token"]), answer["user"], str(answer["expires_at"])


def _signed_in_message(run: Invocation, user: dict[str, Any], expires_at: str | None, where: str,
                       zone_name: str | None) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        zone = ZoneInfo(zone_name) if zone_name and not run.environ.get("EVAULT_TIMEZONE") else run.zone
    except (ZoneInfoNotFoundError, ValueError):
        zone = run.zone
    until = local_time(expires_at, zone) if expires_at else run.text("不过期", "never")
    run.out.document({"server": run.server, "user": user, "expires_at": expires_at, "stored_in": where},
                     human=run.text(f"已登录 {run.server}：{user['name']}（{user['role']}），"
                                    f"有效期至 {until}；凭据存于 {where}",
                                    f"signed in to {run.server} as {user['name']} ({user['role']}), "
                                    f"until {until}; credential kept in {where}"))


def _warn_if_plain_http(run: Invocation) -> None:
    parts = urlsplit(run.server)
    if parts.scheme == "http" and (parts.hostname or "") not in LOOPBACK:
        click.echo(run.text(f"警告：{run.server} 未加密（http://），密码和令牌可能被他人截获；请使用 https://",
                            f"warning: {run.server} is plain http://: the password and token can be read on the "
                            "way; use https://"), err=True)


@click.command(cls=VaultCommand)
def logout() -> None:
    """End your sign-in on the vault and forget it here (forgotten here even when the vault is away)."""
    run = current()
    stored = run.stored
    if stored is None:
        run.out.document({"server": run.server, "signed_out": False, "ended_on_server": False},
                         human=run.text(f"未登录 {run.server}", f"not signed in to {run.server}"))
        return
    from evault_client.http import ApiClient

    ended, why = True, ""
    client = ApiClient(run.server, stored.token)
    try:
        client.post("/api/sign-out/token")
    except CommandFailed as failure:
        # Away, or the token already gone (expired, revoked): forgetting it here is what matters now.
        ended, why = failure.exit_status == Exit.AUTHENTICATION, failure.message
    finally:
        client.close()
    run.credentials.remove(run.server)
    human = (run.text(f"已退出 {run.server}（{stored.user}）", f"signed out of {run.server} ({stored.user})")
             if ended else run.text(f"已在本机忘记 {run.server} 的登录，但未能在服务器上结束它：{why}",
                                    f"forgot the sign-in to {run.server} here, but could not end it on the "
                                    f"server: {why}"))
    run.out.document({"server": run.server, "user": stored.user, "signed_out": True, "ended_on_server": ended},
                     human=human)


@click.command(cls=VaultCommand)
def whoami() -> None:
    """Show who you are signed in as: name, role, server and when the sign-in expires."""
    run = current()
    me = run.api.get("/api/me")
    stored = run.stored if not run.environ.get("EVAULT_TOKEN") else None
    expires_at = stored.expires_at if stored else None
    via = "EVAULT_TOKEN" if run.environ.get("EVAULT_TOKEN") else (stored.method if stored else "")
    until = local_time(expires_at, run.zone) if expires_at else run.text("不过期", "never")
    run.out.document({"server": run.server, "user": me, "expires_at": expires_at, "via": via},
                     human=run.text(f"{me['name']}（{me['role']}）@ {run.server}，有效期至 {until}",
                                    f"{me['name']} ({me['role']}) at {run.server}, until {until}"))
