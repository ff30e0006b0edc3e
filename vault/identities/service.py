"""Users, tokens and the handler registry (执法人员及执法证)."""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.custody.models import CustodyAction
from vault.custody.service import record_event
from vault.db import utcnow
from vault.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from vault.identities.actor import SYSTEM, Actor
from vault.identities.authz import Permission, require
from vault.identities.certificates import append_certificate_event
from vault.identities.models import ApiToken, CertificateChange, CertificateStatus, Handler, Role, User

TOKEN_PREFIX = "evt_"


class LastAdmin(Conflict):
    """The change would leave the vault without an active administrator."""

    code = "last_admin"


class SelfLockout(Conflict):
    """An administrator may not disable themselves or change their own role."""

    code = "self_lockout"


def parse_role(value: str) -> Role:
    """Return the Role named by value, or raise InvalidInput listing the valid roles."""
    try:
        return Role(value)
    except ValueError:
        valid = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role '{value}'; valid roles: {valid}", details={"valid": list(Role)}) from None


def create_user(
    *,
    session: Session,
    actor: Actor,
    name: str,
    role: Role,
    display_name: str = "",
    handler_certificate: str | None = None,
) -> User:
    """Create a user, optionally linked to a registered handler."""
    require(actor, Permission.MANAGE_USERS)
    name = name.strip()
    if not name:
        raise InvalidInput("a user needs a name")
    if session.scalar(select(User).where(User.name == name)):
        raise Conflict(f"a user named '{name}' already exists")
    handler = find_handler(session=session, certificate_number=handler_certificate) if handler_certificate else None
    user = User(name=name, role=role, display_name=display_name or name, handler=handler)
    session.add(user)
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.USER_CREATED,
        subject_type="user",
        subject_id=user.id,
        details={"name": name, "role": role.value, "handler": handler.certificate_number if handler else None},
    )
    return user


def get_user(*, session: Session, name: str) -> User:
    """Return the user with this name."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user named '{name}'")
    return user


def get_active_user(*, session: Session, name: str) -> User:
    """Return the user with this name, refusing a disabled one as sign-in does."""
    user = get_user(session=session, name=name)
    if not user.active:
        raise Unauthenticated(f"user '{name}' is disabled")
    return user


def list_users(*, session: Session, actor: Actor) -> list[User]:
    """List every user."""
    require(actor, Permission.MANAGE_USERS)
    return list(session.scalars(select(User).order_by(User.name)))


def _token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(*, session: Session, actor: Actor, user: User, label: str = "",
                expires_at: datetime | None = None) -> str:
    """Create an API token for user and return its secret; only its hash is kept."""
    if actor.id != user.id:
        require(actor, Permission.MANAGE_USERS)
    if not user.active:
        raise Conflict(f"user '{user.name}' is disabled; enable them before issuing a token")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, token_sha256=_token_digest(secret), label=label,
                     expires_at=expires_at)
    session.add(token)
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.TOKEN_CREATED,
        subject_type="user",
        subject_id=user.id,
        details={"token_id": str(token.id), "label": label,
                 "expires_at": expires_at.isoformat() if expires_at else None},
    )
    return secret


class TokenExpired(Unauthenticated):
    """The token's sign-in has run out: sign in again."""

    code = "token_expired"


def find_token(*, session: Session, secret: str) -> ApiToken | None:
    """Return the token row for a secret, live or not."""
    return session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _token_digest(secret)))


def authenticate_token(*, session: Session, secret: str, now: datetime | None = None) -> User:
    """Return the active user owning this token secret; an expired sign-in token has its own refusal."""
    token = find_token(session=session, secret=secret)
    if token is None or token.revoked_at is not None or not token.user.active:
        raise Unauthenticated("the bearer token is unknown, revoked or belongs to a disabled user")
    if token.expires_at is not None and token.expires_at <= (now or utcnow()):
        raise TokenExpired("登录已过期，请重新运行 evault login (the sign-in has expired; run `evault login` again)",
                           details={"expired_at": token.expires_at.isoformat()})
    return token.user


@dataclass(frozen=True)
class HandlerInput:
    """The fields of one handler row, as given by a person or a CSV file."""

    certificate_number: str
    name: str
    valid_from: date
    valid_until: date
    unit: str = ""
    category: str = ""
    status: CertificateStatus = CertificateStatus.VALID


