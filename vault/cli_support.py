"""What every `evault` command group shares: settings, one-line errors, a session acting as a named user."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from sqlalchemy.orm import Session

from vault.config import Settings, load_settings
from vault.context import VaultContext, build_context
from vault.errors import VaultError
from vault.identities.actor import Actor
from vault.identities.service import get_active_user
from vault.logging import configure_logging

F = TypeVar("F", bound=Callable[..., Any])
OpenVault = Callable[[Settings], VaultContext]


def cli_settings(*, log_level: str | None = "WARNING") -> Settings:
    """Read settings and configure logging (None: the configured level); a bad setting is a one-line error."""
    try:
        settings = load_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise click.ClickException(f"configuration error: {first['msg']} ({'.'.join(map(str, first['loc']))})") from exc
    configure_logging(json_output=settings.log_json, level=log_level or settings.log_level)
    return settings


def friendly_errors(func: F) -> F:
    """Turn domain errors into one-line messages and exit status 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except VaultError as exc:
            click.echo(f"error ({exc.code}): {exc.message}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def acting_as(ctx: click.Context) -> str:
    """Return the user named by the root command's `--as` option."""
    return str((ctx.find_root().obj or {}).get("as", "admin"))


@contextmanager
def acting_session(
    user_name: str, *, open_vault: OpenVault = build_context
) -> Iterator[tuple[VaultContext, Session, Actor]]:
    """Open the vault and one transaction acting as the named user; a logged refusal is still committed."""
    context = open_vault(cli_settings())
    try:
        with context.sessions() as session:
            try:
                yield context, session, Actor.of(get_active_user(session=session, name=user_name))
                session.commit()
            except VaultError as exc:
                session.commit() if exc.record_kept else session.rollback()
                raise
    finally:
        context.close()
