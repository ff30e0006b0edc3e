"""`evault users|tokens|handlers` as an admin, an officer and a records manager run them, each signed in."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.client.conftest import Shell
from tests.conftest import Person
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.db import utcnow
from vault.identities.models import ApiToken, Handler, Role, User
from vault.identities.sign_in import AccountLocked, LockoutPolicy, SignInFailed, sign_in_with_password

REPO = Path(__file__).resolve().parents[2]
GOOD = "晨光-bright-4471"
ADD_ZHANG = ("handlers", "add", "--cert", "14010219001", "--name", "张伟", "--unit", "阜阳市应急管理局",
             "--valid-from", "2022-01-01", "--valid-until", "2026-12-31")


@pytest.fixture
def admin(make_person: Callable[..., Person]) -> Person:
    """Return the administrator."""
    return make_person(Role.ADMIN, name="admin")


@pytest.fixture
def as_admin(admin: Person, shell_for: Callable[..., Shell]) -> Shell:
    """Return the administrator's shell."""
    return shell_for(admin)


def user(context: VaultContext, name: str) -> User | None:
    with context.sessions() as session:
        return session.scalar(select(User).where(User.name == name))


def actions(context: VaultContext, action: CustodyAction) -> list[CustodyEvent]:
    with context.sessions() as session:
        return list(session.scalars(select(CustodyEvent).where(CustodyEvent.action == action.value)))


def signs_in(context: VaultContext, name: str, password: str) -> bool:
    with context.sessions() as session:
        try:
            sign_in_with_password(session=session, name=name, password=password, now=utcnow(), policy=LockoutPolicy())
        except (SignInFailed, AccountLocked):
            session.commit()
            return False
        session.commit()
        return True


def test_the_admin_registers_handlers_and_people(as_admin: Shell, context: VaultContext, tmp_path: Path) -> None:
    csv = tmp_path / "handlers.csv"
    csv.write_text("certificate_number,name,unit,valid_from,valid_until\n"
                   "14010219002,李娜,阜阳市应急管理局,2022-01-01,2026-12-31\n", encoding="utf-8")
    assert as_admin.ok("handlers", "import", str(csv)).stdout.strip() == "1 handlers imported"
    assert as_admin.ok(*ADD_ZHANG).stdout.strip() == "handler 张伟 (14010219001) registered"
    added = as_admin.json("users", "add", "zhang.wei", "--role", "officer", "--handler", "14010219001")
    assert (added["name"], added["role"], added["handler_certificate"]) == ("zhang.wei", "officer", "14010219001")
    assert as_admin.ok("users", "add", "li.na", "--role", "officer").stdout.strip() == "user 'li.na' (officer) created"
    assert as_admin.ok("users", "link", "li.na", "14010219002").stdout.strip() == \
        "user 'li.na' linked to handler 14010219002"
    token = as_admin.ok("tokens", "create", "zhang.wei").stdout.strip()
    assert token.startswith("evt_") and len(token.splitlines()) == 1
    listed = as_admin.ok("users", "list").stdout.splitlines()
    assert listed[0].split() == ["NAME", "DISPLAY", "NAME", "ROLE", "CERTIFICATE", "STATE", "CREATED"]
    assert any(line.split()[:5] == ["li.na", "li.na", "officer", "14010219002", "active"] for line in listed[1:])
    handlers = as_admin.ok("handlers", "list").stdout.splitlines()
    assert handlers[0].split() == ["CERTIFICATE", "NAME", "UNIT", "VALID", "FROM", "VALID", "UNTIL", "STATUS"]
    assert handlers[1].split() == ["14010219001", "张伟", "阜阳市应急管理局", "2022-01-01", "2026-12-31", "valid"]
    assert [h["certificate_number"] for h in as_admin.json_lines("handlers", "list")] == ["14010219001", "14010219002"]
    linked = user(context, "li.na")
    assert linked is not None and linked.handler is not None and linked.handler.certificate_number == "14010219002"