def parse_handler(row: dict[str, str], *, line: int | None = None) -> HandlerInput:
    """Validate one handler row (dates as YYYY-MM-DD) and return it."""
    where = f" on line {line}" if line else ""
    try:
        valid_from = date.fromisoformat(row.get("valid_from", "").strip())
        valid_until = date.fromisoformat(row.get("valid_until", "").strip())
    except ValueError:
        raise InvalidInput(f"certificate dates must be YYYY-MM-DD{where}", details={"line": line}) from None
    if valid_until < valid_from:
        raise InvalidInput(f"certificate valid_until is before valid_from{where}", details={"line": line})
    number, name = row.get("certificate_number", "").strip(), row.get("name", "").strip()
    if not number or not name:
        raise InvalidInput(f"certificate_number and name are required{where}", details={"line": line})
    try:
        status = CertificateStatus(row.get("status", "valid").strip() or "valid")
    except ValueError:
        raise InvalidInput(f"status must be valid, suspended or revoked{where}", details={"line": line}) from None
    return HandlerInput(
        number, name, valid_from, valid_until, row.get("unit", "").strip(), row.get("category", "").strip(), status
    )


def add_handler(*, session: Session, actor: Actor, data: HandlerInput) -> Handler:
    """Register a handler and their enforcement certificate."""
    require(actor, Permission.MANAGE_HANDLERS)
    if session.scalar(select(Handler).where(Handler.certificate_number == data.certificate_number)):
        raise Conflict(f"certificate number (执法证号) {data.certificate_number} is already registered")
    handler = Handler(
        certificate_number=data.certificate_number,
        name=data.name,
        unit=data.unit,
        category=data.category,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        status=data.status,
    )
    session.add(handler)
    append_certificate_event(handler=handler, actor=actor, kind=CertificateChange.ISSUED,
                             effective_on=data.valid_from, reason="registered", valid_from=data.valid_from,
                             valid_until=data.valid_until)
    if data.status != CertificateStatus.VALID:
        # A status given at registration holds from the first day: nothing says when it began.
        append_certificate_event(handler=handler, actor=actor, kind=CertificateChange(data.status.value),
                                 effective_on=data.valid_from, reason=f"registered as {data.status.value}")
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.HANDLER_ADDED,
        subject_type="handler",
        subject_id=handler.id,
        details={
            "certificate_number": data.certificate_number,
            "name": data.name,
            "valid_until": data.valid_until.isoformat(),
        },
    )
    return handler


HANDLER_CSV_COLUMNS = ("certificate_number", "name", "unit", "category", "valid_from", "valid_until", "status")
# The columns import reads, with two example rows: the same text as docs/handlers-sample.csv and
# `evault handlers sample`, so a downloaded sample imports as it is.
HANDLER_CSV_SAMPLE = """certificate_number,name,unit,category,valid_from,valid_until,status
65230219001,马建国,阜康市应急管理局应急综合行政执法大队,安全生产,2024-01-01,2028-12-31,valid
65230219002,古丽娜尔·艾力,阜康市应急管理局应急综合行政执法大队,安全生产,2024-03-01,2029-02-28,valid
"""


