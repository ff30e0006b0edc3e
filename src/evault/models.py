"""Import every package's models so metadata (and Alembic) sees the whole catalog."""

from __future__ import annotations

import vault.cases.models
import vault.custody.models
import vault.evidence.models
import vault.identities.models  # noqa: F401
from vault.db import Base

metadata = Base.metadata
