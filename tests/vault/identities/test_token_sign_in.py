"""Signing in from the command line over the API: /api/about, /api/sign-in/token, /api/sign-out/token (issue 15)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import AGENCY, GOOD_PASSWORD, Person, with_password
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.db import utcnow
from vault.identities.models import Role
from vault.identities.service import TokenExpired, authenticate_token
from vault.identities.sign_in import LockoutPolicy
from vault.identities.token_sign_in import sign_in_for_token

GOOD = GOOD_PASSWORD


def events(context: VaultContext, action: CustodyAction) -> list[dict[str, Any]]:
    with context.sessions() as session:
        rows = session.scalars(select(CustodyEvent).where(CustodyEvent.action == action.value))
        return [dict(row.details or {}) | {"subject_id": row.subject_id} for row in rows]


def sign_in(client: TestClient, name: str, password: str = GOOD) -> Any:
    return client.post("/api/sign-in/token", json={"name": name, "password": password, "label": "evault login on t"})


def test_about_is_public_and_names_the_vault(client: TestClient, context: VaultContext) -> None:
    about = client.get("/api/about")
    assert about.status_code == 200
    body = about.json()
    assert body["agency_name"] == AGENCY and body["timezone"] == "Asia/Shanghai"
    assert body["key_id"] == context.signer.key_id and body["version"]
    assert body["sign_in"] == {"password": True, "oidc": None}


@pytest.mark.parametrize("role", list(Role))
def test_every_role_signs_in_for_an_expiring_token_that_works(
    client: TestClient, make_person: Callable[..., Person], context: VaultContext, role: Role
) -> None:
    name = with_password(context, make_person(role))
    answer = sign_in(client, name)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["user"]["name"] == name and body["user"]["role"] == role.value
    assert body["token"].startswith("evt_")
    me = client.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["name"] == name
    listed = client.get("/api/me/tokens", headers={"Authorization": f"Bearer {body['token']}"}).json()
    mine = [t for t in listed if t["label"] == "evault login on t"]
    assert len(mine) == 1 and mine[0]["expires_at"] is not None
    signed = [e for e in events(context, CustodyAction.USER_SIGNED_IN) if e.get("user") == name]
    assert signed and signed[-1]["via"] == "cli"


def test_a_wrong_name_and_a_wrong_password_are_one_refusal(
    client: TestClient, make_person: Callable[..., Person], context: VaultContext
) -> None:
    name = with_password(context, make_person(Role.OFFICER))
    wrong_password, wrong_name = sign_in(client, name, "not-the-password"), sign_in(client, "nobody-here")
    assert wrong_password.status_code == wrong_name.status_code == 401
    assert wrong_password.json()["error"]["code"] == wrong_name.json()["error"]["code"] == "sign_in_failed"
    assert wrong_password.json()["error"]["message"] == wrong_name.json()["error"]["message"]
    failures = events(context, CustodyAction.USER_SIGN_IN_FAILED)
    assert [f["why"] for f in failures][-2:] == ["password", "unknown"]


def test_too_many_failures_lock_the_account(
    client: TestClient, make_person: Callable[..., Person], context: VaultContext
) -> None:
    name = with_password(context, make_person(Role.OFFICER))
    for _ in range(LockoutPolicy().max_failures):
        assert sign_in(client, name, "not-the-password").status_code == 401
    locked = sign_in(client, name)  # the right password, but locked
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "account_locked"
    assert events(context, CustodyAction.USER_LOCKED)


def test_a_disabled_user_cannot_sign_in(
    client: TestClient, make_person: Callable[..., Person], context: VaultContext
) -> None:
    admin, officer = make_person(Role.ADMIN), make_person(Role.OFFICER)
    name = with_password(context, officer)
    disabled = client.post(f"/api/users/{name}/disable", json={"reason": "left the unit"}, headers=admin.headers)
    assert disabled.status_code == 200, disabled.text
    refused = sign_in(client, name)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "sign_in_failed"


def test_a_sign_in_token_expires_and_says_so(
    client: TestClient, make_person: Callable[..., Person], context: VaultContext
) -> None:
    name = with_password(context, make_person(Role.REVIEWER))
    hours = context.settings.cli_token_hours
    with context.sessions() as session:
        earlier = utcnow() - timedelta(hours=hours, minutes=1)
        signed_in = sign_in_for_token(session=session, settings=context.settings, name=name, password=GOOD,
                                      label="old", now=earlier)
        session.commit()
        assert signed_in.expires_at == earlier + timedelta(hours=hours)
        assert authenticate_token(session=session, secret=signed_in.secret, now=earlier).name == name
        with pytest.raises(TokenExpired):
            authenticate_token(session=session, secret=signed_in.secret, now=utcnow())
    answer = client.get("/api/me", headers={"Authorization": f"Bearer {signed_in.secret}"})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "token_expired"


def test_signing_out_ends_the_token(
    client: TestClient, make_person: Callable[..., Person], context: VaultContext
) -> None:
    name = with_password(context, make_person(Role.OFFICER))
    headers = {"Authorization": f"Bearer {sign_in(client, name).json()['token']}"}
    assert client.post("/api/sign-out/token", headers=headers).status_code == 204
    gone = client.get("/api/me", headers=headers)
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "unauthenticated"
    assert client.post("/api/sign-out/token", headers=headers).status_code == 204  # again: already ended
    assert client.post("/api/sign-out/token").status_code == 401
    assert [e for e in events(context, CustodyAction.USER_SIGNED_OUT) if e.get("via") == "cli"]


def test_tokens_from_tokens_create_never_expire(client: TestClient, make_person: Callable[..., Person]) -> None:
    officer = make_person(Role.OFFICER)
    listed = client.get("/api/me/tokens", headers=officer.headers).json()
    assert listed and all(t["expires_at"] is None for t in listed)
