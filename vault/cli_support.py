"""What the host's commands share: settings, and domain errors as one line with a documented exit status."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from vault.config import Settings, load_settings
from vault.errors import VaultError
from vault.logging import configure_logging

F = TypeVar("F", bound=Callable[..., Any])

# The exit statuses of docs/cli.md, by the HTTP status a domain error carries: the host's commands answer the
# same way the signed-in client does for the same refusal.
EXIT_BY_STATUS = {401: 3, 403: 4, 404: 4, 410: 4, 409: 5, 412: 5, 423: 5, 400: 6, 413: 6, 415: 6, 422: 6}
EX_TEMPFAIL = 75
EX_CONFIG = 78


def exit_status(error: VaultError) -> int:
    """Return the documented exit status for a domain error (5xx: a temporary failure)."""
    return EX_TEMPFAIL if error.status >= 500 else EXIT_BY_STATUS.get(error.status, 6)


def cli_settings(*, log_level: str | None = "WARNING") -> Settings:
    """Read settings and configure logging (None: the configured level); a bad setting is a one-line error."""
    try:
        settings = load_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        click.echo(f"error (configuration): {first['msg']} ({where})", err=True)
        sys.exit(EX_CONFIG)
    except ValueError as exc:  # a setting's file (EVAULT_<NAME>_FILE) is missing or doubles its variable
        click.echo(f"error (configuration): {exc}", err=True)
        sys.exit(EX_CONFIG)
    configure_logging(json_output=settings.log_json, level=log_level or settings.log_level)
    return settings


def friendly_errors(func: F) -> F:
    """Turn domain errors into one line `error (code): message` and their exit status, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except VaultError as exc:
            click.echo(f"error ({exc.code}): {exc.message}", err=True)
            sys.exit(exit_status(exc))

    return wrapper  # type: ignore[return-value]
