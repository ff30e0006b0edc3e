"""The pages' clock: one dependency, so a test can move time for the pages the way it does for the services."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends

from vault.db import utcnow


def current_time() -> datetime:
    """Return the current time, timezone-aware UTC (tests override this dependency to move the clock)."""
    return utcnow()


NowDep = Annotated[datetime, Depends(current_time)]