def test_an_officer_cannot_add_users_or_handlers(make_person: Callable[..., Person], shell_for: Callable[..., Shell],
                                                 context: VaultContext) -> None:
    officer = shell_for(make_person(Role.OFFICER))
    refused = officer("users", "add", "mallory", "--role", "admin")
    assert refused.exit_code == 4 and "permission_denied" in refused.stderr
    assert user(context, "mallory") is None
    assert officer(*ADD_ZHANG).exit_code == 4
    assert officer("users", "list").exit_code == 4
    with context.sessions() as session:
        assert session.scalar(select(Handler)) is None


def test_bad_input_not_found_and_conflict_have_their_own_exit_statuses(as_admin: Shell) -> None:
    bad_date = as_admin("handlers", "add", "--cert", "1", "--name", "a", "--valid-from", "2024-02-30",
                        "--valid-until", "2025-01-01")
    assert bad_date.exit_code == 2 and "2024-02-30" in bad_date.stderr  # click checks the date before any request
    assert as_admin("users", "add", "x", "--role", "superuser").exit_code == 2
    backwards = as_admin("handlers", "add", "--cert", "1", "--name", "a", "--valid-from", "2025-01-01",
                         "--valid-until", "2024-01-01")
    assert backwards.exit_code == 6 and "before valid_from" in backwards.stderr
    assert as_admin("handlers", "show", "nope").exit_code == 4
    assert as_admin("users", "disable", "nobody").exit_code == 4
    as_admin.ok("users", "add", "li.na", "--role", "officer")
    again = as_admin("--json", "users", "add", "li.na", "--role", "officer")
    assert again.exit_code == 5 and '"exit": 5' in again.stderr


def test_certificate_history_from_the_command_line(as_admin: Shell) -> None:
    # A certificate can be suspended, revoked and renewed (`001` 第十五、十六条); each change dated, with a reason.
    as_admin.ok(*ADD_ZHANG)
    suspended = as_admin.ok("handlers", "suspend", "14010219001", "--effective", "2025-03-01", "--reason", "暂扣")
    assert "suspended from 2025-03-01" in suspended.stdout and "latest status suspended" in suspended.stdout
    as_admin.ok("handlers", "reinstate", "14010219001", "--effective", "2025-04-01", "--reason", "发还")
    renewed = as_admin.json("handlers", "renew", "14010219001", "--effective", "2027-01-01",
                            "--valid-until", "2031-12-31", "--reason", "换证")
    assert (renewed["kind"], renewed["valid_from"], renewed["valid_until"]) == ("renewed", "2027-01-01", "2031-12-31")
    shown = as_admin.ok("handlers", "show", "14010219001", "--on", "2025-03-15").stdout.splitlines()
    assert shown[0] == "14010219001  张伟  阜阳市应急管理局"
    assert shown[1].split()[:4] == ["1.", "2022-01-01", "issued", "2022-01-01..2026-12-31"]
    assert shown[4] == f"  4. 2027-01-01  renewed  2027-01-01..2031-12-31  换证  (admin, {renewed['id']})"
    assert shown[-1] == "on 2025-03-15: NOT VALID (suspended, 2022-01-01..2026-12-31)"
    later = as_admin.ok("handlers", "show", "14010219001", "--on", "2028-01-01").stdout
    assert "on 2028-01-01: VALID (valid, 2027-01-01..2031-12-31)" in later
    corrected = as_admin("handlers", "correct", "14010219001", "--effective", "2027-01-01", "--voids",
                         renewed["id"], "--reason", "录错")
    assert corrected.exit_code == 0, corrected.stderr
    detail = as_admin.json("handlers", "show", "14010219001", "--on", "2028-01-01")
    assert detail["valid_on"] is False and [e["kind"] for e in detail["history"]][-1] == "corrected"
    as_admin.ok("handlers", "revoke", "14010219001", "--effective", "2025-05-01", "--reason", "吊销")
    refused = as_admin("handlers", "reinstate", "14010219001", "--effective", "2025-06-01", "--reason", "x")
    assert refused.exit_code == 5 and "already revoked" in refused.stderr


