"""OpenID Connect sign-in (authorization code + PKCE) against the test provider, without a browser."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Person
from tests.oidc_provider import OidcProvider, point_vault_at
from vault.access.oidc_sign_in import SignInStart, begin_oidc_sign_in, finish_oidc_sign_in
from vault.context import VaultContext
from vault.custody.models import CustodyAction, CustodyEvent
from vault.errors import VaultError
from vault.identities.models import Role, User

CALLBACK = "http://vault.example/sign-in/oidc/callback"


@pytest.fixture
def sso(context: VaultContext, oidc_provider: OidcProvider) -> OidcProvider:
    """Point the vault's single sign-on at the test provider."""
    return point_vault_at(context.settings, oidc_provider)


def _begin(context: VaultContext, now: datetime | None = None) -> SignInStart:
    return begin_oidc_sign_in(settings=context.settings, cipher=context.cipher, redirect_uri=CALLBACK,
                              now=now or datetime.now(UTC))


def _at_provider(url: str, username: str) -> dict[str, str]:
    """Sign in at the provider's page as a person would, and return the parameters it sends back."""
    page = httpx.get(url)
    assert page.status_code == 200 and 'name="username"' in page.text
    answer = httpx.post(url, data={"username": username})
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def _finish(context: VaultContext, cookie: str | None, params: dict[str, str], now: datetime | None = None) -> User:
    """Finish as a route does: commit the sign-in, or the refusal's custody record."""
    with context.sessions() as sess:
        try:
            user = finish_oidc_sign_in(session=sess, settings=context.settings, cipher=context.cipher, cookie=cookie,
                                       params=params, now=now or datetime.now(UTC))
        except VaultError as exc:
            if exc.record_kept:
                sess.commit()
            raise
        sess.commit()
        return user


def _events(context: VaultContext, action: CustodyAction) -> list[CustodyEvent]:
    with context.sessions() as sess:
        return list(sess.scalars(select(CustodyEvent).where(CustodyEvent.action == action.value)))


def test_round_trip_signs_in_with_the_mapped_role(context: VaultContext, sso: OidcProvider) -> None:
    # Issue 13, Sign-in: authorization code with PKCE, mapping the role claim as the API already does.
    start = _begin(context)
    query = parse_qs(urlsplit(start.url).query)
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == ["evault"]
    assert {"state", "nonce", "code_challenge"} <= query.keys()
    assert query["state"][0] not in start.cookie and start.max_age == 600  # sealed, not merely signed

    user = _finish(context, start.cookie, _at_provider(start.url, "legal-chen"))

    assert (user.name, user.role) == ("legal-chen", Role.REVIEWER)
    (exchange,) = sso.token_requests
    challenge = base64.urlsafe_b64encode(hashlib.sha256(exchange["code_verifier"].encode()).digest()).rstrip(b"=")
    assert challenge.decode() == query["code_challenge"][0]
    assert [e.details["name"] for e in _events(context, CustodyAction.USER_CREATED)] == ["legal-chen"]
    assert _events(context, CustodyAction.USER_SIGN_IN_FAILED) == []  # the web session logs the sign-in itself


def test_the_role_claim_maps_and_follows_the_provider(context: VaultContext, sso: OidcProvider,
                                                      make_person: Callable[..., Person]) -> None:
    # One mapping of claims to roles for bearer tokens and sign-in: a known user's role follows the claim.
    make_person(Role.REVIEWER, name="chief-liu")
    start = _begin(context)
    user = _finish(context, start.cookie, _at_provider(start.url, "chief-liu"))
    assert user.role == Role.APPROVER
    (change,) = _events(context, CustodyAction.USER_UPDATED)
    assert change.details["previous_role"] == "reviewer" and change.details["role"] == "approver"


Callback = tuple[str | None, dict[str, str]]


def _fresh(context: VaultContext, username: str = "legal-chen") -> Callback:
    start = _begin(context)
    return start.cookie, _at_provider(start.url, username)


def _wrong_state(context: VaultContext) -> Callback:
    cookie, params = _fresh(context)
    return cookie, params | {"state": "forged"}


def _no_cookie(context: VaultContext) -> Callback:
    return None, _fresh(context)[1]


def _tampered_cookie(context: VaultContext) -> Callback:
    cookie, params = _fresh(context)
    return (cookie or "")[:-6] + "AAAAA=", params


def _replayed(context: VaultContext) -> Callback:
    cookie, params = _fresh(context)
    _finish(context, cookie, params)
    return cookie, params


def _wrong_verifier(context: VaultContext) -> Callback:
    """A code issued for one sign-in's challenge, brought back with another sign-in's cookie and state."""
    first, second = _begin(context), _begin(context)
    params = _at_provider(first.url, "legal-chen")
    return second.cookie, params | {"state": parse_qs(urlsplit(second.url).query)["state"][0]}