def import_handlers_csv(*, session: Session, actor: Actor, text: str) -> list[Handler]:
    """Import handlers from CSV text; all rows are validated before any is stored."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = {"certificate_number", "name", "valid_from", "valid_until"} - set(reader.fieldnames or [])
    if missing:
        raise InvalidInput(
            f"CSV is missing columns: {', '.join(sorted(missing))}", details={"expected": list(HANDLER_CSV_COLUMNS)}
        )
    rows = [parse_handler(row, line=number) for number, row in enumerate(reader, start=2)]
    return [add_handler(session=session, actor=actor, data=row) for row in rows]


def find_handler(*, session: Session, certificate_number: str) -> Handler:
    """Return the handler holding this certificate number."""
    handler = session.scalar(select(Handler).where(Handler.certificate_number == certificate_number.strip()))
    if handler is None:
        raise NotFound(f"no handler with certificate number (执法证号) {certificate_number}")
    return handler


def list_handlers(*, session: Session) -> list[Handler]:
    """List every registered handler."""
    return list(session.scalars(select(Handler).order_by(Handler.certificate_number)))


@dataclass(frozen=True)
class HandlerChanges:
    """The registry fields an administrator may correct; None leaves a field as it is."""

    name: str | None = None
    unit: str | None = None
    category: str | None = None


def update_handler(*, session: Session, actor: Actor, handler: Handler, changes: HandlerChanges) -> Handler:
    """Correct a handler's name, unit or category; the certificate's validity history is never touched here."""
    require(actor, Permission.MANAGE_HANDLERS)
    if changes.name is not None and not changes.name.strip():
        raise InvalidInput("a handler needs a name")
    changed: dict[str, dict[str, str]] = {}
    for field in ("name", "unit", "category"):
        value = getattr(changes, field)
        if value is not None and value.strip() != getattr(handler, field):
            changed[field] = {"from": getattr(handler, field), "to": value.strip()}
            setattr(handler, field, value.strip())
    if not changed:
        return handler
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.HANDLER_UPDATED,
        subject_type="handler",
        subject_id=handler.id,
        details={"certificate_number": handler.certificate_number, "changed": changed},
    )
    return handler


def link_user_to_handler(*, session: Session, actor: Actor, user: User, certificate_number: str) -> User:
    """Link a user account to a registered handler."""
    require(actor, Permission.MANAGE_USERS)
    handler = find_handler(session=session, certificate_number=certificate_number)
    user.handler = handler
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.USER_UPDATED,
        subject_type="user",
        subject_id=user.id,
        details={"handler": certificate_number},
    )
    return user


def bootstrap_admin(*, session: Session, name: str = "admin") -> tuple[User, str] | None:
    """Create the first admin and their token if the vault has no users yet."""
    if session.scalar(select(User).limit(1)) is not None:
        return None
    user = create_user(session=session, actor=SYSTEM, name=name, role=Role.ADMIN, display_name="Administrator")
    return user, issue_token(session=session, actor=SYSTEM, user=user, label="created by evault init")


def list_tokens(*, session: Session, actor: Actor, user: User) -> list[ApiToken]:
    """List a user's API tokens, newest first (their own, or anyone's for an admin); never the secrets."""
    if actor.id != user.id:
        require(actor, Permission.MANAGE_USERS)
    query = select(ApiToken).where(ApiToken.user_id == user.id)
    return list(session.scalars(query.order_by(ApiToken.created_at.desc(), ApiToken.id)))


def revoke_token(*, session: Session, actor: Actor, token_id: uuid.UUID, now: datetime | None = None) -> ApiToken:
    """Revoke an API token: one's own, or anyone's for an admin; it stops working at once."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no token {token_id}")
    if actor.id != token.user_id:
        require(actor, Permission.MANAGE_USERS)
    if token.revoked_at is not None:
        raise Conflict(f"token {token_id} was already revoked on {token.revoked_at.isoformat()}")
    token.revoked_at = now or utcnow()
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.TOKEN_REVOKED,
        subject_type="user",
        subject_id=token.user_id,
        now=token.revoked_at,
        details={"token_id": str(token_id), "label": token.label},
    )
    return token


def _active_admins(session: Session) -> int:
    # Locking the admin rows serialises two admins disabling each other at once on PostgreSQL.
    return len(session.scalars(select(User.id).where(User.role == Role.ADMIN, User.active).with_for_update()).all())


def _keep_an_admin(session: Session, user: User, what: str) -> None:
    if user.role == Role.ADMIN and user.active and _active_admins(session) <= 1:
        raise LastAdmin(f"'{user.name}' is the last active admin; {what} would leave the vault without one")


def set_user_active(
    *, session: Session, actor: Actor, user: User, active: bool, reason: str = "", now: datetime | None = None
) -> User:
    """Disable or re-enable a user (admin); disabling revokes their tokens, so nothing they hold still works."""
    require(actor, Permission.MANAGE_USERS)
    if user.active == active:
        raise Conflict(f"user '{user.name}' is already {'active' if active else 'disabled'}")
    now = now or utcnow()
    revoked: list[str] = []
    if not active:
        if actor.id == user.id:
            raise SelfLockout("an admin may not disable their own account")
        _keep_an_admin(session, user, "disabling them")
        for token in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                            ApiToken.revoked_at.is_(None))):
            token.revoked_at = now
            revoked.append(str(token.id))
    user.active = active
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.USER_ENABLED if active else CustodyAction.USER_DISABLED,
        subject_type="user",
        subject_id=user.id,
        now=now,
        details={"name": user.name, "reason": reason.strip(), "tokens_revoked": sorted(revoked)},
    )
    return user


def change_user_role(
    *, session: Session, actor: Actor, user: User, role: Role, reason: str = "", now: datetime | None = None
) -> User:
    """Give a user another role (admin); nobody changes their own, and the last admin stays one."""
    require(actor, Permission.MANAGE_USERS)
    if user.role == role:
        raise Conflict(f"user '{user.name}' already has the role {role.value}")
    if actor.id == user.id:
        raise SelfLockout("an admin may not change their own role")
    if role != Role.ADMIN:
        _keep_an_admin(session, user, f"making them {role.value}")
    previous, user.role = user.role, role
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action=CustodyAction.USER_ROLE_CHANGED,
        subject_type="user",
        subject_id=user.id,
        now=now,
        details={"name": user.name, "role": role.value, "previous_role": previous.value, "reason": reason.strip()},
    )
    return user
