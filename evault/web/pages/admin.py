"""Administration: users, tokens, handler certificates, scheduled jobs, and the health of the catalog and store."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