def _provider_error(context: VaultContext) -> Callback:
    return _begin(context).cookie, {"error": "access_denied"}


def _no_role(context: VaultContext) -> Callback:
    return _fresh(context, "visitor")


REFUSALS: dict[str, tuple[Callable[[VaultContext], Callback], int, str]] = {
    "wrong state": (_wrong_state, 400, "oidc_state_invalid"),
    "no sign-in cookie": (_no_cookie, 400, "oidc_state_invalid"),
    "tampered cookie": (_tampered_cookie, 400, "oidc_state_invalid"),
    "replayed code": (_replayed, 401, "oidc_code_refused"),
    "wrong verifier": (_wrong_verifier, 401, "oidc_code_refused"),
    "provider error": (_provider_error, 401, "oidc_provider_refused"),
    "no mapped role": (_no_role, 403, "permission_denied"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_bad_callback_is_refused_and_logged(context: VaultContext, sso: OidcProvider, case: str) -> None:
    # Issue 13, Sign-in and Logging: each refusal is a clear 4xx, and a failed sign-in is a custody event.
    make, status, code = REFUSALS[case]
    cookie, params = make(context)
    with pytest.raises(VaultError) as refused:
        _finish(context, cookie, params)
    assert (refused.value.status, refused.value.code) == (status, code), refused.value.message
    (failed,) = _events(context, CustodyAction.USER_SIGN_IN_FAILED)
    assert failed.details["how"] == "oidc" and failed.details["why"] == code
    if case in ("wrong verifier", "replayed code"):  # the provider, not the vault, refused: it checks PKCE
        reason = {"wrong verifier": "code_verifier does not match", "replayed code": "used already"}[case]
        assert reason in refused.value.details["description"]
    else:
        with context.sessions() as sess:
            assert sess.scalar(select(User).where(User.name == "legal-chen")) is None


@pytest.mark.parametrize(
    ("knob", "code"),
    [({"nonce_override": "another-sign-in"}, "oidc_nonce_mismatch"),
     ({"token_seconds": -600}, "oidc_id_token_refused")],
)
def test_an_id_token_not_for_this_sign_in_is_refused(context: VaultContext, sso: OidcProvider, knob: dict[str, Any],
                                                     code: str) -> None:
    # An ID token with another sign-in's nonce, or one that expired, names nobody (OpenID Connect Core 3.1.3.7).
    for name, value in knob.items():
        setattr(sso, name, value)
    cookie, params = _fresh(context)
    with pytest.raises(VaultError) as refused:
        _finish(context, cookie, params)
    assert (refused.value.status, refused.value.code) == (401, code)
    (failed,) = _events(context, CustodyAction.USER_SIGN_IN_FAILED)
    assert failed.details["why"] == code


def test_a_sign_in_left_too_long_is_refused(context: VaultContext, sso: OidcProvider) -> None:
    # The sealed state lives EVAULT_OIDC_SIGN_IN_SECONDS (600 s by default), not for ever.
    began = datetime.now(UTC)
    start = _begin(context, began)
    params = _at_provider(start.url, "legal-chen")
    with pytest.raises(VaultError) as refused:
        _finish(context, start.cookie, params, began + timedelta(seconds=601))
    assert (refused.value.status, refused.value.code) == (400, "oidc_state_invalid")


def test_a_disabled_user_cannot_sign_in(context: VaultContext, sso: OidcProvider,
                                        make_person: Callable[..., Person]) -> None:
    # Issue 12 item 4: a disabled account stays out, whatever the provider says.
    person = make_person(Role.REVIEWER, name="legal-chen")
    with context.sessions() as sess:
        sess.get(User, person.user.id).active = False  # type: ignore[union-attr]
        sess.commit()
    cookie, params = _fresh(context)
    with pytest.raises(VaultError) as refused:
        _finish(context, cookie, params)
    assert refused.value.status == 401
    (failed,) = _events(context, CustodyAction.USER_SIGN_IN_FAILED)
    assert failed.details["claimed"] == "legal-chen" and failed.subject_id == str(person.user.id)


def test_a_public_client_signs_in_without_a_secret(context: VaultContext, sso: OidcProvider) -> None:
    # PKCE is what protects a client without a secret (RFC 7636); the provider then checks the client id alone.
    sso.client_secret = None
    context.settings.oidc_client_secret = None
    cookie, params = _fresh(context)
    assert _finish(context, cookie, params).name == "legal-chen"
    assert "client_secret" not in sso.token_requests[0]


def test_sign_in_is_off_until_configured(context: VaultContext) -> None:
    with pytest.raises(VaultError) as refused:
        _begin(context)
    assert (refused.value.status, refused.value.code) == (404, "oidc_not_configured")
