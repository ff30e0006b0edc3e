"""Signing in from the command line: a password checked as the web checks it, answered with a token that expires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from vault.config import Settings
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import Unauthenticated
from vault.identities.actor import Actor
from vault.identities.models import User
from vault.identities.service import find_token, issue_token
from vault.identities.sign_in import LockoutPolicy, sign_in_with_password


@dataclass(frozen=True)
class TokenSignIn:
    """Who signed in, the token's secret (shown once) and when it runs out."""

    user: User
    secret: str
    expires_at: datetime


def sign_in_for_token(*, session: Session, settings: Settings, name: str, password: str, label: str,
                      now: datetime) -> TokenSignIn:
    """Check a name and password exactly as the web sign-in does and issue an expiring token; log the sign-in."""
    user = sign_in_with_password(session=session, name=name, password=password, now=now,
                                 policy=LockoutPolicy.of(settings))
    actor = Actor.of(user)
    expires_at = now + timedelta(hours=settings.cli_token_hours)
    label = label.strip()[:128] or "evault login"
    secret = issue_token(session=session, actor=actor, user=user, label=label, expires_at=expires_at)
    token = find_token(session=session, secret=secret)
    record_event(session=session, actor=actor, action=CustodyAction.USER_SIGNED_IN, subject_type="user",
                 subject_id=user.id, details={"user": user.name, "how": "password", "via": "cli",
                                              "token_id": str(token.id) if token else None}, now=now)
    return TokenSignIn(user=user, secret=secret, expires_at=expires_at)


def sign_out_token(*, session: Session, secret: str, now: datetime) -> None:
    """End the session behind the presented token for good (revoke it) and log the sign-out."""
    token = find_token(session=session, secret=secret)
    if token is None:
        raise Unauthenticated("the bearer token is unknown")
    if token.revoked_at is not None:
        return
    token.revoked_at = now
    session.flush()
    record_event(session=session, actor=Actor.of(token.user), action=CustodyAction.USER_SIGNED_OUT,
                 subject_type="user", subject_id=token.user_id,
                 details={"user": token.user.name, "via": "cli", "token_id": str(token.id)}, now=now)
