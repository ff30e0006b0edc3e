"""An officer's own uploads: flags with reasons, completing tags, and the review of flag-clearing changes."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
