"""Web sign-in passwords: set by the user, reset by an admin, over the API and the CLI (issue 13, "Sign-in")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import Person
from vault.context import VaultContext
from vault.db import utcnow
from vault.errors import InvalidInput
from vault.identities.models import Role, User
from vault.identities.sign_in import AccountLocked, LockoutPolicy, SignInFailed, sign_in_with_password

GOOD = "晨光-bright-4471"


def signs_in(context: VaultContext, name: str, password: str) -> bool:
    with context.sessions() as session:
        try:
            sign_in_with_password(session=session, name=name, password=password, now=utcnow(),
                                  policy=LockoutPolicy())
        except (SignInFailed, AccountLocked):
            session.commit()
            return False
        session.commit()
        return True


def test_people_set_their_own_password_and_admins_reset_anyones(
    client: TestClient, make_person: Callable[..., Person], context: VaultContext
) -> None:
    admin, reviewer, other = make_person(Role.ADMIN), make_person(Role.REVIEWER), make_person(Role.REVIEWER)
    own = client.post(f"/api/users/{reviewer.user.name}/password", json={"password": GOOD}, headers=reviewer.headers)
    assert own.status_code == 204 and signs_in(context, reviewer.user.name, GOOD)
    refused = client.post(f"/api/users/{other.user.name}/password", json={"password": GOOD}, headers=reviewer.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    reset = client.post(f"/api/users/{other.user.name}/password", json={"password": GOOD}, headers=admin.headers)
    assert reset.status_code == 204 and signs_in(context, other.user.name, GOOD)


@pytest.mark.parametrize("weak", ["short1", "1234567890123", "aaaaaaaaaaaa"])
def test_weak_passwords_get_a_422(client: TestClient, make_person: Callable[..., Person], weak: str) -> None:
    officer = make_person(Role.OFFICER)
    answer = client.post(f"/api/users/{officer.user.name}/password", json={"password": weak}, headers=officer.headers)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_input"


def test_an_admin_reset_lifts_a_lockout(
    client: TestClient, make_person: Callable[..., Person], context: VaultContext
) -> None:
    admin, officer = make_person(Role.ADMIN), make_person(Role.OFFICER)
    client.post(f"/api/users/{officer.user.name}/password", json={"password": GOOD}, headers=officer.headers)
    for _ in range(LockoutPolicy().max_failures):
        assert not signs_in(context, officer.user.name, "wrong-password-x")
    assert not signs_in(context, officer.user.name, GOOD)  # locked, even with the right password
    with context.sessions() as session:
        locked = session.get(User, officer.user.id)
        assert locked is not None and locked.locked_until is not None
        assert locked.locked_until - utcnow() > timedelta(minutes=14)
    client.post(f"/api/users/{officer.user.name}/password", json={"password": GOOD + "!"}, headers=admin.headers)
    assert signs_in(context, officer.user.name, GOOD + "!")


def test_the_password_is_stored_only_as_an_argon2id_hash(
    client: TestClient, make_person: Callable[..., Person], session: Session
) -> None:
    officer = make_person(Role.OFFICER)
    client.post(f"/api/users/{officer.user.name}/password", json={"password": GOOD}, headers=officer.headers)
    stored = session.get(User, officer.user.id)
    assert stored is not None and stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$") and GOOD not in stored.password_hash


def test_strength_rules_apply_to_the_service_too(make_person: Callable[..., Person], context: VaultContext) -> None:
    from vault.identities.sign_in import set_password

    officer = make_person(Role.OFFICER)
    with context.sessions() as session, pytest.raises(InvalidInput):
        set_password(session=session, actor=officer.actor, user=session.merge(officer.user), password="abc",
                     now=utcnow())
