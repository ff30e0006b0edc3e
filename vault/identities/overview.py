"""What an administrator sees of each user: the account, its last sign-in, whether it is locked, its tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vault.identities.actor import Actor
from vault.identities.authz import Permission, require
from vault.identities.models import ApiToken, Handler, User, WebSession
from vault.identities.service import HANDLER_CSV_SAMPLE, find_handler, get_user, list_handlers, list_tokens


@dataclass(frozen=True)
class UserOverview:
    """One user as the administrator's list shows them."""

    user: User
    last_sign_in: datetime | None
    locked_until: datetime | None  # set while a lockout is in force

    @property
    def locked(self) -> bool:
        """Return whether sign-in is locked now."""
        return self.locked_until is not None


@dataclass(frozen=True)
class TokenView:
    """One API token as shown to an administrator: never its secret."""

    token: ApiToken
    live: bool


def _last_sign_ins(session: Session) -> dict[uuid.UUID, datetime]:
    query = select(WebSession.user_id, func.max(WebSession.started_at)).group_by(WebSession.user_id)
    return {row[0]: row[1] for row in session.execute(query)}


def _overview(user: User, last: datetime | None, now: datetime) -> UserOverview:
    locked = user.locked_until if user.locked_until is not None and user.locked_until > now else None
    return UserOverview(user=user, last_sign_in=last, locked_until=locked)


def list_user_overviews(*, session: Session, actor: Actor, now: datetime) -> list[UserOverview]:
    """List every user with their last web sign-in and any lockout in force (admin)."""
    require(actor, Permission.MANAGE_USERS)
    last = _last_sign_ins(session)
    users = session.scalars(select(User).order_by(User.name))
    return [_overview(user, last.get(user.id), now) for user in users]


def user_overview(*, session: Session, actor: Actor, name: str, now: datetime) -> UserOverview:
    """Return one user's overview (admin)."""
    require(actor, Permission.MANAGE_USERS)
    user = get_user(session=session, name=name)
    last = session.scalar(select(func.max(WebSession.started_at)).where(WebSession.user_id == user.id))
    return _overview(user, last, now)


def user_tokens(*, session: Session, actor: Actor, user: User, now: datetime) -> list[TokenView]:
    """List a user's tokens, newest first, each marked live or not (revoked or expired)."""
    return [TokenView(token=token, live=token.revoked_at is None
                      and (token.expires_at is None or token.expires_at > now))
            for token in list_tokens(session=session, actor=actor, user=user)]



def handler_registry(*, session: Session, actor: Actor) -> list[Handler]:
    """List every registered handler, for the administrator who keeps the registry."""
    require(actor, Permission.MANAGE_HANDLERS)
    return list_handlers(session=session)


def registry_handler(*, session: Session, actor: Actor, certificate_number: str) -> Handler:
    """Return one handler with their certificate's history, for the administrator who keeps the registry."""
    require(actor, Permission.MANAGE_HANDLERS)
    return find_handler(session=session, certificate_number=certificate_number)


def handler_csv_sample(*, actor: Actor) -> str:
    """Return the sample CSV of the handler import (the same text as `evault handlers sample`)."""
    require(actor, Permission.MANAGE_HANDLERS)
    return HANDLER_CSV_SAMPLE
