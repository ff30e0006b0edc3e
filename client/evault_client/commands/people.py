"""`evault users|tokens|handlers ...`: people, their API tokens, and the handler registry (执法人员及执法证)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from evault_client.cli import VaultGroup
from evault_client.commands import segment
from evault_client.context import current
from evault_client.output import Column, clip

ROLES = ["officer", "reviewer", "approver", "records_manager", "auditor", "admin"]


def read_new_password(from_stdin: bool) -> str:
    """Read a new password from one line of stdin, or ask for it twice without echoing it."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("新密码 (new password)", hide_input=True, confirmation_prompt=True))


@click.group(cls=VaultGroup)
def users() -> None:
    """Manage users (admins): add, disable, enable, change role, reset a password, link to a certificate."""


@users.command("list")
def users_list() -> None:
    """List users: name, display name, role, certificate, state."""
    run = current()
    run.out.rows(run.api.get("/api/users"), [
        Column(run.text("用户", "NAME"), "name"), Column(run.text("姓名", "DISPLAY NAME"), "display_name"),
        Column(run.text("角色", "ROLE"), "role"), Column(run.text("执法证号", "CERTIFICATE"), "handler_certificate"),
        Column(run.text("状态", "STATE"), lambda u: "active" if u["active"] else "disabled"),
        Column(run.text("创建时间", "CREATED"), "created_at", time=True)])


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--display-name", default="")
@click.option("--handler", "handler_cert", default=None, help="Certificate number (执法证号) to link.")
@click.option("--password", "with_password", is_flag=True, help="Ask for a web sign-in password.")
@click.option("--password-stdin", is_flag=True, help="Read the web sign-in password from one line of stdin.")
def users_add(name: str, role: str, display_name: str, handler_cert: str | None, with_password: bool,
              password_stdin: bool) -> None:
    """Add a user with a role, optionally with a password for the web app."""
    run = current()
    password = read_new_password(password_stdin) if with_password or password_stdin else None
    user = run.api.post("/api/users", {"name": name, "role": role, "display_name": display_name,
                                       "handler_certificate": handler_cert})
    if password is not None:
        run.api.post(f"/api/users/{segment(user['name'])}/password", {"password": password})
    run.out.document(user, run.text(f"已创建用户 '{user['name']}' ({user['role']})",
                                    f"user '{user['name']}' ({user['role']}) created"))


def _change_user(name: str, action: str, body: dict[str, Any], zh: str, en: str) -> None:
    run = current()
    user = run.api.post(f"/api/users/{segment(name)}/{action}", body)
    run.out.document(user, run.text(zh, en))


@users.command("disable")
@click.argument("name")
@click.option("--reason", default="", help="Why (kept in the custody log).")
def users_disable(name: str, reason: str) -> None:
    """Disable a user: their tokens are revoked and they can no longer sign in."""
    _change_user(name, "disable", {"reason": reason}, f"已停用用户 '{name}'，其令牌均已吊销",
                 f"user '{name}' disabled; their tokens are revoked")


@users.command("enable")
@click.argument("name")
@click.option("--reason", default="", help="Why (kept in the custody log).")
def users_enable(name: str, reason: str) -> None:
    """Enable a disabled user again; issue them a new token with `evault tokens create`."""
    _change_user(name, "enable", {"reason": reason}, f"已启用用户 '{name}'", f"user '{name}' enabled")


@users.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@click.option("--reason", default="", help="Why (kept in the custody log).")
def users_role(name: str, role: str, reason: str) -> None:
    """Change a user's role."""
    run = current()
    previous = run.api.get("/api/users")
    was = next((u["role"] for u in previous if u["name"] == name), "?")
    user = run.api.post(f"/api/users/{segment(name)}/role", {"role": role, "reason": reason})
    run.out.document(user, run.text(f"用户 '{name}' 的角色已改为 {role}（原为 {was}）",
                                    f"user '{name}' is now {role} (was {was})"))


@users.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin instead of asking.")
def users_set_password(name: str, password_stdin: bool) -> None:
    """Set your own web sign-in password, or reset anyone's (admins); a reset also lifts a lockout."""
    run = current()
    password = read_new_password(password_stdin)
    run.api.post(f"/api/users/{segment(name)}/password", {"password": password})
    run.out.document({"name": name, "password_set": True},
                     run.text(f"用户 '{name}' 的密码已设置，锁定已解除",
                              f"password of '{name}' set; any lockout is cleared"))


@users.command("link")
@click.argument("name")
@click.argument("certificate_number")
def users_link(name: str, certificate_number: str) -> None:
    """Link a user to a registered handler by certificate number (执法证号)."""
    run = current()
    user = run.api.post(f"/api/users/{segment(name)}/handler", {"certificate_number": certificate_number})
    run.out.document(user, run.text(f"用户 '{name}' 已关联执法证 {certificate_number}",
                                    f"user '{name}' linked to handler {certificate_number}"))


@click.group(cls=VaultGroup)
def tokens() -> None:
    """API tokens: create, list and revoke your own (admins: anyone's)."""


@tokens.command("create")
@click.argument("name", required=False)
@click.option("--label", default="", help="What the token is for (a laptop, a docking station).")
def tokens_create(name: str | None, label: str) -> None:
    """Create an API token for a user (default: yourself); only the secret is printed, once."""
    run = current()
    who = name or run.api.get("/api/me")["name"]
    issued = run.api.post(f"/api/users/{segment(who)}/tokens", {"label": label})
    run.out.document(issued, issued["token"])


@tokens.command("list")
@click.argument("name", required=False)
def tokens_list(name: str | None) -> None:
    """List a user's tokens (default: your own): id, label, expiry, state; never the secret (--json: all fields)."""
    run = current()
    found = run.api.get(f"/api/users/{segment(name)}/tokens") if name else run.api.get("/api/me/tokens")
    run.out.rows(found, [
        Column("ID", "id", whole=True), Column(run.text("用途", "LABEL"), lambda t: clip(t["label"] or "-", 12)),
        Column(run.text("到期", "EXPIRES"), "expires_at", time=True),
        Column(run.text("状态", "STATE"), _token_state)])


def _token_state(token: dict[str, Any]) -> str:
    if token.get("revoked_at"):
        return "revoked"
    expires = token.get("expires_at")
    if expires and datetime.fromisoformat(expires) <= datetime.now(UTC):
        return "expired"
    return "active"


@tokens.command("revoke")
@click.argument("token_id")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by its id (from `evault tokens list`); it stops working at once."""
    run = current()
    revoked = run.api.post(f"/api/tokens/{segment(token_id)}/revoke")
    run.out.document(revoked, run.text(f"令牌 {revoked['id']} 已吊销", f"token {revoked['id']} revoked"))


from evault_client.commands.handlers import handlers  # noqa: E402 - the registry's commands live beside these

__all__ = ["handlers", "read_new_password", "tokens", "users"]
