"""Who is acting: the authenticated user (or the vault itself) as services see it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from vault.identities.models import Role, User


@dataclass(frozen=True)
class Actor:
    """The subject of an authorization decision and of a custody event."""

    id: uuid.UUID | None
    name: str
    role: Role | None
    handler_id: uuid.UUID | None = None

    @classmethod
    def of(cls, user: User) -> Actor:
        """Return the actor for a signed-in user."""
        return cls(id=user.id, name=user.name, role=user.role, handler_id=user.handler_id)


SYSTEM = Actor(id=None, name="system", role=None)
