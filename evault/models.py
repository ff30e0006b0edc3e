"""Import every package's models so metadata (and Alembic) sees the whole catalog."""

from __future__ import annotations

import ingest.docks.models
import ingest.models  # noqa: F401
import retention.models  # noqa: F401
import vault.access.models
import vault.callups.models
import vault.cases.models
import vault.custody.models
import vault.custody.verification_models
import vault.custody.witness_models
import vault.evidence.models
import vault.exports.models
import vault.identities.models
import vault.redaction.models  # noqa: F401
from vault.db import Base

metadata = Base.metadata
