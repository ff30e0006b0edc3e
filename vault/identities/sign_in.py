"""Signing in to the web app: Argon2 passwords with lockout, and browser sessions with idle and absolute limits."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import NoReturn

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vault.config import Settings
from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.errors import InvalidInput, Unauthenticated, VaultError
from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.identities.models import Role, User, WebSession

SESSION_COOKIE = "evault_session"
MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters


@cache
def _unknown_user_hash() -> str:
    """Return a hash to verify against when the name is unknown, so a wrong name costs what a wrong password does.

    Made on first use, not at import: hashing takes about 150 ms, which every process importing this would pay.
    """
    return _hasher.hash(secrets.token_urlsafe(16))


class AccountLocked(VaultError):
    """Too many failed sign-ins: the account is locked for a while."""

    code = "account_locked"
    status = 429


class SignInFailed(Unauthenticated):
    """The name or password is wrong (which one is not said)."""

    code = "sign_in_failed"


@dataclass(frozen=True)
class LockoutPolicy:
    """How many failures in a row lock an account, and for how long."""

    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)

    @classmethod
    def of(cls, settings: Settings) -> LockoutPolicy:
        """Return the policy configured for this vault."""
        return cls(max_failures=settings.sign_in_max_failures,
                   lock_for=timedelta(minutes=settings.sign_in_lockout_minutes))


@dataclass(frozen=True)
class SessionLimits:
    """How long a browser session lasts without activity, and at most."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)

    @classmethod
    def of(cls, settings: Settings) -> SessionLimits:
        """Return the limits configured for this vault."""
        return cls(idle=timedelta(minutes=settings.web_idle_minutes),
                   absolute=timedelta(hours=settings.web_absolute_hours))


def check_password_strength(password: str) -> None:
    """Raise InvalidInput unless the password is long enough and not a single repeated or numeric run."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"密码至少 {MIN_PASSWORD_LENGTH} 个字符 (the password needs at least "
                           f"{MIN_PASSWORD_LENGTH} characters)", details={"min_length": MIN_PASSWORD_LENGTH})
    if password.isdigit() or len(set(password)) < 4:
        raise InvalidInput("密码过于简单 (the password is too simple)")


def set_password(*, session: Session, actor: Actor, user: User, password: str, now: datetime) -> None:
    """Set a user's password (themselves, or an admin resetting it); clears any lockout."""
    if actor.id != user.id:
        require(actor, Permission.MANAGE_USERS)
    check_password_strength(password)
    user.password_hash = _hasher.hash(password)
    user.password_changed_at = now
    user.failed_sign_ins = 0
    user.locked_until = None
    session.flush()
    record_event(session=session, actor=actor, action=CustodyAction.USER_PASSWORD_SET, subject_type="user",
                 subject_id=user.id, details={"user": user.name, "reset": actor.id != user.id}, now=now)


def sign_in_with_password(
    *, session: Session, name: str, password: str, now: datetime, policy: LockoutPolicy
) -> User:
    """Return the user if name and password match; count failures, lock after too many, log every attempt.

    A refusal raises with `record_kept` set: the caller commits the failure count and its custody event.
    """
    user = session.scalar(select(User).where(User.name == name.strip()))
    if user is not None and user.locked_until is not None and user.locked_until > now:
        _refuse(session, AccountLocked(
            f"账户已锁定，请于 {int((user.locked_until - now).total_seconds() // 60) + 1} 分钟后再试 "
            "(the account is locked; try again later)",
            details={"locked_until": user.locked_until.isoformat()},
        ), user=user, attempted=name, now=now, why="locked")
    if user is None or not user.active or user.password_hash is None:
        _verify(_unknown_user_hash(), password)
        _refuse(session, SignInFailed("用户名或密码错误 (wrong name or password)"),
                user=None, attempted=name, now=now, why="unknown")
    if not _verify(user.password_hash, password):
        # Counted in SQL, not read-modified-written in Python: parallel guesses must not undercount each other.
        failures = session.execute(
            update(User).where(User.id == user.id).values(failed_sign_ins=User.failed_sign_ins + 1)
            .returning(User.failed_sign_ins)
        ).scalar_one()
        if failures >= policy.max_failures:
            user.locked_until = now + policy.lock_for
            user.failed_sign_ins = 0
            record_event(session=session, actor=Actor.of(user), action=CustodyAction.USER_LOCKED,
                         subject_type="user", subject_id=user.id,
                         details={"user": user.name, "locked_until": user.locked_until.isoformat()}, now=now)
        _refuse(session, SignInFailed("用户名或密码错误 (wrong name or password)"),
                user=user, attempted=name, now=now, why="password")
    user.failed_sign_ins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    session.flush()
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _refuse(session: Session, error: VaultError, *, user: User | None, attempted: str, now: datetime,
            why: str) -> NoReturn:
    session.flush()
    record_event(
        session=session, actor=Actor.of(user) if user else Actor(id=None, name="anonymous", role=None),
        action=CustodyAction.USER_SIGN_IN_FAILED, subject_type="user",
        subject_id=user.id if user else attempted.strip()[:128], details={"why": why}, now=now,
    )
    error.record_kept = True
    raise error


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start_web_session(*, session: Session, user: User, how: str, now: datetime) -> tuple[str, WebSession]:
    """Open a browser session for a user who just signed in; return the cookie secret (only its hash is kept)."""
    secret = secrets.token_urlsafe(32)
    web_session = WebSession(cookie_sha256=_digest(secret), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                             started_at=now, last_seen_at=now, how=how)
    session.add(web_session)
    session.flush()
    record_event(session=session, actor=Actor.of(user), action=CustodyAction.USER_SIGNED_IN, subject_type="user",
                 subject_id=user.id, details={"user": user.name, "how": how, "session_id": str(web_session.id)},
                 now=now)
    return secret, web_session


def resume_web_session(*, session: Session, secret: str, now: datetime, limits: SessionLimits) -> WebSession | None:
    """Return the live session for a cookie and mark it seen, or None if unknown, ended, idle or too old."""
    web_session = session.scalar(select(WebSession).where(WebSession.cookie_sha256 == _digest(secret)))
    if web_session is None or web_session.ended_at is not None or not web_session.user.active:
        return None
    if now - web_session.last_seen_at > limits.idle or now - web_session.started_at > limits.absolute:
        return None
    if now - web_session.last_seen_at > timedelta(seconds=30):  # fewer writes: idle time is counted in minutes
        session.execute(update(WebSession).where(WebSession.id == web_session.id).values(last_seen_at=now))
    return web_session


@dataclass(frozen=True)
class SignedIn:
    """The person behind a live browser session: who acts, and the session's CSRF token."""

    actor: Actor
    display_name: str
    session_id: uuid.UUID
    csrf_token: str

    @property
    def role(self) -> Role | None:
        """Return the person's role."""
        return self.actor.role

    @classmethod
    def of(cls, web_session: WebSession) -> SignedIn:
        """Return the view of a session that pages and content routes need."""
        user = web_session.user
        return cls(actor=Actor.of(user), display_name=user.display_name or user.name, session_id=web_session.id,
                   csrf_token=web_session.csrf_token)


def end_web_session(*, session: Session, web_session: WebSession, now: datetime) -> None:
    """Sign out: end the session for good and log it."""
    if web_session.ended_at is not None:
        return
    web_session.ended_at = now
    session.flush()
    record_event(session=session, actor=Actor.of(web_session.user), action=CustodyAction.USER_SIGNED_OUT,
                 subject_type="user", subject_id=web_session.user_id,
                 details={"user": web_session.user.name, "session_id": str(web_session.id)}, now=now)
