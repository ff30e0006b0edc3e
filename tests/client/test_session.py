"""`evault login`, `logout` and `whoami` as people run them against a real vault (issue 15)."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from tests.client.conftest import Shell
from tests.conftest import GOOD_PASSWORD, Person, with_password
from vault.context import VaultContext
from vault.db import utcnow
from vault.identities.actor import SYSTEM
from vault.identities.models import ApiToken, Role, User
from vault.identities.sign_in import LockoutPolicy

GOOD = GOOD_PASSWORD


def login(shell: Shell, name: str, password: str = GOOD) -> object:
    return shell("login", "--user", name, "--password-stdin", input=password + "\n")


def test_login_by_password_stores_a_private_credential_that_works(
    shell_for: Callable[..., Shell], make_person: Callable[..., Person], context: VaultContext
) -> None:
    name = with_password(context, make_person(Role.REVIEWER))
    shell = shell_for()
    signed = shell.ok("login", "--user", name, "--password-stdin", input=GOOD + "\n")
    assert f"as {name} (reviewer)" in signed.stdout and "until 20" in signed.stdout
    stored = context.settings.home.parent / "client-nobody" / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600 and name in stored.read_text()
    me = shell.json("whoami")
    assert me["user"]["name"] == name and me["user"]["role"] == "reviewer" and me["expires_at"]
    assert f"{name} (reviewer) at " in shell.ok("whoami").stdout
    assert shell.json_lines("--json", "whoami")  # --json after the command is the same


def test_a_prompted_password_is_read_hidden(
    shell_for: Callable[..., Shell], make_person: Callable[..., Person], context: VaultContext
) -> None:
    name = with_password(context, make_person(Role.OFFICER))
    shell = shell_for()
    signed = shell.ok("login", input=f"{name}\n{GOOD}\n")
    assert GOOD not in signed.stdout + signed.stderr and f"as {name} (officer)" in signed.stdout


def test_a_wrong_password_exits_3_and_too_many_lock_the_account(
    shell_for: Callable[..., Shell], make_person: Callable[..., Person], context: VaultContext
) -> None:
    name = with_password(context, make_person(Role.OFFICER))
    shell = shell_for()
    for _ in range(LockoutPolicy().max_failures):
        wrong = login(shell, name, "not-the-password")
        assert wrong.exit_code == 3 and "(sign_in_failed)" in wrong.stderr  # type: ignore[attr-defined]
    locked = login(shell, name)
    assert locked.exit_code == 75 and "(account_locked)" in locked.stderr  # type: ignore[attr-defined]
    assert shell("whoami").exit_code == 3  # nothing stored


def test_a_disabled_user_cannot_log_in(
    shell_for: Callable[..., Shell], make_person: Callable[..., Person], context: VaultContext
) -> None:
    admin, officer = make_person(Role.ADMIN), make_person(Role.OFFICER)
    name = with_password(context, officer)
    shell_for(admin).ok("--json", "whoami")
    from vault.identities.service import set_user_active

    with context.sessions() as session:
        user = session.get(User, officer.user.id)
        assert user is not None
        set_user_active(session=session, actor=SYSTEM, user=user, active=False, reason="left")
        session.commit()
    refused = login(shell_for(), name)
    assert refused.exit_code == 3 and "(sign_in_failed)" in refused.stderr  # type: ignore[attr-defined]


def test_an_expired_sign_in_says_so(
    shell_for: Callable[..., Shell], make_person: Callable[..., Person], context: VaultContext
) -> None:
    name = with_password(context, make_person(Role.OFFICER))
    shell = shell_for()
    shell.ok("login", "--user", name, "--password-stdin", input=GOOD + "\n")
    with context.sessions() as session:  # the sign-in was made a day ago: its clock has run out
        token = session.scalars(select(ApiToken).where(ApiToken.label.like("evault login on %"))).one()
        token.expires_at = utcnow() - timedelta(minutes=1)
        session.commit()
    expired = shell("whoami")
    assert expired.exit_code == 3 and "(token_expired)" in expired.stderr


def test_logout_ends_the_token_on_the_server_and_forgets_it(
    shell_for: Callable[..., Shell], make_person: Callable[..., Person], context: VaultContext
) -> None:
    name = with_password(context, make_person(Role.OFFICER))
    shell = shell_for()
    shell.ok("login", "--user", name, "--password-stdin", input=GOOD + "\n")
    stored = (context.settings.home.parent / "client-nobody" / "credentials.json").read_text()
    assert "signed out of" in shell.ok("logout").stdout
    with context.sessions() as session:
        token = session.scalars(select(ApiToken).where(ApiToken.label.like("evault login on %"))).one()
        assert token.revoked_at is not None
    assert shell("whoami").exit_code == 3
    assert stored and "not signed in" in shell.ok("logout").stdout


def test_logout_forgets_locally_when_the_vault_is_away(
    shell_for: Callable[..., Shell], make_person: Callable[..., Person], context: VaultContext
) -> None:
    name = with_password(context, make_person(Role.OFFICER))
    shell = shell_for()
    shell.ok("login", "--user", name, "--password-stdin", input=GOOD + "\n")
    away = Shell(env={**shell.env, "EVAULT_SERVER": "http://127.0.0.1:9"})
    folder = context.settings.home.parent / "client-nobody"
    import json

    data = json.loads((folder / "credentials.json").read_text())
    data["servers"]["http://127.0.0.1:9"] = data["servers"].pop(shell.env["EVAULT_SERVER"])
    (folder / "credentials.json").write_text(json.dumps(data))
    result = away.ok("logout")
    assert "could not end it on the server" in result.stdout
    assert "127.0.0.1:9" not in (folder / "credentials.json").read_text()


def test_evault_token_wins_over_the_stored_sign_in(
    shell_for: Callable[..., Shell], make_person: Callable[..., Person], context: VaultContext
) -> None:
    officer, reviewer = make_person(Role.OFFICER), make_person(Role.REVIEWER)
    name = with_password(context, officer)
    shell = shell_for()
    shell.ok("login", "--user", name, "--password-stdin", input=GOOD + "\n")
    both = Shell(env={**shell.env, "EVAULT_TOKEN": reviewer.token})
    me = both.json("whoami")
    assert me["user"]["name"] == reviewer.user.name and me["via"] == "EVAULT_TOKEN" and me["expires_at"] is None


def test_a_token_from_tokens_create_still_works(shell_for: Callable[..., Shell],
                                                 make_person: Callable[..., Person]) -> None:
    officer = make_person(Role.OFFICER)
    me = shell_for(officer).json("whoami")
    assert me["user"]["name"] == officer.user.name and me["expires_at"] is None


def test_two_people_on_one_machine_keep_their_own_sign_ins(
    shell_for: Callable[..., Shell], make_person: Callable[..., Person], context: VaultContext, tmp_path: object
) -> None:
    first, second = make_person(Role.OFFICER), make_person(Role.REVIEWER)
    names = with_password(context, first), with_password(context, second)
    shells = [Shell(env={**shell_for().env, "EVAULT_CLIENT_DIR": str(context.settings.home.parent / f"p{i}")})
              for i in range(2)]
    for shell, name in zip(shells, names, strict=True):
        shell.ok("login", "--user", name, "--password-stdin", input=GOOD + "\n")
    assert [s.json("whoami")["user"]["name"] for s in shells] == list(names)


def test_plain_http_to_another_host_is_warned_about(shell_for: Callable[..., Shell]) -> None:
    result = shell_for()("login", "--server", "http://vault.example.invalid", "--user", "x", "--password-stdin",
                         input="y\n")
    assert "warning:" in result.stderr and "plain http://" in result.stderr and result.exit_code == 75