def test_a_handler_is_corrected_without_touching_the_certificate_history(
        as_admin: Shell, context: VaultContext) -> None:
    as_admin.ok(*ADD_ZHANG)
    as_admin.ok("handlers", "suspend", "14010219001", "--effective", "2025-03-01", "--reason", "暂扣")
    updated = as_admin.ok("handlers", "update", "14010219001", "--unit", "阜阳市应急管理局执法支队",
                          "--category", "安全生产")
    assert updated.stdout.strip() == "handler 14010219001 updated: 张伟, 阜阳市应急管理局执法支队"
    detail = as_admin.json("handlers", "show", "14010219001")
    assert (detail["unit"], detail["category"]) == ("阜阳市应急管理局执法支队", "安全生产")
    assert detail["status"] == "suspended"
    assert [e["kind"] for e in detail["history"]] == ["issued", "suspended"]
    (event,) = actions(context, CustodyAction.HANDLER_UPDATED)
    assert event.details["changed"]["unit"] == {"from": "阜阳市应急管理局", "to": "阜阳市应急管理局执法支队"}


def test_only_an_admin_updates_a_handler(as_admin: Shell, make_person: Callable[..., Person],
                                         shell_for: Callable[..., Shell]) -> None:
    as_admin.ok(*ADD_ZHANG)
    for role in (Role.OFFICER, Role.RECORDS_MANAGER):
        refused = shell_for(make_person(role))("handlers", "update", "14010219001", "--name", "王五")
        assert refused.exit_code == 4
    assert as_admin.json("handlers", "show", "14010219001")["name"] == "张伟"


def test_the_sample_csv_is_the_shipped_file_and_imports(as_admin: Shell, tmp_path: Path) -> None:
    sample = as_admin.ok("handlers", "sample").stdout
    shipped = REPO / "docs" / "handlers-sample.csv"
    assert sample == shipped.read_text(encoding="utf-8")
    assert sample.splitlines()[0] == "certificate_number,name,unit,category,valid_from,valid_until,status"
    assert len(sample.splitlines()) == 3
    imported = as_admin.json_lines("handlers", "import", str(shipped))
    assert [h["name"] for h in imported] == ["马建国", "古丽娜尔·艾力"]
    assert as_admin.json("handlers", "show", "65230219001")["unit"] == "阜康市应急管理局应急综合行政执法大队"


def test_users_disabled_and_roles_changed(as_admin: Shell, make_person: Callable[..., Person],
                                          shell_for: Callable[..., Shell], context: VaultContext) -> None:
    # A disabled user acts no more; nobody changes their own role or disables themselves.
    manager = make_person(Role.RECORDS_MANAGER, name="archive")
    officer = make_person(Role.OFFICER, name="zhang.wei")
    changed = as_admin.ok("users", "role", "zhang.wei", "reviewer", "--reason", "调任")
    assert changed.stdout.strip() == "user 'zhang.wei' is now reviewer (was officer)"
    assert user(context, "zhang.wei").role == Role.REVIEWER  # type: ignore[union-attr]
    refused = shell_for(manager)("users", "disable", "zhang.wei")
    assert refused.exit_code == 4 and "permission_denied" in refused.stderr
    disabled = as_admin.ok("users", "disable", "archive", "--reason", "离职")
    assert disabled.stdout.strip() == "user 'archive' disabled; their tokens are revoked"
    assert any(line.split()[:4] == ["archive", "archive", "records_manager", "-"] and "disabled" in line
               for line in as_admin.ok("users", "list").stdout.splitlines())
    acting = shell_for(manager)("cases", "list")
    assert acting.exit_code == 3
    assert as_admin.json("users", "enable", "archive")["active"] is True
    assert shell_for(manager)("cases", "list").exit_code == 3  # old tokens stay revoked
    fresh = as_admin.ok("tokens", "create", "archive").stdout.strip()
    assert shell_for(manager, EVAULT_TOKEN=fresh).ok("cases", "list")
    own = as_admin("users", "disable", "admin")
    assert own.exit_code == 5 and "self_lockout" in own.stderr
    assert as_admin("users", "role", "admin", "officer").exit_code == 5
    assert officer.user.name == "zhang.wei"


