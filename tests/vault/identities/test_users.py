"""Disabling users, changing roles, and listing and revoking tokens."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import Person
from vault.custody.models import CustodyAction, CustodyEvent
from vault.errors import Conflict, NotFound, PermissionDenied, Unauthenticated
from vault.identities.models import ApiToken, Role, User
from vault.identities.service import (
    LastAdmin,
    SelfLockout,
    authenticate_token,
    change_user_role,
    get_active_user,
    get_user,
    issue_token,
    list_tokens,
    revoke_token,
    set_user_active,
)

NON_ADMINS = [r for r in Role if r != Role.ADMIN]


def user_of(session: Session, person: Person) -> User:
    """Return the person's user as this session holds it (services change the caller's own objects)."""
    return get_user(session=session, name=person.user.name)


def logged(session: Session, action: CustodyAction) -> list[CustodyEvent]:
    return list(session.scalars(select(CustodyEvent).where(CustodyEvent.action == action.value)))


def test_a_disabled_users_tokens_stop_working_at_once(session: Session, make_person: Callable[..., Person]) -> None:
    # Issue 12 item 4: a disabled user's tokens and sessions stop working at once.
    admin, officer = make_person(Role.ADMIN), make_person(Role.OFFICER)
    second = issue_token(session=session, actor=officer.actor, user=user_of(session, officer), label="dock")
    set_user_active(session=session, actor=admin.actor, user=user_of(session, officer), active=False, reason="离职")
    session.commit()
    for secret in (officer.token, second):
        with pytest.raises(Unauthenticated):
            authenticate_token(session=session, secret=secret)
    with pytest.raises(Unauthenticated, match="disabled"):
        get_active_user(session=session, name=officer.user.name)  # the command line's --as
    (event,) = logged(session, CustodyAction.USER_DISABLED)
    assert event.actor_name == admin.user.name and event.details["reason"] == "离职"
    assert len(event.details["tokens_revoked"]) == 2


def test_an_enabled_user_needs_a_new_token(session: Session, make_person: Callable[..., Person]) -> None:
    admin, officer = make_person(Role.ADMIN), make_person(Role.OFFICER)
    set_user_active(session=session, actor=admin.actor, user=user_of(session, officer), active=False)
    with pytest.raises(Conflict, match="disabled"):
        issue_token(session=session, actor=admin.actor, user=user_of(session, officer))
    set_user_active(session=session, actor=admin.actor, user=user_of(session, officer), active=True, reason="复职")
    session.commit()
    with pytest.raises(Unauthenticated):
        authenticate_token(session=session, secret=officer.token)
    fresh = issue_token(session=session, actor=admin.actor, user=user_of(session, officer))
    assert authenticate_token(session=session, secret=fresh).id == officer.user.id
    assert len(logged(session, CustodyAction.USER_ENABLED)) == 1
    with pytest.raises(Conflict, match="already active"):
        set_user_active(session=session, actor=admin.actor, user=user_of(session, officer), active=True)


def test_an_admin_cannot_disable_themselves_or_change_their_own_role(
        session: Session, make_person: Callable[..., Person]) -> None:
    # Issue 12 item 4: cannot disable yourself.
    admin, _other = make_person(Role.ADMIN), make_person(Role.ADMIN)
    with pytest.raises(SelfLockout):
        set_user_active(session=session, actor=admin.actor, user=user_of(session, admin), active=False)
    with pytest.raises(SelfLockout):
        change_user_role(session=session, actor=admin.actor, user=user_of(session, admin), role=Role.AUDITOR)


def test_the_last_active_admin_stays(session: Session, make_person: Callable[..., Person]) -> None:
    # Issue 12 item 4: the last admin cannot be removed, by disabling or by a role change.
    first, second, third = make_person(Role.ADMIN), make_person(Role.ADMIN), make_person(Role.ADMIN)
    change_user_role(session=session, actor=first.actor, user=user_of(session, second), role=Role.RECORDS_MANAGER)
    assert user_of(session, second).role == Role.RECORDS_MANAGER
    set_user_active(session=session, actor=first.actor, user=user_of(session, third), active=False)
    with pytest.raises(LastAdmin):
        set_user_active(session=session, actor=third.actor, user=user_of(session, first), active=False)
    with pytest.raises(LastAdmin, match="last active admin"):
        change_user_role(session=session, actor=third.actor, user=user_of(session, first), role=Role.AUDITOR)


def test_a_role_change_is_logged_and_takes_effect(session: Session, make_person: Callable[..., Person]) -> None:
    admin, officer = make_person(Role.ADMIN), make_person(Role.OFFICER)
    change_user_role(session=session, actor=admin.actor, user=user_of(session, officer), role=Role.APPROVER,
                     reason="任科长")
    session.commit()
    assert authenticate_token(session=session, secret=officer.token).role == Role.APPROVER
    (event,) = logged(session, CustodyAction.USER_ROLE_CHANGED)
    assert (event.details["previous_role"], event.details["role"], event.details["reason"]) == (
        "officer", "approver", "任科长")
    with pytest.raises(Conflict, match="already has"):
        change_user_role(session=session, actor=admin.actor, user=user_of(session, officer), role=Role.APPROVER)


@pytest.mark.parametrize("role", NON_ADMINS)
def test_only_admins_disable_users_and_change_roles(session: Session, make_person: Callable[..., Person],
                                                    role: Role) -> None:
    person, target = make_person(role), make_person(Role.OFFICER)
    with pytest.raises(PermissionDenied):
        set_user_active(session=session, actor=person.actor, user=user_of(session, target), active=False)
    with pytest.raises(PermissionDenied):
        change_user_role(session=session, actor=person.actor, user=user_of(session, target), role=Role.REVIEWER)
    with pytest.raises(PermissionDenied):
        list_tokens(session=session, actor=person.actor, user=user_of(session, target))


@pytest.mark.parametrize("role", list(Role))
def test_everyone_lists_and_revokes_their_own_tokens(session: Session, make_person: Callable[..., Person],
                                                     role: Role) -> None:
    # Issue 12 item 4: tokens can be listed and revoked.
    person = make_person(role)
    (token,) = list_tokens(session=session, actor=person.actor, user=user_of(session, person))
    revoke_token(session=session, actor=person.actor, token_id=token.id)
    session.commit()
    with pytest.raises(Unauthenticated):
        authenticate_token(session=session, secret=person.token)
    assert list_tokens(session=session, actor=person.actor, user=user_of(session, person))[0].revoked_at is not None
    (event,) = logged(session, CustodyAction.TOKEN_REVOKED)
    assert event.details["token_id"] == str(token.id)
    with pytest.raises(Conflict, match="already revoked"):
        revoke_token(session=session, actor=person.actor, token_id=token.id)


@pytest.mark.parametrize("role", NON_ADMINS)
def test_only_admins_revoke_other_peoples_tokens(session: Session, make_person: Callable[..., Person],
                                                 role: Role) -> None:
    person, other, admin = make_person(role), make_person(Role.OFFICER), make_person(Role.ADMIN)
    token = session.scalars(select(ApiToken).where(ApiToken.user_id == other.user.id)).one()
    with pytest.raises(PermissionDenied):
        revoke_token(session=session, actor=person.actor, token_id=token.id)
    assert [t.id for t in list_tokens(session=session, actor=admin.actor, user=user_of(session, other))] == [token.id]
    revoke_token(session=session, actor=admin.actor, token_id=token.id)


def test_an_unknown_token_id_is_not_found(session: Session, make_person: Callable[..., Person]) -> None:
    admin = make_person(Role.ADMIN)
    with pytest.raises(NotFound):
        revoke_token(session=session, actor=admin.actor, token_id=admin.user.id)
