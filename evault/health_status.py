"""The catalog's schema as the health page shows it: the migrations applied against those this release ships."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from evault.migrate import alembic_config

# Reading the scripts needs no database; the config wants a URL all the same.
MIGRATIONS_URL = "sqlite://"


@dataclass(frozen=True)
class MigrationState:
    """The Alembic heads this release ships, those the catalog is at (None: it did not answer), and what is left."""

    head: list[str]
    current: list[str] | None
    pending: list[str]

    @property
    def up_to_date(self) -> bool:
        """Return whether the catalog has every migration this release ships."""
        return self.current is not None and not self.pending


def _names(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _applied(script: ScriptDirectory, current: list[str]) -> set[str]:
    """Return every revision the current heads stand on, following dependencies as well as parents."""
    seen: set[str] = set()
    stack = list(current)
    while stack:
        revision = script.get_revision(stack.pop())
        if revision is None or revision.revision in seen:
            continue
        seen.add(revision.revision)
        stack += _names(revision.down_revision) + _names(revision.dependencies)
    return seen


def migration_state(session: Session) -> MigrationState:
    """Compare the catalog's current revisions with the packaged migrations.

    Read on the request's own connection: on SQLite a second one would wait for the request's write lock."""
    script = ScriptDirectory.from_config(alembic_config(MIGRATIONS_URL))
    head = sorted(script.get_heads())
    try:
        current = sorted(MigrationContext.configure(session.connection()).get_current_heads())
    except SQLAlchemyError:
        return MigrationState(head=head, current=None, pending=[])
    applied = _applied(script, current)
    pending = sorted(r.revision for r in script.walk_revisions() if r.revision not in applied)
    return MigrationState(head=head, current=current, pending=pending)