def test_passwords_are_set_from_stdin_or_a_prompt(as_admin: Shell, context: VaultContext) -> None:
    added = as_admin("users", "add", "li.na", "--role", "reviewer", "--password-stdin", input=GOOD + "\n")
    assert added.exit_code == 0, added.stderr
    assert signs_in(context, "li.na", GOOD)
    reset = as_admin("users", "set-password", "li.na", input=f"{GOOD}-2\n{GOOD}-2\n")
    assert reset.exit_code == 0 and "password of 'li.na' set" in reset.stdout
    weak = as_admin("users", "set-password", "li.na", "--password-stdin", input="123\n")
    assert weak.exit_code == 6 and "10" in weak.stderr
    assert signs_in(context, "li.na", f"{GOOD}-2") and not signs_in(context, "li.na", GOOD)


def test_tokens_listed_and_revoked(as_admin: Shell, make_person: Callable[..., Person],
                                   shell_for: Callable[..., Shell], context: VaultContext) -> None:
    # Anyone lists and revokes their own tokens; an admin anyone's; a revoked token stops working.
    officer = make_person(Role.OFFICER, name="zhang.wei")
    mine = shell_for(officer)
    dock_token = mine.ok("tokens", "create", "--label", "dock").stdout.strip()
    table = as_admin.ok("tokens", "list", "zhang.wei").stdout.splitlines()
    assert table[0].split() == ["ID", "LABEL", "EXPIRES", "STATE"]
    rows = [line.split() for line in table[1:]]
    assert len(rows) == 2 and {row[-1] for row in rows} == {"active"}
    listed = mine.json_lines("tokens", "list")
    dock = next(t for t in listed if t["label"] == "dock")
    assert "token" not in dock and dock["revoked_at"] is None
    assert mine("tokens", "list", "admin").exit_code == 4
    assert mine.ok("tokens", "revoke", dock["id"]).stdout.strip() == f"token {dock['id']} revoked"
    assert shell_for(officer, EVAULT_TOKEN=dock_token)("tokens", "list").exit_code == 3
    after = [line.split() for line in as_admin.ok("tokens", "list", "zhang.wei").stdout.splitlines()]
    assert [row[-1] for row in after if row[0] == dock["id"]] == ["revoked"]
    again = as_admin("tokens", "revoke", dock["id"])
    assert again.exit_code == 5 and "already revoked" in again.stderr
    assert as_admin("tokens", "revoke", "not-an-id").exit_code == 6
    with context.sessions() as session:
        revoked = session.get(ApiToken, uuid.UUID(dock["id"]))
        assert revoked is not None and revoked.revoked_at is not None


def test_certificate_numbers_with_chinese_and_reserved_characters_reach_the_vault(as_admin: Shell) -> None:
    # A path segment is percent-encoded by the client: httpx alone would send `?` and `#` as the query and fragment.
    odd = "皖应急执〔2024〕#7?a"
    as_admin.ok("handlers", "add", "--cert", odd, "--name", "王强", "--valid-from", "2024-01-01",
                "--valid-until", "2028-12-31")
    assert as_admin.json("handlers", "show", odd)["certificate_number"] == odd
    assert as_admin.json("handlers", "update", odd, "--name", "王强强")["name"] == "王强强"
